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
    IntoActiveModel, Iterable, QueryFilter, QueryTrait, TransactionTrait,
};

use sea_orm::sqlx;
use sea_query_sqlx::SqlxValues;

use super::SeaStore;
use super::cipher::Cipher;
use super::columns::{db_err, ms, sqlx_err};
use super::entities::{
    authorization as auth_e, evidence as ev_e, face_flow as flow_e, history as hist_e, inbox_event as inbox_e,
    org_flow as org_e, process as proc_e,
};
use crate::domain::model::{OrgFlow, OrgFlowStatus, Process};
use crate::domain::ports::{ChangeSet, StoreError};

impl SeaStore {
    pub(super) async fn commit_changes(&self, changes: ChangeSet) -> Result<(), StoreError> {
        let moved = changes.process.as_ref().is_some_and(|p| !p.moves().is_empty());
        if moved && changes.source.is_none() {
            return Err(StoreError::Unsourced);
        }
        match self.in_one_call(&changes)? {
            // Nothing is written unless the process row moved (every row is selected from it).
            Some(OneCall::Statement((sql, values))) => {
                // On sqlx directly, as the lease: SeaORM's statement future is copied whole.
                let run = sqlx::query_with(sqlx::AssertSqlSafe(sql), SqlxValues(values));
                let moved = run.fetch_all(self.db.get_postgres_connection_pool()).await.map_err(sqlx_err)?;
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
            } else if txn
                .query_all(&self.process_moved(p, changes.release_lease.as_deref())?)
                .await
                .map_err(db_err)?
                .len()
                != 1
            {
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
            DbBackend::Postgres => {
                let statement = match self.one_statement_text(p, changes)? {
                    Some(text) => text,
                    None => self.one_statement(p, changes)?,
                };
                Ok(Some(OneCall::Statement(statement)))
            }
            DbBackend::Sqlite => self.one_script(p, changes).map(|s| Some(OneCall::Script(s))),
            _ => Ok(None),
        }
    }

    /// The process's conditional update, answering the member when the row moved; freeing the
    /// member's lease if `release` holds it.
    fn process_moved(&self, p: &Process, release: Option<&str>) -> Result<UpdateStatement, StoreError> {
        Ok(moved_update(moved_row(p, &self.cipher)?, p, release))
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
        inserts.extend(self.org_flow_rows(&changes.org_flows, &source)?);
        for a in &changes.authorizations {
            let mut insert = selected_from(auth_e::ActiveModel::seal(a, &self.cipher)?, source())?;
            insert.on_conflict(OnConflict::column(auth_e::Column::AuthId).update_columns(auth_e::UPSERTED).to_owned());
            inserts.push(insert);
        }
        Ok(inserts)
    }

    /// The company flows' upserts of [`Self::flow_rows`], each with its condition.
    fn org_flow_rows(
        &self,
        org_flows: &[OrgFlow],
        source: &impl Fn() -> SelectStatement,
    ) -> Result<Vec<InsertStatement>, StoreError> {
        let mut inserts = Vec::new();
        for f in org_flows {
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
        Ok(inserts)
    }

    /// PostgreSQL: one statement. The process's update is a CTE answering the row it moved, and
    /// every other row is inserted by selecting from it.
    fn one_statement(&self, p: &Process, changes: &ChangeSet) -> Result<(String, Values), StoreError> {
        let moved = Alias::new("moved");
        let mut with = WithClause::new();
        let release = changes.release_lease.as_deref();
        with.cte(
            CommonTableExpression::new().query(self.process_moved(p, release)?).table_name(moved.clone()).to_owned(),
        );
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
        Ok(with.query(Query::select().expr(Expr::val(1)).from(moved).to_owned()).build(PostgresQueryBuilder))
    }

    /// [`Self::one_statement`] written as text (`sql_text`), the same SQL and values (a test holds
    /// them to it); `None` when a company flow is among the rows: its conditional upsert is built
    /// by sea-query, and so is the whole statement then.
    fn one_statement_text(&self, p: &Process, changes: &ChangeSet) -> Result<Option<(String, Values)>, StoreError> {
        use sea_orm::IdenStatic;
        use sql_text::{Marks, insert_from, mark, on_conflict_update, process_moved, quoted};
        if !changes.org_flows.is_empty() {
            return Ok(None);
        }
        let moved = "moved";
        let mut sql = String::with_capacity(8192);
        let mut values = Vec::new();
        sql.push_str("WITH ");
        quoted(&mut sql, moved);
        sql.push_str(" AS (");
        let release = changes.release_lease.as_deref();
        process_moved(&mut sql, &mut values, &moved_row(p, &self.cipher)?, p, release, Marks::Numbered);
        sql.push(')');
        // The CTEs of `one_statement`, in its order and with its names.
        let cte = |sql: &mut String, name: &str| {
            sql.push_str(" , ");
            quoted(sql, name);
            sql.push_str(" AS (");
        };
        if let Some(source) = &changes.source {
            let mut before = moved.to_owned();
            for (i, m) in p.moves().iter().enumerate() {
                let name = format!("h{i}");
                cte(&mut sql, &name);
                let row = hist_e::ActiveModel::recorded(p.member_no(), m, source);
                insert_from(&mut sql, &mut values, &row, Marks::Numbered, &before);
                sql.push_str(" RETURNING ");
                quoted(&mut sql, hist_e::Column::Id.as_str());
                sql.push(')');
                before = name;
            }
        }
        let mut w = 0;
        for f in &changes.face_flows {
            cte(&mut sql, &format!("w{w}"));
            insert_from(&mut sql, &mut values, &flow_e::ActiveModel::from(f), Marks::Numbered, moved);
            on_conflict_update(&mut sql, flow_e::Column::FlowId, &flow_e::UPSERTED);
            sql.push(')');
            w += 1;
        }
        for a in &changes.authorizations {
            cte(&mut sql, &format!("w{w}"));
            insert_from(&mut sql, &mut values, &auth_e::ActiveModel::seal(a, &self.cipher)?, Marks::Numbered, moved);
            on_conflict_update(&mut sql, auth_e::Column::AuthId, &auth_e::UPSERTED);
            sql.push(')');
            w += 1;
        }
        values.push(1i32.into());
        sql.push_str(" SELECT ");
        mark(&mut sql, Marks::Numbered, values.len());
        sql.push_str(" FROM ");
        quoted(&mut sql, moved);
        Ok(Some((sql, Values(values))))
    }

    /// SQLite (no data-modifying CTEs): one script, `BEGIN IMMEDIATE`, the rows each inserted by
    /// selecting the process at its expected version, the process's update last, `COMMIT`. The
    /// write lock taken first holds for the whole script, so every condition sees the same row.
    fn one_script(&self, p: &Process, changes: &ChangeSet) -> Result<(String, Values), StoreError> {
        let expected = || expected_process(p);
        let mut script = String::with_capacity(8192);
        script.push_str("BEGIN IMMEDIATE;\n");
        let mut values = Vec::new();
        if let Some(source) = &changes.source {
            for m in p.moves() {
                let row = hist_e::ActiveModel::recorded(p.member_no(), m, source);
                sql_text::insert_selected(&mut script, &mut values, &row, p);
                script.push_str(";\n");
            }
        }
        for f in &changes.face_flows {
            let row = flow_e::ActiveModel::from(f);
            sql_text::insert_selected(&mut script, &mut values, &row, p);
            sql_text::on_conflict_update(&mut script, flow_e::Column::FlowId, &flow_e::UPSERTED);
            script.push_str(";\n");
        }
        // A company flow's upsert has its condition: built by sea-query.
        for insert in self.org_flow_rows(&changes.org_flows, &expected)? {
            let (sql, Values(v)) = insert.build(SqliteQueryBuilder);
            script.push_str(&sql);
            script.push_str(";\n");
            values.extend(v);
        }
        for a in &changes.authorizations {
            let row = auth_e::ActiveModel::seal(a, &self.cipher)?;
            sql_text::insert_selected(&mut script, &mut values, &row, p);
            sql_text::on_conflict_update(&mut script, auth_e::Column::AuthId, &auth_e::UPSERTED);
            script.push_str(";\n");
        }
        let (row, release) = (moved_row(p, &self.cipher)?, changes.release_lease.as_deref());
        sql_text::process_moved(&mut script, &mut values, &row, p, release, sql_text::Marks::Question);
        script.push_str(";\nCOMMIT");
        Ok((script, Values(values)))
    }

    /// Runs [`Self::one_script`]'s script on the direct connection (`sqlite_direct`), or, for an
    /// in-memory database, on one pooled connection in one hand-off to its worker. There a script
    /// that failed part-way may have left its transaction open: it is rolled back before the
    /// connection goes back to the pool, or the connection is closed. The script runs in a task of
    /// its own, so that a caller that stops waiting (a timeout) cannot stop it half-way: sqlx's
    /// worker stops a script whose caller went away, and would leave the write lock held.
    async fn run_script(&self, (script, values): (String, Values)) -> Result<(), StoreError> {
        if let Some(direct) = &self.direct {
            // On the calling thread, to its end whatever the caller does (it cannot be stopped
            // half-way); a failed statement rolls the script back.
            let moved = direct.run(script, values.0).await?;
            return if moved.len() == 1 { Ok(()) } else { Err(StoreError::Conflict) };
        }
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

/// The process as read (`FROM processes WHERE` its member and version), for rows inserted by
/// selecting it.
fn expected_process(p: &Process) -> SelectStatement {
    Query::select()
        .from(proc_e::Entity)
        .and_where(proc_e::Column::MemberNo.eq(p.member_no().as_str()))
        .and_where(proc_e::Column::Version.eq(p.version()))
        .to_owned()
}

/// The process's row as its conditional update writes it: every column but the key, which the
/// update selects by. An update that names a key column rewrites its index entry even to the same
/// value: on SQLite one more page in the WAL for every commit.
fn moved_row(p: &Process, cipher: &Cipher) -> Result<proc_e::ActiveModel, StoreError> {
    let mut row = proc_e::ActiveModel::seal(p, p.version() + 1, cipher)?;
    row.member_no = ActiveValue::NotSet;
    Ok(row)
}

/// The process's conditional update of `row`, answering the member when the row moved.
fn moved_update(row: proc_e::ActiveModel, p: &Process, release: Option<&str>) -> UpdateStatement {
    let mut update = proc_e::Entity::update_many().set(row);
    if let Some(holder) = release {
        for c in [proc_e::Column::LeaseHolder, proc_e::Column::LeaseUntil] {
            let freed = Expr::case(proc_e::Column::LeaseHolder.eq(holder), Expr::cust("NULL")).finally(Expr::col(c));
            update = update.col_expr(c, freed.into());
        }
    }
    let mut update = update
        .filter(proc_e::Column::MemberNo.eq(p.member_no().as_str()))
        .filter(proc_e::Column::Version.eq(p.version()))
        .into_query();
    update.returning_col(proc_e::Column::MemberNo);
    update
}

/// The one-call commit's rows written as text — history inserts, face-flow and authorization
/// upserts, the process's update — for SQLite's script and PostgreSQL's statement: the same SQL
/// and values sea-query builds for them through [`selected_from`] and [`moved_update`] (tests hold
/// them to it), without building and dropping a statement tree of every column and value. That was
/// most of a start's commit (SQLite's script 187 K instructions, 215 µs with the caches cold after
/// the upstream calls; PostgreSQL's statement 288 K; README "Performance").
mod sql_text {
    use std::fmt::Write;

    use sea_orm::sea_query::Value;
    use sea_orm::{ActiveModelTrait, ActiveValue, EntityName, IdenStatic, Iterable};

    use super::proc_e;
    use crate::domain::model::Process;

    /// How a statement marks where a bound value goes: SQLite's `?`, PostgreSQL's `$n` (`n` the
    /// value's place among all the statement's values, from 1).
    #[derive(Clone, Copy)]
    pub(super) enum Marks {
        Question,
        Numbered,
    }

    /// `INSERT INTO "<table>" ("<set columns>") SELECT <marks> FROM "<from>"`.
    pub(super) fn insert_from<A: ActiveModelTrait>(
        script: &mut String,
        values: &mut Vec<Value>,
        row: &A,
        marks: Marks,
        from: &str,
    ) {
        script.push_str("INSERT INTO ");
        quoted(script, <A::Entity as Default>::default().table_name());
        script.push_str(" (");
        let first = values.len() + 1;
        // Set and unchanged columns, as `selected_from` takes them.
        let n = columns(script, values, row, None, |v| match v {
            ActiveValue::Set(v) | ActiveValue::Unchanged(v) => Some(v),
            ActiveValue::NotSet => None,
        });
        script.push_str(") SELECT ");
        for i in 0..n {
            script.push_str(if i == 0 { "" } else { ", " });
            mark(script, marks, first + i);
        }
        script.push_str(" FROM ");
        quoted(script, from);
    }

    /// SQLite's: [`insert_from`] `"processes" WHERE <expected>`.
    pub(super) fn insert_selected<A: ActiveModelTrait>(
        script: &mut String,
        values: &mut Vec<Value>,
        row: &A,
        p: &Process,
    ) {
        insert_from(script, values, row, Marks::Question, proc_e::Entity.table_name());
        expected(script, values, p, Marks::Question);
    }

    /// ` ON CONFLICT ("<key>") DO UPDATE SET "<column>" = "excluded"."<column>", …`.
    pub(super) fn on_conflict_update<C: IdenStatic>(script: &mut String, key: C, columns: &[C]) {
        script.push_str(" ON CONFLICT (");
        quoted(script, key.as_str());
        script.push_str(") DO UPDATE SET ");
        for (i, c) in columns.iter().enumerate() {
            script.push_str(if i == 0 { "" } else { ", " });
            quoted(script, c.as_str());
            script.push_str(" = \"excluded\".");
            quoted(script, c.as_str());
        }
    }

    /// `UPDATE "processes" SET "<column>" = <mark>, … WHERE <expected> RETURNING "member_no"`.
    pub(super) fn process_moved(
        script: &mut String,
        values: &mut Vec<Value>,
        row: &proc_e::ActiveModel,
        p: &Process,
        release: Option<&str>,
        marks: Marks,
    ) {
        script.push_str("UPDATE ");
        quoted(script, proc_e::Entity.table_name());
        script.push_str(" SET ");
        // Set columns only, as `UpdateMany::set` takes them.
        columns(script, values, row, Some(marks), |v| match v {
            ActiveValue::Set(v) => Some(v),
            _ => None,
        });
        if let Some(holder) = release {
            for c in [proc_e::Column::LeaseHolder, proc_e::Column::LeaseUntil] {
                script.push_str(", ");
                quoted(script, c.as_str());
                // Freed if `holder` holds it (both lease columns to NULL, as a release does),
                // anyone else's left alone.
                script.push_str(" = (CASE WHEN (");
                quoted(script, proc_e::Entity.table_name());
                script.push('.');
                quoted(script, proc_e::Column::LeaseHolder.as_str());
                script.push_str(" = ");
                values.push(holder.into());
                mark(script, marks, values.len());
                script.push_str(") THEN NULL ELSE ");
                quoted(script, c.as_str());
                script.push_str(" END)");
            }
        }
        expected(script, values, p, marks);
        script.push_str(" RETURNING ");
        quoted(script, proc_e::Column::MemberNo.as_str());
    }

    /// `"<column>", …` (or `"<column>" = <mark>, …` given `marks`) for each column of `row` that
    /// `written` takes a value of, the values pushed in the same order; answers how many.
    fn columns<A: ActiveModelTrait>(
        script: &mut String,
        values: &mut Vec<Value>,
        row: &A,
        marks: Option<Marks>,
        written: impl Fn(ActiveValue<Value>) -> Option<Value>,
    ) -> usize {
        let before = values.len();
        for c in <A::Entity as sea_orm::EntityTrait>::Column::iter() {
            if let Some(v) = written(row.get(c)) {
                if values.len() > before {
                    script.push_str(", ");
                }
                quoted(script, c.as_str());
                values.push(v);
                if let Some(marks) = marks {
                    script.push_str(" = ");
                    mark(script, marks, values.len());
                }
            }
        }
        values.len() - before
    }

    /// ` WHERE "processes"."member_no" = <mark> AND "processes"."version" = <mark>`: the process as
    /// read.
    fn expected(script: &mut String, values: &mut Vec<Value>, p: &Process, marks: Marks) {
        let table = proc_e::Entity.table_name();
        script.push_str(" WHERE ");
        quoted(script, table);
        script.push('.');
        quoted(script, proc_e::Column::MemberNo.as_str());
        values.push(p.member_no().as_str().into());
        script.push_str(" = ");
        mark(script, marks, values.len());
        script.push_str(" AND ");
        quoted(script, table);
        script.push('.');
        quoted(script, proc_e::Column::Version.as_str());
        values.push(p.version().into());
        script.push_str(" = ");
        mark(script, marks, values.len());
    }

    /// The mark of the `n`th value (from 1).
    pub(super) fn mark(script: &mut String, marks: Marks, n: usize) {
        match marks {
            Marks::Question => script.push('?'),
            // Writing to a String does not fail.
            Marks::Numbered => {
                let _ = write!(script, "${n}");
            }
        }
    }

    /// An identifier as sea-query's builders quote it (the schema's names hold no quotes).
    pub(super) fn quoted(script: &mut String, name: &str) {
        script.push('"');
        script.push_str(name);
        script.push('"');
    }
}

/// What [`SeaStore::in_one_call`] built for the backend.
enum OneCall {
    Statement((String, Values)),
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

#[cfg(test)]
mod tests {
    use sea_orm::sea_query::{Expr, OnConflict, Query, SqliteQueryBuilder, Values};

    use super::{auth_e, expected_process, flow_e, hist_e, moved_row, moved_update, selected_from, sql_text};
    use crate::domain::model::{FaceFlow, FaceFlowStatus, Handler, HandlerMethod, Process, ProcessStatus, Source};
    use crate::domain::values::{AccountId, FlowId, MemberNo, Mobile, PersonName, ResidentId, ValidPeriod};
    use crate::store::cipher::test_cipher;

    /// A start's commit: the process moved by a face flow started, the flow, and the source.
    fn started() -> (Process, FaceFlow, Source) {
        let now = chrono::DateTime::from_timestamp_millis(1_900_000_000_000).expect("a time");
        let mut p = Process::restore(MemberNo::parse("ETC000000011").expect("a member"), ProcessStatus::NotStarted, 3);
        let handler = Handler {
            name: PersonName::parse("name", "张三").expect("a name"),
            id_number: ResidentId::parse("id", "11010519491231002X").expect("an id"),
            mobile: Mobile::parse("m", "13800138000").expect("a mobile"),
            valid_period: ValidPeriod {
                start: chrono::NaiveDate::from_ymd_opt(2019, 1, 1).expect("a date"),
                end: None,
            },
        };
        p.handler_flow_started(handler, AccountId::parse("a", "acc-1").expect("an account"), now).expect("a move");
        let flow = FaceFlow {
            flow_id: FlowId::parse("flow", "flow-1").expect("a flow id"),
            method: HandlerMethod::Face,
            member_no: p.member_no().clone(),
            account_id: AccountId::parse("a", "acc-1").expect("an account"),
            auth_url: "https://h5.esign.example/face?x=1".into(),
            original_url: String::new(),
            created_at: now,
            expires_at: now,
            status: FaceFlowStatus::Running,
            fail_reason: None,
            finished_at: None,
            next_poll_at: now,
            poll_attempts: 0,
        };
        (p, flow, Source::Rpc { method: "StartFaceAuth".into(), caller: "E02".into() })
    }

    #[test]
    fn the_sqlite_scripts_text_is_the_sql_and_values_sea_query_builds() {
        let cipher = test_cipher();
        let (p, flow, source) = started();

        // The process's update, and the same freeing the start's lease.
        for release in [None, Some("r1/0123")] {
            let row = moved_row(&p, &cipher).expect("sealed");
            let (mut ours, mut values) = (String::new(), Vec::new());
            sql_text::process_moved(&mut ours, &mut values, &row, &p, release, sql_text::Marks::Question);
            let (theirs, Values(their_values)) = moved_update(row, &p, release).build(SqliteQueryBuilder);
            assert_eq!(ours, theirs);
            assert_eq!(values, their_values);
            // The key only selects the row: written, it would rewrite the key's index entry.
            assert!(ours.starts_with(r#"UPDATE "processes" SET "status" = ?, "version" = ?"#), "{ours}");
            assert_eq!(ours.matches(r#""member_no" = ?"#).count(), 1, "{ours}");
            let freed =
                r#""lease_until" = (CASE WHEN ("processes"."lease_holder" = ?) THEN NULL ELSE "lease_until" END)"#;
            assert_eq!(ours.contains(freed), release.is_some(), "{ours}");
        }

        assert!(!p.moves().is_empty());
        for m in p.moves() {
            let entry = hist_e::ActiveModel::recorded(p.member_no(), m, &source);
            let (mut ours, mut values) = (String::new(), Vec::new());
            sql_text::insert_selected(&mut ours, &mut values, &entry, &p);
            let insert = selected_from(entry, expected_process(&p)).expect("an insert");
            let (theirs, Values(their_values)) = insert.build(SqliteQueryBuilder);
            assert_eq!(ours, theirs);
            assert_eq!(values, their_values);
        }

        // A face flow's upsert: the same text as `flow_rows` builds for it.
        let (mut ours, mut values) = (String::new(), Vec::new());
        let row = flow_e::ActiveModel::from(&flow);
        sql_text::insert_selected(&mut ours, &mut values, &row, &p);
        sql_text::on_conflict_update(&mut ours, flow_e::Column::FlowId, &flow_e::UPSERTED);
        let mut insert = selected_from(row, expected_process(&p)).expect("an insert");
        insert.on_conflict(OnConflict::column(flow_e::Column::FlowId).update_columns(flow_e::UPSERTED).to_owned());
        let (theirs, Values(their_values)) = insert.build(SqliteQueryBuilder);
        assert_eq!(ours, theirs);
        assert_eq!(values, their_values);

        // An authorization's: its key and upserted columns, the same clause.
        let (mut ours, mut theirs) = (String::new(), Query::insert());
        sql_text::on_conflict_update(&mut ours, auth_e::Column::AuthId, &auth_e::UPSERTED);
        theirs
            .into_table(auth_e::Entity)
            .columns([auth_e::Column::AuthId])
            .values_panic([Expr::val("x")])
            .on_conflict(OnConflict::column(auth_e::Column::AuthId).update_columns(auth_e::UPSERTED).to_owned());
        let (theirs, _) = theirs.build(SqliteQueryBuilder);
        assert!(theirs.ends_with(&ours), "{theirs} ends with {ours}");
    }

    #[tokio::test]
    async fn the_postgresql_statements_text_is_the_sql_and_values_sea_query_builds() {
        use crate::domain::model::AuthorizationStatus;

        // The store only builds statements here: a SQLite file stands in for its connection.
        let dir = tempfile::tempdir().expect("a temp dir");
        let url = format!("sqlite://{}", dir.path().join("store.db").display());
        let store = crate::store::SeaStore::connect(&url, 1, test_cipher()).await.expect("a store");
        let (mut p, flow, source) = started();
        let at = flow.created_at;
        // A second move, so that the history entries chain one after another.
        p.handler_failed(Some("test".into()), at).expect("a second move");
        let authorization = crate::store::tests::authorization("auth-1", AuthorizationStatus::InProgress, None, at);
        let changes = crate::domain::ports::ChangeSet {
            process: Some(p.clone()),
            face_flows: vec![flow.clone(), flow],
            authorizations: vec![authorization],
            source: Some(source),
            release_lease: Some("r1/0123".into()),
            ..Default::default()
        };
        let (ours, Values(values)) = store.one_statement_text(&p, &changes).expect("written").expect("no company flow");
        let (theirs, Values(their_values)) = store.one_statement(&p, &changes).expect("built");
        assert_eq!(ours, theirs);
        // Sealed values take a fresh nonce each time they are sealed: compared by place only.
        let unsealed = |values: Vec<sea_orm::sea_query::Value>| -> Vec<sea_orm::sea_query::Value> {
            use sea_orm::sea_query::Value;
            let sealed = |v: &Value| matches!(v, Value::String(Some(s)) if s.starts_with("v1:"));
            values.into_iter().map(|v| if sealed(&v) { Value::String(Some("sealed".into())) } else { v }).collect()
        };
        assert!(values.iter().any(|v| matches!(v, sea_orm::sea_query::Value::String(Some(s)) if s.starts_with("v1:"))));
        assert_eq!(unsealed(values), unsealed(their_values));
    }
}
