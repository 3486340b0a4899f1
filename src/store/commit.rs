//! One change set in one transaction: the process (optimistically, by version) with a history row
//! for each of its moves, the evidence records, the flows, the authorizations and the inbox events
//! it applies. A move without a source is refused, so no transition exists without its entry.
use chrono::Utc;
use sea_orm::sea_query::{
    Alias, CommonTableExpression, Expr, ExprTrait, InsertStatement, OnConflict, PostgresQueryBuilder, Query,
    SelectStatement, SqliteQueryBuilder, UpdateStatement, Values, WithClause,
};
use sea_orm::{
    ActiveModelTrait, ActiveValue, ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, EntityTrait,
    IntoActiveModel, Iterable, QueryFilter, QueryTrait, Statement, TransactionTrait,
};

use sea_orm::sqlx;
use sea_query_sqlx::SqlxValues;

use super::SeaStore;
use super::columns::{db_err, ms, sqlx_err};
use super::entities::{
    authorization as auth_e, evidence as ev_e, face_flow as flow_e, history as hist_e, inbox_event as inbox_e,
    org_flow as org_e, process as proc_e,
};
use crate::domain::model::{OrgFlowStatus, Process};
use crate::domain::ports::{ChangeSet, StoreError};

impl SeaStore {
    pub(super) async fn commit_changes(&self, changes: ChangeSet) -> Result<(), StoreError> {
        let moved = changes.process.as_ref().is_some_and(|p| !p.moves().is_empty());
        if moved && changes.source.is_none() {
            return Err(StoreError::Unsourced);
        }
        match self.in_one_call(&changes)? {
            // Nothing is written unless the process row moved (every row is selected from it).
            Some(OneCall::Statement(stmt)) => {
                let moved = self.db.query_all_raw(stmt).await.map_err(db_err)?;
                return if moved.len() == 1 { Ok(()) } else { Err(StoreError::Conflict) };
            }
            Some(OneCall::Script(script)) => return self.run_script(script).await,
            None => {}
        }
        let txn = self.db.begin().await.map_err(db_err)?;
        if let Some(p) = &changes.process {
            let expected = p.version();
            if expected == 0 {
                if !insert_new(proc_e::ActiveModel::seal(p, 1, &self.cipher)?, &txn).await? {
                    return Err(StoreError::Conflict);
                }
            } else if txn.query_all(&self.process_moved(p)?).await.map_err(db_err)?.len() != 1 {
                return Err(StoreError::Conflict);
            }
            if let Some(source) = &changes.source
                && !p.moves().is_empty()
            {
                let rows = p.moves().iter().map(|m| hist_e::ActiveModel::recorded(p.member_no(), m, source));
                hist_e::Entity::insert_many(rows).exec_without_returning(&txn).await.map_err(db_err)?;
            }
        }
        for e in &changes.evidence {
            // One record per place in a member's chain: a writer that chained to a stale end loses.
            if !insert_new(ev_e::ActiveModel::from(e), &txn).await? {
                return Err(StoreError::Conflict);
            }
        }
        // The same upserts as the one-call commit, each row selected unconditionally here: the
        // transaction already stands or falls with the process's update above.
        let unconditional = || Query::select().and_where(Expr::val(true)).to_owned();
        for upsert in self.flow_rows(&changes, unconditional)? {
            txn.execute(&upsert).await.map_err(db_err)?;
        }
        if !changes.inbox_applied.is_empty() {
            inbox_e::Entity::update_many()
                .col_expr(inbox_e::Column::AppliedAt, Expr::value(ms(Utc::now())))
                .filter(inbox_e::Column::Id.is_in(changes.inbox_applied.clone()))
                .filter(inbox_e::Column::AppliedAt.is_null())
                .exec(&txn)
                .await
                .map_err(db_err)?;
        }
        txn.commit().await.map_err(db_err)
    }
}

impl SeaStore {
    /// What a start or a flow's end commits — the process moved by version, its history entries,
    /// flows and authorizations — in one call to the database instead of BEGIN, a statement per
    /// row and COMMIT, each a round trip on PostgreSQL and a hand-off to its worker thread on SQLite
    /// (README "Performance"). Every row is inserted by selecting from the process as expected, so
    /// when the version moved on meanwhile nothing at all is written. Same models and upsert
    /// columns as the transaction. `None` (the transaction then): a new process; evidence (a taken
    /// place in the chain must undo the whole commit, which a statement that already wrote cannot);
    /// inbox marks.
    fn in_one_call(&self, changes: &ChangeSet) -> Result<Option<OneCall>, StoreError> {
        let Some(p) = &changes.process else { return Ok(None) };
        if p.version() == 0 || !changes.evidence.is_empty() || !changes.inbox_applied.is_empty() {
            return Ok(None);
        }
        match self.db.get_database_backend() {
            DbBackend::Postgres => self.one_statement(p, changes).map(|s| Some(OneCall::Statement(s))),
            DbBackend::Sqlite => self.one_script(p, changes).map(|s| Some(OneCall::Script(s))),
            _ => Ok(None),
        }
    }

    /// The process's conditional update, answering the member when the row moved.
    fn process_moved(&self, p: &Process) -> Result<UpdateStatement, StoreError> {
        let expected = p.version();
        let mut update = proc_e::Entity::update_many()
            .set(proc_e::ActiveModel::seal(p, expected + 1, &self.cipher)?)
            .filter(proc_e::Column::MemberNo.eq(p.member_no().as_str()))
            .filter(proc_e::Column::Version.eq(expected))
            .into_query();
        update.returning_col(proc_e::Column::MemberNo);
        Ok(update)
    }

    /// The flows and authorizations of `changes`, each an upsert of one row selected by `source`:
    /// a new flow is inserted; a known company flow is rewritten only while it still runs or by a
    /// copy with its own final status, so a stale copy (a poll racing a callback) never undoes its
    /// end.
    fn flow_rows(
        &self,
        changes: &ChangeSet,
        source: impl Fn() -> SelectStatement,
    ) -> Result<Vec<InsertStatement>, StoreError> {
        let mut inserts = Vec::new();
        for f in &changes.face_flows {
            let mut insert = selected_from(flow_e::ActiveModel::from(f), source())?;
            insert.on_conflict(OnConflict::column(flow_e::Column::FlowId).update_columns(flow_e::UPSERTED).to_owned());
            inserts.push(insert);
        }
        for f in &changes.org_flows {
            let row = org_e::ActiveModel::seal(f, &self.cipher)?;
            let columns: Vec<_> = org_e::Column::iter().filter(|c| row.get(*c).is_set()).collect();
            let status = Expr::col((org_e::Entity, org_e::Column::Status));
            let stored_may_change = ExprTrait::eq(status.clone(), org_e::status_name(OrgFlowStatus::Running))
                .or(ExprTrait::eq(status, org_e::status_name(f.status)));
            let mut insert = selected_from(row, source())?;
            insert.on_conflict(
                OnConflict::column(org_e::Column::FlowId)
                    .update_columns(columns)
                    .action_and_where(stored_may_change)
                    .to_owned(),
            );
            inserts.push(insert);
        }
        for a in &changes.authorizations {
            let mut insert = selected_from(auth_e::ActiveModel::seal(a, &self.cipher)?, source())?;
            insert.on_conflict(OnConflict::column(auth_e::Column::AuthId).update_columns(auth_e::UPSERTED).to_owned());
            inserts.push(insert);
        }
        Ok(inserts)
    }

    /// PostgreSQL: one statement. The process's update is a CTE answering the row it moved, and
    /// every other row is inserted by selecting from it.
    fn one_statement(&self, p: &Process, changes: &ChangeSet) -> Result<Statement, StoreError> {
        let moved = Alias::new("moved");
        let mut with = WithClause::new();
        with.cte(CommonTableExpression::new().query(self.process_moved(p)?).table_name(moved.clone()).to_owned());
        if let Some(source) = &changes.source {
            // Each entry is selected from the one before, so the entries take their ids (their
            // order) in the order of the moves: PostgreSQL runs independent CTEs in no set order.
            let mut before = moved.clone();
            for (i, m) in p.moves().iter().enumerate() {
                let row = hist_e::ActiveModel::recorded(p.member_no(), m, source);
                let mut insert = selected_from(row, Query::select().from(before.clone()).to_owned())?;
                insert.returning_col(hist_e::Column::Id);
                before = Alias::new(format!("h{i}"));
                with.cte(CommonTableExpression::new().query(insert).table_name(before.clone()).to_owned());
            }
        }
        let inserts = self.flow_rows(changes, || Query::select().from(moved.clone()).to_owned())?;
        for (i, insert) in inserts.into_iter().enumerate() {
            with.cte(CommonTableExpression::new().query(insert).table_name(Alias::new(format!("w{i}"))).to_owned());
        }
        let (sql, values) =
            with.query(Query::select().expr(Expr::val(1)).from(moved).to_owned()).build(PostgresQueryBuilder);
        Ok(Statement::from_sql_and_values(DbBackend::Postgres, sql, values))
    }

    /// SQLite (no data-modifying CTEs): one script, `BEGIN IMMEDIATE`, the rows each inserted by
    /// selecting the process at its expected version, the process's update last, `COMMIT`. The
    /// write lock taken first holds for the whole script, so every condition sees the same row.
    fn one_script(&self, p: &Process, changes: &ChangeSet) -> Result<(String, Values), StoreError> {
        let expected = || {
            Query::select()
                .from(proc_e::Entity)
                .and_where(proc_e::Column::MemberNo.eq(p.member_no().as_str()))
                .and_where(proc_e::Column::Version.eq(p.version()))
                .to_owned()
        };
        let mut inserts = Vec::new();
        if let Some(source) = &changes.source {
            for m in p.moves() {
                inserts.push(selected_from(hist_e::ActiveModel::recorded(p.member_no(), m, source), expected())?);
            }
        }
        inserts.extend(self.flow_rows(changes, expected)?);
        let mut script = String::from("BEGIN IMMEDIATE;\n");
        let mut values = Vec::new();
        let mut add = |(sql, Values(v)): (String, Values)| {
            script.push_str(&sql);
            script.push_str(";\n");
            values.extend(v);
        };
        for insert in &inserts {
            add(insert.build(SqliteQueryBuilder));
        }
        add(self.process_moved(p)?.build(SqliteQueryBuilder));
        script.push_str("COMMIT");
        Ok((script, Values(values)))
    }

    /// Runs [`Self::one_script`]'s script on one pooled connection in one hand-off to its worker.
    /// A script that failed part-way may have left its transaction open: it is rolled back before
    /// the connection goes back to the pool, or the connection is closed. The script runs in a task
    /// of its own, so that a caller that stops waiting (a timeout) cannot stop it half-way: sqlx's
    /// worker stops a script whose caller went away, and would leave the write lock held.
    async fn run_script(&self, (script, values): (String, Values)) -> Result<(), StoreError> {
        let pool = self.db.get_sqlite_connection_pool().clone();
        let run = tokio::spawn(async move {
            let mut conn = pool.acquire().await.map_err(sqlx_err)?;
            let run = sqlx::query_with(sqlx::AssertSqlSafe(script), SqlxValues(values)).fetch_all(&mut *conn).await;
            match run {
                Ok(moved) if moved.len() == 1 => Ok(()),
                Ok(_) => Err(StoreError::Conflict),
                Err(e) => {
                    if sqlx::query("ROLLBACK").execute(&mut *conn).await.is_err() {
                        conn.close_on_drop();
                    }
                    Err(sqlx_err(e))
                }
            }
        });
        run.await.map_err(|e| StoreError::Database(format!("the commit's task failed: {e}")))?
    }
}

/// What [`SeaStore::in_one_call`] built for the backend.
enum OneCall {
    Statement(Statement),
    Script((String, Values)),
}

/// `INSERT INTO <row's table> (<its set columns>) SELECT <their values> FROM … WHERE …`, the
/// `FROM` and `WHERE` those of `source` (a `SELECT` without expressions): the row, once for each
/// row `source` answers.
pub(super) fn selected_from<A: ActiveModelTrait>(
    row: A,
    mut source: SelectStatement,
) -> Result<InsertStatement, StoreError> {
    let (mut columns, mut values) = (Vec::new(), Vec::new());
    for c in <A::Entity as EntityTrait>::Column::iter() {
        if let ActiveValue::Set(v) | ActiveValue::Unchanged(v) = row.get(c) {
            columns.push(c);
            values.push(Expr::val(v));
        }
    }
    let mut insert = Query::insert();
    insert.into_table(A::Entity::default()).columns(columns);
    insert.select_from(source.exprs(values).to_owned()).map_err(|e| StoreError::Database(e.to_string()))?;
    Ok(insert)
}

/// Inserts `row` unless its key is taken (then nothing is written): whether it was inserted.
async fn insert_new<A>(row: A, txn: &DatabaseTransaction) -> Result<bool, StoreError>
where
    A: ActiveModelTrait + Send,
    <A::Entity as EntityTrait>::Model: IntoActiveModel<A>,
{
    let res = <A::Entity as EntityTrait>::insert(row)
        .on_conflict_do_nothing()
        .exec_without_returning(txn)
        .await
        .map_err(db_err)?;
    Ok(matches!(res, sea_orm::TryInsertResult::Inserted(1)))
}
