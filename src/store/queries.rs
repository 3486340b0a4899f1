//! The `Store` port on SeaORM: queries (a change set's transaction is in `commit`). Rows become
//! records through their entity's conversions, leases go through `lease`, and the backlog counts
//! what the claims would take.
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, Func, Query, UnionType};
use sea_orm::sqlx;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, FromQueryResult, QueryFilter, QueryOrder, QuerySelect,
    QueryTrait, Set,
};
use sea_query_sqlx::SqlxValues;

use super::SeaStore;
use super::columns::{db_err, ms, opt_ms, sqlx_err};
use super::entities::{
    authorization as auth_e, evidence as ev_e, face_flow as flow_e, history as hist_e, inbox_event as inbox_e,
    org_flow as org_e, process as proc_e,
};
use super::{lease, member_lease};
use crate::domain::model::{
    Authorization, CertNo, Evidence, FaceFlow, HistoryEntry, InboxEvent, OrgFlow, Process, StoredEvent,
};
use crate::domain::model::{ProcessStatus, SealRecord, SealReview, SealReviewStatus, Source};
use crate::domain::ports::{ChangeSet, InboxInsert, Lease, Store, StoreError};
use crate::domain::values::{AuthId, FlowId, MemberNo};

/// A member's process and its evidence records, oldest first.
type ProcessWithEvidence = (Process, Vec<Evidence>);

/// The process row and the member's records, read in one transaction on one of SQLite's reader
/// connections: the process's columns and the records' each in their entity's order. A detail's
/// read that misses the read cache — every member's first after a start, and on SQLite every
/// member's after any write, which empties the cache — went through sqlx's worker thread and
/// SeaORM's mapping of the joined rows by name; on the calling thread it costs what SQLite does
/// (README "Performance").
static DETAIL_SCRIPT: std::sync::LazyLock<(String, usize, usize)> = std::sync::LazyLock::new(|| {
    use sea_orm::{EntityName, IdenStatic, Iterable};
    let list = |names: &[&str]| names.iter().map(|n| format!("\"{n}\"")).collect::<Vec<_>>().join(", ");
    let process: Vec<&str> = proc_e::Column::iter().map(|c| c.as_str()).collect();
    let evidence: Vec<&str> = ev_e::Column::iter().map(|c| c.as_str()).collect();
    let script = format!(
        "BEGIN; SELECT {} FROM \"{}\" WHERE \"member_no\" = ?; SELECT {} FROM \"{}\" WHERE \"member_no\" = ? ORDER BY \"position\"; COMMIT",
        list(&process),
        proc_e::Entity.table_name(),
        list(&evidence),
        ev_e::Entity.table_name(),
    );
    (script, process.len(), evidence.len())
});

/// The detail's read through the pool, as one statement: the process row LEFT JOINed with the
/// member's records, one row per record (the process's columns on the first row alone when it has
/// none), for `?` (SQLite) and `$1` (PostgreSQL). The process's columns keep their names and only
/// the records' are aliased (`B_`): SeaORM reads a prefixed column by a name it formats at every
/// read, so `find_also_related`, which prefixes both, formatted 118 names a read and decoded the
/// process once per record; the statement it built anew each time is written once here.
static POOL_DETAIL: std::sync::LazyLock<[String; 2]> = std::sync::LazyLock::new(|| {
    use sea_orm::{EntityName, IdenStatic, Iterable};
    let (processes, evidence) = (proc_e::Entity.table_name(), ev_e::Entity.table_name());
    let mut columns: Vec<String> =
        proc_e::Column::iter().map(|c| format!("\"{processes}\".\"{}\"", c.as_str())).collect();
    columns.extend(ev_e::Column::iter().map(|c| format!("\"{evidence}\".\"{0}\" AS \"{POOL_RECORD}{0}\"", c.as_str())));
    let sql = |mark: &str| {
        format!(
            "SELECT {} FROM \"{processes}\" LEFT JOIN \"{evidence}\" ON \"{processes}\".\"member_no\" = \"{evidence}\".\"member_no\" \
             WHERE \"{processes}\".\"member_no\" = {mark}",
            columns.join(", ")
        )
    };
    [sql("?"), sql("$1")]
});

/// The prefix of the records' columns in [`POOL_DETAIL`].
const POOL_RECORD: &str = "B_";

/// The row of a primary-key lookup. Lookups use `all()`, not `one()`: `one()` adds `LIMIT ?` with a
/// bound value, and SQLite (built with STAT4) expires a statement whose LIMIT is a bound parameter on
/// every rebind, so each call re-parsed its SQL: 44% of the instructions of GetProcessDetail
/// (callgrind). A key matches at most one row, so no LIMIT is needed.
fn first<M>(rows: Result<Vec<M>, DbErr>) -> Result<Option<M>, StoreError> {
    Ok(rows.map_err(db_err)?.into_iter().next())
}

/// The rows of `select`, at most `limit` after skipping `offset`, with both written into the SQL
/// text instead of bound (see [`first`]): the reconciler's claims, the history's pages, the newest
/// flow of a member. A bound LIMIT cost every call of such a statement a re-parse (about 380,000
/// instructions for a claim of due flows, callgrind). The numbers are the service's own (a
/// claim's batch, a page size already bounded, an offset), never text from a caller.
pub(super) async fn limited<E: EntityTrait>(
    db: &impl ConnectionTrait,
    select: sea_orm::Select<E>,
    limit: u64,
    offset: u64,
) -> Result<Vec<E::Model>, DbErr> {
    let mut stmt = db.get_database_backend().build(&select.into_query());
    stmt.sql.push_str(&format!(" LIMIT {limit}"));
    if offset > 0 {
        stmt.sql.push_str(&format!(" OFFSET {offset}"));
    }
    E::find().from_raw_sql(stmt).all(db).await
}

/// The first row of `select` (LIMIT 1, written into the text).
async fn first_of<E: EntityTrait>(
    db: &impl ConnectionTrait,
    select: sea_orm::Select<E>,
) -> Result<Option<E::Model>, StoreError> {
    first(limited(db, select, 1, 0).await)
}

#[async_trait]
impl Store for SeaStore {
    async fn ping(&self) -> Result<(), StoreError> {
        self.db.ping().await.map_err(db_err)
    }

    async fn process(&self, member: &MemberNo) -> Result<Option<Process>, StoreError> {
        first(proc_e::Entity::find_by_id(member.as_str().to_owned()).all(&self.db).await)?
            .map(|m| m.open(&self.cipher))
            .transpose()
    }

    async fn face_flow(&self, flow_id: &FlowId) -> Result<Option<FaceFlow>, StoreError> {
        first(flow_e::Entity::find_by_id(flow_id.as_str().to_owned()).all(&self.db).await)?
            .map(FaceFlow::try_from)
            .transpose()
    }

    async fn latest_face_flow(&self, member: &MemberNo) -> Result<Option<FaceFlow>, StoreError> {
        first_of(
            &self.db,
            flow_e::Entity::find()
                .filter(flow_e::Column::MemberNo.eq(member.as_str()))
                .order_by_desc(flow_e::Column::CreatedAt)
                .order_by_desc(flow_e::Column::FlowId),
        )
        .await?
        .map(FaceFlow::try_from)
        .transpose()
    }

    async fn org_flow(&self, flow_id: &FlowId) -> Result<Option<OrgFlow>, StoreError> {
        first(org_e::Entity::find_by_id(flow_id.as_str().to_owned()).all(&self.db).await)?
            .map(|m| m.open(&self.cipher))
            .transpose()
    }

    async fn latest_org_flow(&self, member: &MemberNo) -> Result<Option<OrgFlow>, StoreError> {
        first_of(
            &self.db,
            org_e::Entity::find()
                .filter(org_e::Column::MemberNo.eq(member.as_str()))
                .order_by_desc(org_e::Column::CreatedAt)
                .order_by_desc(org_e::Column::FlowId),
        )
        .await?
        .map(|m| m.open(&self.cipher))
        .transpose()
    }

    async fn authorization(&self, auth_id: &AuthId) -> Result<Option<Authorization>, StoreError> {
        first(auth_e::Entity::find_by_id(auth_id.as_str().to_owned()).all(&self.db).await)?
            .map(|m| m.open(&self.cipher))
            .transpose()
    }

    async fn latest_authorization(&self, member: &MemberNo) -> Result<Option<Authorization>, StoreError> {
        first_of(
            &self.db,
            auth_e::Entity::find()
                .filter(auth_e::Column::MemberNo.eq(member.as_str()))
                .order_by_desc(auth_e::Column::CreatedAt)
                .order_by_desc(auth_e::Column::AuthId),
        )
        .await?
        .map(|m| m.open(&self.cipher))
        .transpose()
    }

    async fn authorization_by_request(
        &self,
        member: &MemberNo,
        request_id: &str,
    ) -> Result<Option<Authorization>, StoreError> {
        // (member, request id) is unique: no LIMIT (see `first`).
        first(
            auth_e::Entity::find()
                .filter(auth_e::Column::MemberNo.eq(member.as_str()))
                .filter(auth_e::Column::RequestId.eq(request_id))
                .all(&self.db)
                .await,
        )?
        .map(|m| m.open(&self.cipher))
        .transpose()
    }

    async fn process_with_evidence(&self, member: &MemberNo) -> Result<Option<(Process, Vec<Evidence>)>, StoreError> {
        if let Some(read) = self.process_with_evidence_here(member) {
            return read;
        }
        let backend = self.db.get_database_backend();
        let sql = &POOL_DETAIL[usize::from(backend == DbBackend::Postgres)];
        let statement = sea_orm::Statement::from_sql_and_values(backend, sql.clone(), [member.as_str().into()]);
        let rows = self.db.query_all_raw(statement).await.map_err(db_err)?;
        let Some(first) = rows.first() else { return Ok(None) };
        let process = proc_e::Model::from_query_result(first, "").map_err(db_err)?;
        let records = rows
            .iter()
            .map(|row| ev_e::Model::from_query_result_optional(row, POOL_RECORD))
            .filter_map(Result::transpose)
            .collect::<Result<Vec<_>, _>>()
            .map_err(db_err)?;
        self.detail_read(process, records).map(Some)
    }

    async fn evidence(&self, cert_no: &CertNo) -> Result<Option<Evidence>, StoreError> {
        first(ev_e::Entity::find_by_id(cert_no.to_string()).all(&self.db).await)?.map(Evidence::try_from).transpose()
    }

    async fn member_evidence(&self, member: &MemberNo) -> Result<Vec<Evidence>, StoreError> {
        let rows = ev_e::Entity::find()
            .filter(ev_e::Column::MemberNo.eq(member.as_str()))
            .order_by_asc(ev_e::Column::Position)
            .all(&self.db)
            .await
            .map_err(db_err)?;
        // A row altered past reading (e.g. its kind) is left out: the record after it then fails
        // its chain, and GetEvidence of it answers what it can.
        Ok(rows.into_iter().filter_map(|m| Evidence::try_from(m).ok()).collect())
    }

    async fn history(
        &self,
        member: &MemberNo,
        after: Option<i64>,
        limit: u64,
    ) -> Result<Vec<HistoryEntry>, StoreError> {
        let page = hist_e::Entity::find()
            .filter(hist_e::Column::MemberNo.eq(member.as_str()))
            .filter(hist_e::Column::Id.gt(after.unwrap_or(0)))
            .order_by_asc(hist_e::Column::Id);
        limited(&self.db, page, limit, 0).await.map_err(db_err)?.into_iter().map(HistoryEntry::try_from).collect()
    }

    async fn commit(&self, changes: ChangeSet) -> Result<(), StoreError> {
        self.commit_changes(changes).await
    }

    async fn lease_member(
        &self,
        member: &MemberNo,
        lease: &Lease,
        now: DateTime<Utc>,
    ) -> Result<Option<Process>, StoreError> {
        // One statement, one write: a member never seen gets its row with the lease taken; an
        // existing row's lease is taken only if free (the upsert's WHERE sees the stored row, and
        // is atomic on both databases: one contender wins). An insert, then a conditional update,
        // cost two writes — two WAL flushes on PostgreSQL — on every start. RETURNING answers the
        // row as it stands with the lease taken (none when the lease was not free), so the start
        // reads it no more.
        let mut fresh = proc_e::ActiveModel::seal(&Process::not_started(member.clone()), 1, &self.cipher)?;
        fresh.lease_holder = Set(Some(lease.holder.clone()));
        fresh.lease_until = Set(Some(ms(lease.until)));
        // On sqlx directly: SeaORM's statement future is large and copied whole at each step
        // (about 30,000 instructions of `memcpy` a statement).
        let backend = self.db.get_database_backend();
        let (sql, values) = member_lease::statement(backend, &fresh, now)?;
        if let Some(direct) = &self.direct {
            let rows = direct.run(sql, values.0).await?;
            return rows
                .first()
                .map(proc_e::Model::from_returned)
                .transpose()?
                .map(|m| m.open(&self.cipher))
                .transpose();
        }
        let (sql, values) = (sqlx::AssertSqlSafe(sql), SqlxValues(values));
        let row = if backend == DbBackend::Postgres {
            let pool = self.db.get_postgres_connection_pool();
            let row = sqlx::query_with(sql, values).fetch_optional(pool).await.map_err(sqlx_err)?;
            row.map(|r| proc_e::Model::by_position(&r)).transpose()?
        } else {
            let pool = self.db.get_sqlite_connection_pool();
            let row = sqlx::query_with(sql, values).fetch_optional(pool).await.map_err(sqlx_err)?;
            row.map(|r| proc_e::Model::by_position(&r)).transpose()?
        };
        row.map(|m| m.open(&self.cipher)).transpose()
    }

    async fn release_member(&self, member: &MemberNo, holder: &str) -> Result<(), StoreError> {
        lease::release::<proc_e::Entity>(&self.db, member.as_str(), holder).await
    }

    async fn member_lease_until(&self, member: &MemberNo) -> Result<Option<DateTime<Utc>>, StoreError> {
        let until: Option<Option<i64>> = first(
            proc_e::Entity::find_by_id(member.as_str().to_owned())
                .select_only()
                .column(proc_e::Column::LeaseUntil)
                .into_tuple()
                .all(&self.db)
                .await,
        )?;
        opt_ms(until.flatten())
    }

    async fn release_leases_held_by(&self, prefix: &str, keep: &str) -> Result<u64, StoreError> {
        Ok(lease::release_held_by::<proc_e::Entity>(&self.db, prefix, keep).await?
            + lease::release_held_by::<flow_e::Entity>(&self.db, prefix, keep).await?
            + lease::release_held_by::<auth_e::Entity>(&self.db, prefix, keep).await?)
    }

    async fn insert_inbox(
        &self,
        event: &InboxEvent,
        action: &str,
        received_at: DateTime<Utc>,
    ) -> Result<InboxInsert, StoreError> {
        let res = inbox_e::Entity::insert(inbox_e::ActiveModel::received(event, action, received_at))
            .on_conflict_do_nothing_on([inbox_e::Column::EventKey])
            .exec_without_returning(&self.db)
            .await
            .map_err(db_err)?;
        // The event key is unique: no LIMIT (see `first`).
        let row = first(
            inbox_e::Entity::find().filter(inbox_e::Column::EventKey.eq(inbox_e::event_key(event))).all(&self.db).await,
        )?
        .ok_or_else(|| StoreError::Database("inbox row vanished".into()))?;
        Ok(match res {
            sea_orm::TryInsertResult::Inserted(n) if n > 0 => InboxInsert::New(row.id),
            _ => InboxInsert::Duplicate { id: row.id, applied: row.applied_at.is_some() },
        })
    }

    async fn pending_inbox(&self, received_before: DateTime<Utc>, limit: u64) -> Result<Vec<StoredEvent>, StoreError> {
        let pending = inbox_e::Entity::find()
            .filter(inbox_e::Column::AppliedAt.is_null())
            .filter(inbox_e::Column::ReceivedAt.lt(ms(received_before)))
            .order_by_asc(inbox_e::Column::Id);
        limited(&self.db, pending, limit, 0).await.map_err(db_err)?.into_iter().map(StoredEvent::try_from).collect()
    }

    async fn claim_due_face_flows(
        &self,
        now: DateTime<Utc>,
        lease: &Lease,
        limit: u64,
    ) -> Result<Vec<FaceFlow>, StoreError> {
        lease::claim_due::<flow_e::Entity>(&self.db, now, lease, limit)
            .await?
            .into_iter()
            .map(FaceFlow::try_from)
            .collect()
    }

    async fn claim_due_org_flows(
        &self,
        now: DateTime<Utc>,
        lease: &Lease,
        limit: u64,
    ) -> Result<Vec<OrgFlow>, StoreError> {
        lease::claim_due::<org_e::Entity>(&self.db, now, lease, limit)
            .await?
            .into_iter()
            .map(|m| m.open(&self.cipher))
            .collect()
    }

    async fn reschedule_org_flow(
        &self,
        flow_id: &FlowId,
        next_poll_at: DateTime<Utc>,
        attempts: i32,
    ) -> Result<(), StoreError> {
        lease::reschedule::<org_e::Entity>(&self.db, flow_id.as_str(), next_poll_at, attempts).await
    }

    async fn claim_due_authorizations(
        &self,
        now: DateTime<Utc>,
        lease: &Lease,
        limit: u64,
    ) -> Result<Vec<Authorization>, StoreError> {
        lease::claim_due::<auth_e::Entity>(&self.db, now, lease, limit)
            .await?
            .into_iter()
            .map(|m| m.open(&self.cipher))
            .collect()
    }

    async fn reschedule_face_flow(
        &self,
        flow_id: &FlowId,
        next_poll_at: DateTime<Utc>,
        attempts: i32,
    ) -> Result<(), StoreError> {
        lease::reschedule::<flow_e::Entity>(&self.db, flow_id.as_str(), next_poll_at, attempts).await
    }

    async fn try_lease_authorization(
        &self,
        auth_id: &AuthId,
        lease: &Lease,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        lease::try_lease::<auth_e::Entity>(&self.db, auth_id.as_str(), lease, now).await
    }

    async fn reschedule_authorization(
        &self,
        auth_id: &AuthId,
        next_poll_at: DateTime<Utc>,
        attempts: i32,
    ) -> Result<(), StoreError> {
        lease::reschedule::<auth_e::Entity>(&self.db, auth_id.as_str(), next_poll_at, attempts).await
    }

    async fn backlog(&self) -> Result<(u64, Option<DateTime<Utc>>), StoreError> {
        // Callbacks stored but not applied (a crash in between) wait for the reconciler too.
        let inbox = inbox_e::Entity::find()
            .select_only()
            .column_as(inbox_e::Column::ReceivedAt, lease::BACKLOG_AT)
            .filter(inbox_e::Column::AppliedAt.is_null())
            .into_query();
        let mut pending = lease::backlog::<flow_e::Entity>();
        pending
            .union(UnionType::All, lease::backlog::<auth_e::Entity>())
            .union(UnionType::All, lease::backlog::<org_e::Entity>())
            .union(UnionType::All, inbox);
        let at = || Expr::col(lease::BACKLOG_AT);
        let count = Query::select()
            .expr_as(Func::count(at()), "n")
            .expr_as(Func::min(at()), "oldest")
            .from_subquery(pending, "pending")
            .to_owned();
        let Some(row) = self.db.query_one(&count).await.map_err(db_err)? else { return Ok((0, None)) };
        let n: i64 = row.try_get("", "n").map_err(db_err)?;
        let oldest: Option<i64> = row.try_get("", "oldest").map_err(db_err)?;
        Ok((u64::try_from(n).unwrap_or(0), opt_ms(oldest)?))
    }

    // The seals' review: `seal_queries` holds the queries.
    async fn seal_records(&self, member: &MemberNo) -> Result<Vec<SealRecord>, StoreError> {
        self.seal_records_of(member).await
    }

    async fn seal_record(&self, seal_id: &str) -> Result<Option<SealRecord>, StoreError> {
        self.seal_record_by_id(seal_id).await
    }

    async fn insert_seal_records(&self, records: &[SealRecord]) -> Result<(), StoreError> {
        self.insert_new_seal_records(records).await
    }

    async fn update_seal_record(
        &self,
        record: &SealRecord,
        expected: SealReviewStatus,
        review: Option<(ProcessStatus, SealReview, Source)>,
    ) -> Result<bool, StoreError> {
        self.update_seal_record_if(record, expected, review).await
    }

    async fn delete_seal_record(&self, seal_id: &str) -> Result<(), StoreError> {
        self.forget_seal_record(seal_id).await
    }

    async fn seals_to_review(&self, offset: u64, limit: u64) -> Result<(Vec<SealRecord>, u64), StoreError> {
        self.pending_seal_records(offset, limit).await
    }
}

impl SeaStore {
    /// [`Store::process_with_evidence`] on SQLite, on the calling thread: the first of the reader
    /// connections that is free runs [`DETAIL_SCRIPT`]. `None` when there are none (PostgreSQL, an
    /// in-memory database) or all are busy; the read then goes through the pool.
    pub(super) fn process_with_evidence_here(
        &self,
        member: &MemberNo,
    ) -> Option<Result<Option<ProcessWithEvidence>, StoreError>> {
        let (script, process_columns, evidence_columns) = &*DETAIL_SCRIPT;
        let values = [sea_orm::Value::from(member.as_str()), sea_orm::Value::from(member.as_str())];
        let rows = self.readers.iter().find_map(|reader| reader.try_run(script, &values))?;
        Some(rows.and_then(|rows| {
            // The process's row and the records' tell apart by their columns (the entities').
            let (mut process, mut records) = (None, Vec::new());
            for row in &rows {
                if row.0.len() == *process_columns {
                    process = Some(proc_e::Model::from_returned(row)?);
                } else if row.0.len() == *evidence_columns {
                    records.push(ev_e::Model::from_returned(row)?);
                }
            }
            process.map(|process| self.detail_read(process, records)).transpose()
        }))
    }

    /// The detail's read from its rows, whichever connection read them: the process opened, and
    /// the member's records oldest first — a record altered past reading left out (the record
    /// after it then fails its chain).
    fn detail_read(
        &self,
        process: proc_e::Model,
        records: impl IntoIterator<Item = ev_e::Model>,
    ) -> Result<ProcessWithEvidence, StoreError> {
        let mut chain: Vec<Evidence> = records.into_iter().filter_map(|m| Evidence::try_from(m).ok()).collect();
        chain.sort_by_key(|e| e.position);
        // Kept by the read cache: collected in place from the rows' models (larger, and allocated
        // for four), the vector would keep their allocation.
        chain.shrink_to_fit();
        Ok((process.open(&self.cipher)?, chain))
    }
}
