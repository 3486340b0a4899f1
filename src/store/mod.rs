//! The `Store` port on SeaORM: SQLite (the dev default) or PostgreSQL, chosen by `DATABASE_URL`.
//! Only this module names a SeaORM type.
pub mod cipher;
pub mod entities;
pub mod migration;

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr, EntityTrait,
    ExprTrait, QueryFilter, QueryOrder, QuerySelect, Statement, TransactionTrait,
};
use sea_orm_migration::MigratorTrait;

use crate::domain::model::{
    Authorization, AuthorizationStatus, FaceFlow, FlowStatus, Handler, InboxEvent, OrgInfo, Process, Status,
    StoredEvent,
};
use crate::domain::ports::{ChangeSet, InboxInsert, Lease, Store, StoreError};
use crate::domain::values::{AccountId, AuthId, FlowId, MemberNo, Mobile, PersonName, ResidentId, ValidPeriod};
use cipher::Cipher;
use entities::{authorization as auth_e, face_flow as flow_e, inbox_event as inbox_e, process as proc_e};
use migration::Migrator;

/// Key of the PostgreSQL advisory lock that serializes migrations of replicas starting together.
const MIGRATION_LOCK_KEY: i64 = 0x6574_635f_6573_6967; // "etc_esig"

#[derive(Clone)]
pub struct SeaStore {
    db: DatabaseConnection,
    cipher: Cipher,
}

impl std::fmt::Debug for SeaStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SeaStore").field("backend", &self.db.get_database_backend()).finish()
    }
}

fn db_err(e: DbErr) -> StoreError {
    StoreError::Database(e.to_string())
}

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn from_ms(v: i64) -> Result<DateTime<Utc>, StoreError> {
    Utc.timestamp_millis_opt(v).single().ok_or_else(|| StoreError::Corrupt(format!("instant {v}")))
}

fn opt_ms(v: Option<i64>) -> Result<Option<DateTime<Utc>>, StoreError> {
    v.map(from_ms).transpose()
}

impl SeaStore {
    /// Connects to `url` (`sqlite://…` or `postgres://…`); a SQLite file is created if missing.
    pub async fn connect(url: &str, max_connections: u32, cipher: Cipher) -> Result<Self, StoreError> {
        let db = Self::open(url, max_connections).await?;
        Ok(Self { db, cipher })
    }

    /// Applies migrations to the database at `url` (no data is read, so no key is needed).
    pub async fn migrate_url(url: &str) -> Result<(), StoreError> {
        let db = Self::open(url, 1).await?;
        let result = migrate(&db).await;
        let _ = db.close().await;
        result
    }

    async fn open(url: &str, max_connections: u32) -> Result<DatabaseConnection, StoreError> {
        let url = if url.starts_with("sqlite:") && !url.contains("mode=") {
            format!("{url}{}mode=rwc", if url.contains('?') { "&" } else { "?" })
        } else {
            url.to_owned()
        };
        if let Some(path) = url.strip_prefix("sqlite://").and_then(|p| p.split('?').next())
            && let Some(dir) = std::path::Path::new(path).parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::Database(format!("cannot create {}: {e}", dir.display())))?;
        }
        let mut opts = ConnectOptions::new(url.clone());
        opts.max_connections(max_connections)
            .min_connections(1)
            .connect_timeout(Duration::from_secs(5))
            .acquire_timeout(Duration::from_secs(10))
            .sqlx_logging(false)
            // A server that is down at start-up must not stop the service from starting: health
            // says NOT_SERVING and migration retries until it is back.
            .connect_lazy(url.starts_with("postgres"))
            // WAL lets readers run beside the one writer; the busy timeout queues writers instead of
            // failing them. Set on the options so that every pooled connection gets them: PRAGMA
            // synchronous and busy_timeout hold per connection, and run once they reached only one,
            // so the others fsynced the WAL on each commit (StartFaceAuth +5 ms on SQLite).
            .map_sqlx_sqlite_opts(|o| {
                o.journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .busy_timeout(Duration::from_secs(10))
                    // 1 MiB of page cache per connection instead of 2: each pooled connection keeps
                    // its own copy of hot pages, which cost RSS under load; the OS caches the file for
                    // all of them. Measured (README "Performance"): 256 KiB cut RSS further but reads
                    // a third slower; a memory map instead raised RSS.
                    .pragma("cache_size", "-1024")
            });
        Database::connect(opts).await.map_err(db_err)
    }

    pub fn backend_name(&self) -> &'static str {
        match self.db.get_database_backend() {
            DbBackend::Postgres => "postgres",
            DbBackend::Sqlite => "sqlite",
            _ => "other",
        }
    }

    /// Applies pending migrations. On PostgreSQL replicas starting together take turns through an
    /// advisory lock held on one connection.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        migrate(&self.db).await
    }

    pub async fn close(self) {
        let _ = self.db.close().await;
    }
}

async fn migrate(db: &DatabaseConnection) -> Result<(), StoreError> {
    if db.get_database_backend() != DbBackend::Postgres {
        return Migrator::up(db, None).await.map_err(db_err);
    }
    let pool = db.get_postgres_connection_pool();
    let mut conn = pool.acquire().await.map_err(|e| StoreError::Database(e.to_string()))?;
    sqlx_query("SELECT pg_advisory_lock($1)", MIGRATION_LOCK_KEY, &mut conn).await?;
    let result = Migrator::up(db, None).await.map_err(db_err);
    let unlocked = sqlx_query("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK_KEY, &mut conn).await;
    result.and(unlocked)
}

async fn sqlx_query(
    sql: &'static str,
    key: i64,
    conn: &mut sqlx_pg::pool::PoolConnection<sqlx_pg::Postgres>,
) -> Result<(), StoreError> {
    sqlx_pg::query(sql)
        .bind(key)
        .execute(&mut **conn)
        .await
        .map(|_| ())
        .map_err(|e| StoreError::Database(e.to_string()))
}

// SeaORM re-exports the sqlx it was built with; naming it here keeps one sqlx in the tree.
use sea_orm::sqlx as sqlx_pg;
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};

// ------------------------------------------------------------------ conversions

fn process_from(m: proc_e::Model, c: &Cipher) -> Result<Process, StoreError> {
    let open = |col: &str, v: Option<String>| v.map(|v| c.open(&aad("processes", col, &m.member_no), &v)).transpose();
    let handler_id_number = open("handler_id_number", m.handler_id_number.clone())?;
    let handler_mobile = open("handler_mobile", m.handler_mobile.clone())?;
    let org_id_number = open("org_id_number", m.org_id_number.clone())?;
    let org_legal_id_number = open("org_legal_id_number", m.org_legal_id_number.clone())?;
    let member = MemberNo::parse(&m.member_no).map_err(|v| StoreError::Corrupt(v.description))?;
    let status = Status::parse(&m.status).ok_or_else(|| StoreError::Corrupt(format!("status {}", m.status)))?;
    let mut p = Process::restore(member, status, m.version);
    if let (Some(name), Some(id), Some(mobile), Some(period)) =
        (m.handler_name, handler_id_number, handler_mobile, m.handler_valid_period)
    {
        p.handler = Some(Handler {
            name: PersonName::parse("handler_name", &name).map_err(|v| StoreError::Corrupt(v.description))?,
            id_number: ResidentId::parse("handler_id_number", &id).map_err(|v| StoreError::Corrupt(v.description))?,
            mobile: Mobile::parse("handler_mobile", &mobile).map_err(|v| StoreError::Corrupt(v.description))?,
            // Stored periods were valid when given; they are read back without the expiry check.
            valid_period: ValidPeriod::read_back("handler_valid_period", &period)
                .map_err(|v| StoreError::Corrupt(v.description))?,
        });
    }
    if m.org_name.is_some() || org_id_number.is_some() {
        p.org = Some(OrgInfo {
            name: m.org_name.unwrap_or_default(),
            id_number: org_id_number.unwrap_or_default(),
            id_type: m.org_id_type.unwrap_or_default(),
            legal_name: m.org_legal_name.unwrap_or_default(),
            legal_id_number: org_legal_id_number.unwrap_or_default(),
        });
    }
    p.esign_account_id = m
        .esign_account_id
        .map(|a| AccountId::parse("esign_account_id", &a))
        .transpose()
        .map_err(|v| StoreError::Corrupt(v.description))?;
    p.needs_pub_payment = m.needs_pub_payment;
    p.fail_reason = m.fail_reason;
    p.origin_sign_file_url = m.origin_sign_file_url;
    p.signed_file_url = m.signed_file_url;
    p.signed_file_url_expires_at = opt_ms(m.signed_file_url_expires_at)?;
    p.updated_at = opt_ms(m.updated_at)?;
    Ok(p)
}

/// The associated data of an encrypted value: its table, column and row.
fn aad(table: &str, column: &str, key: &str) -> String {
    format!("{table}.{column}:{key}")
}

/// The process's columns, except the lease (owned by `try_lease_member`).
fn process_active(p: &Process, version: i64, c: &Cipher) -> Result<proc_e::ActiveModel, StoreError> {
    let h = p.handler.as_ref();
    let o = p.org.as_ref();
    let member = p.member_no().as_str();
    let seal = |col: &str, v: Option<&str>| v.map(|v| c.seal(&aad("processes", col, member), v)).transpose();
    Ok(proc_e::ActiveModel {
        member_no: Set(p.member_no().as_str().to_owned()),
        status: Set(p.status().as_str().to_owned()),
        version: Set(version),
        handler_name: Set(h.map(|h| h.name.as_str().to_owned())),
        handler_id_number: Set(seal("handler_id_number", h.map(|h| h.id_number.expose()))?),
        handler_mobile: Set(seal("handler_mobile", h.map(|h| h.mobile.expose()))?),
        handler_valid_period: Set(h.map(|h| h.valid_period.to_string())),
        org_name: Set(o.map(|o| o.name.clone())),
        org_id_number: Set(seal("org_id_number", o.map(|o| o.id_number.as_str()))?),
        org_id_type: Set(o.map(|o| o.id_type.clone())),
        org_legal_name: Set(o.map(|o| o.legal_name.clone())),
        org_legal_id_number: Set(seal("org_legal_id_number", o.map(|o| o.legal_id_number.as_str()))?),
        esign_account_id: Set(p.esign_account_id.as_ref().map(|a| a.as_str().to_owned())),
        needs_pub_payment: Set(p.needs_pub_payment),
        fail_reason: Set(p.fail_reason.clone()),
        origin_sign_file_url: Set(p.origin_sign_file_url.clone()),
        signed_file_url: Set(p.signed_file_url.clone()),
        signed_file_url_expires_at: Set(p.signed_file_url_expires_at.map(ms)),
        updated_at: Set(p.updated_at.map(ms)),
        lease_holder: NotSet,
        lease_until: NotSet,
    })
}

fn flow_from(m: flow_e::Model) -> Result<FaceFlow, StoreError> {
    Ok(FaceFlow {
        flow_id: FlowId::parse("flow_id", &m.flow_id).map_err(|v| StoreError::Corrupt(v.description))?,
        member_no: MemberNo::parse(&m.member_no).map_err(|v| StoreError::Corrupt(v.description))?,
        account_id: AccountId::parse("account_id", &m.account_id).map_err(|v| StoreError::Corrupt(v.description))?,
        auth_url: m.auth_url,
        original_url: m.original_url,
        created_at: from_ms(m.created_at)?,
        expires_at: from_ms(m.expires_at)?,
        status: flow_e::status(&m.status).ok_or_else(|| StoreError::Corrupt(format!("flow status {}", m.status)))?,
        fail_reason: m.fail_reason,
        finished_at: opt_ms(m.finished_at)?,
        next_poll_at: from_ms(m.next_poll_at)?,
        poll_attempts: m.poll_attempts,
    })
}

fn flow_active(f: &FaceFlow) -> flow_e::ActiveModel {
    flow_e::ActiveModel {
        flow_id: Set(f.flow_id.as_str().to_owned()),
        member_no: Set(f.member_no.as_str().to_owned()),
        account_id: Set(f.account_id.as_str().to_owned()),
        auth_url: Set(f.auth_url.clone()),
        original_url: Set(f.original_url.clone()),
        created_at: Set(ms(f.created_at)),
        expires_at: Set(ms(f.expires_at)),
        status: Set(flow_e::status_name(f.status).to_owned()),
        fail_reason: Set(f.fail_reason.clone()),
        finished_at: Set(f.finished_at.map(ms)),
        next_poll_at: Set(ms(f.next_poll_at)),
        poll_attempts: Set(f.poll_attempts),
        lease_holder: Set(None),
        lease_until: Set(None),
    }
}

fn auth_from(m: auth_e::Model, c: &Cipher) -> Result<Authorization, StoreError> {
    // The fingerprint hashes the signer's contact (a mobile): encrypted like the mobile itself.
    let request_fingerprint =
        c.open(&aad("authorizations", "request_fingerprint", &m.auth_id), &m.request_fingerprint)?;
    Ok(Authorization {
        auth_id: AuthId::parse("auth_id", &m.auth_id).map_err(|v| StoreError::Corrupt(v.description))?,
        member_no: MemberNo::parse(&m.member_no).map_err(|v| StoreError::Corrupt(v.description))?,
        request_id: m.request_id,
        request_fingerprint,
        organize_id: m.organize_id,
        auth_type: auth_e::auth_type(m.auth_type).ok_or_else(|| StoreError::Corrupt("auth type".into()))?,
        person_id: m.person_id,
        authorizer_type: m.authorizer_type.and_then(auth_e::authorizer_type),
        legal_rep_id: m.legal_rep_id,
        status: auth_e::status(m.status).ok_or_else(|| StoreError::Corrupt("auth status".into()))?,
        auth_des: m.auth_des,
        download_url: m.download_url,
        download_url_expires_at: opt_ms(m.download_url_expires_at)?,
        begin_at: opt_ms(m.begin_at)?,
        end_at: opt_ms(m.end_at)?,
        created_at: from_ms(m.created_at)?,
        updated_at: from_ms(m.updated_at)?,
        next_poll_at: from_ms(m.next_poll_at)?,
        poll_attempts: m.poll_attempts,
    })
}

fn auth_active(a: &Authorization, c: &Cipher) -> Result<auth_e::ActiveModel, StoreError> {
    let fingerprint =
        c.seal(&aad("authorizations", "request_fingerprint", a.auth_id.as_str()), &a.request_fingerprint)?;
    Ok(auth_e::ActiveModel {
        auth_id: Set(a.auth_id.as_str().to_owned()),
        member_no: Set(a.member_no.as_str().to_owned()),
        request_id: Set(a.request_id.clone()),
        request_fingerprint: Set(fingerprint),
        organize_id: Set(a.organize_id.clone()),
        auth_type: Set(auth_e::auth_type_code(a.auth_type)),
        person_id: Set(a.person_id.clone()),
        authorizer_type: Set(a.authorizer_type.map(auth_e::authorizer_type_code)),
        legal_rep_id: Set(a.legal_rep_id.clone()),
        status: Set(auth_e::status_code(a.status)),
        auth_des: Set(a.auth_des.clone()),
        download_url: Set(a.download_url.clone()),
        download_url_expires_at: Set(a.download_url_expires_at.map(ms)),
        begin_at: Set(a.begin_at.map(ms)),
        end_at: Set(a.end_at.map(ms)),
        created_at: Set(ms(a.created_at)),
        updated_at: Set(ms(a.updated_at)),
        next_poll_at: Set(ms(a.next_poll_at)),
        poll_attempts: Set(a.poll_attempts),
        lease_holder: Set(None),
        lease_until: Set(None),
    })
}

fn event_from(m: inbox_e::Model) -> Result<StoredEvent, StoreError> {
    let occurred_at = from_ms(m.occurred_at)?;
    let event = match m.kind.as_str() {
        "FACE_RESULT" => InboxEvent::FaceResult {
            flow_id: FlowId::parse("flow_id", &m.subject_id).map_err(|v| StoreError::Corrupt(v.description))?,
            success: m.outcome == "SUCCESS",
            fail_reason: m.reason,
            occurred_at,
        },
        "AUTHORIZATION_RESULT" => InboxEvent::AuthorizationResult {
            auth_id: AuthId::parse("auth_id", &m.subject_id).map_err(|v| StoreError::Corrupt(v.description))?,
            status: m
                .outcome
                .parse::<i32>()
                .ok()
                .and_then(auth_e::status)
                .ok_or_else(|| StoreError::Corrupt("inbox outcome".into()))?,
            auth_des: m.reason,
            occurred_at,
        },
        other => return Err(StoreError::Corrupt(format!("inbox kind {other}"))),
    };
    Ok(StoredEvent { id: m.id, event })
}

fn event_active(e: &InboxEvent, received_at: DateTime<Utc>) -> inbox_e::ActiveModel {
    let (kind, subject, outcome, reason, occurred) = match e {
        InboxEvent::FaceResult { flow_id, success, fail_reason, occurred_at } => (
            "FACE_RESULT",
            flow_id.as_str().to_owned(),
            if *success { "SUCCESS".to_owned() } else { "FAIL".to_owned() },
            fail_reason.clone(),
            *occurred_at,
        ),
        InboxEvent::AuthorizationResult { auth_id, status, auth_des, occurred_at } => (
            "AUTHORIZATION_RESULT",
            auth_id.as_str().to_owned(),
            auth_e::status_code(*status).to_string(),
            auth_des.clone(),
            *occurred_at,
        ),
    };
    inbox_e::ActiveModel {
        id: NotSet,
        event_key: Set(inbox_e::event_key(e)),
        kind: Set(kind.to_owned()),
        subject_id: Set(subject),
        outcome: Set(outcome),
        reason: Set(reason),
        occurred_at: Set(ms(occurred)),
        received_at: Set(ms(received_at)),
        applied_at: Set(None),
    }
}

/// The row of a primary-key lookup. Lookups use `all()`, not `one()`: `one()` adds `LIMIT ?` with a
/// bound value, and SQLite (built with STAT4) expires a statement whose LIMIT is a bound parameter on
/// every rebind, so each call re-parsed its SQL: 44% of the instructions of GetProcessDetail
/// (callgrind). A key matches at most one row, so no LIMIT is needed.
fn first<M>(rows: Result<Vec<M>, DbErr>) -> Result<Option<M>, StoreError> {
    Ok(rows.map_err(db_err)?.into_iter().next())
}

// ------------------------------------------------------------------ the port

#[async_trait]
impl Store for SeaStore {
    async fn ping(&self) -> Result<(), StoreError> {
        self.db.ping().await.map_err(db_err)
    }

    async fn process(&self, member: &MemberNo) -> Result<Option<Process>, StoreError> {
        first(proc_e::Entity::find_by_id(member.as_str().to_owned()).all(&self.db).await)?
            .map(|m| process_from(m, &self.cipher))
            .transpose()
    }

    async fn face_flow(&self, flow_id: &FlowId) -> Result<Option<FaceFlow>, StoreError> {
        first(flow_e::Entity::find_by_id(flow_id.as_str().to_owned()).all(&self.db).await)?.map(flow_from).transpose()
    }

    async fn latest_face_flow(&self, member: &MemberNo) -> Result<Option<FaceFlow>, StoreError> {
        flow_e::Entity::find()
            .filter(flow_e::Column::MemberNo.eq(member.as_str()))
            .order_by_desc(flow_e::Column::CreatedAt)
            .order_by_desc(flow_e::Column::FlowId)
            .one(&self.db)
            .await
            .map_err(db_err)?
            .map(flow_from)
            .transpose()
    }

    async fn authorization(&self, auth_id: &AuthId) -> Result<Option<Authorization>, StoreError> {
        first(auth_e::Entity::find_by_id(auth_id.as_str().to_owned()).all(&self.db).await)?
            .map(|m| auth_from(m, &self.cipher))
            .transpose()
    }

    async fn latest_authorization(&self, member: &MemberNo) -> Result<Option<Authorization>, StoreError> {
        auth_e::Entity::find()
            .filter(auth_e::Column::MemberNo.eq(member.as_str()))
            .order_by_desc(auth_e::Column::CreatedAt)
            .order_by_desc(auth_e::Column::AuthId)
            .one(&self.db)
            .await
            .map_err(db_err)?
            .map(|m| auth_from(m, &self.cipher))
            .transpose()
    }

    async fn authorization_by_request(
        &self,
        member: &MemberNo,
        request_id: &str,
    ) -> Result<Option<Authorization>, StoreError> {
        auth_e::Entity::find()
            .filter(auth_e::Column::MemberNo.eq(member.as_str()))
            .filter(auth_e::Column::RequestId.eq(request_id))
            .one(&self.db)
            .await
            .map_err(db_err)?
            .map(|m| auth_from(m, &self.cipher))
            .transpose()
    }

    async fn commit(&self, changes: ChangeSet) -> Result<(), StoreError> {
        let txn = self.db.begin().await.map_err(db_err)?;
        if let Some(p) = &changes.process {
            let expected = p.version();
            if expected == 0 {
                let res = proc_e::Entity::insert(process_active(p, 1, &self.cipher)?)
                    .on_conflict_do_nothing()
                    .exec_without_returning(&txn)
                    .await
                    .map_err(db_err)?;
                if !matches!(res, sea_orm::TryInsertResult::Inserted(1)) {
                    return Err(StoreError::Conflict);
                }
            } else {
                let res = proc_e::Entity::update_many()
                    .set(process_active(p, expected + 1, &self.cipher)?)
                    .filter(proc_e::Column::MemberNo.eq(p.member_no().as_str()))
                    .filter(proc_e::Column::Version.eq(expected))
                    .exec(&txn)
                    .await
                    .map_err(db_err)?;
                if res.rows_affected != 1 {
                    return Err(StoreError::Conflict);
                }
            }
        }
        for f in &changes.face_flows {
            flow_e::Entity::insert(flow_active(f))
                .on_conflict(
                    OnConflict::column(flow_e::Column::FlowId)
                        .update_columns([
                            flow_e::Column::Status,
                            flow_e::Column::FailReason,
                            flow_e::Column::FinishedAt,
                            flow_e::Column::NextPollAt,
                            flow_e::Column::PollAttempts,
                            // Not the lease: it belongs to whoever polls the item (claim, reschedule).
                            // Clearing it here let a second replica claim an item mid-poll.
                        ])
                        .to_owned(),
                )
                .exec_without_returning(&txn)
                .await
                .map_err(db_err)?;
        }
        for a in &changes.authorizations {
            auth_e::Entity::insert(auth_active(a, &self.cipher)?)
                .on_conflict(
                    OnConflict::column(auth_e::Column::AuthId)
                        .update_columns([
                            auth_e::Column::PersonId,
                            auth_e::Column::AuthorizerType,
                            auth_e::Column::LegalRepId,
                            auth_e::Column::Status,
                            auth_e::Column::AuthDes,
                            auth_e::Column::DownloadUrl,
                            auth_e::Column::DownloadUrlExpiresAt,
                            auth_e::Column::BeginAt,
                            auth_e::Column::EndAt,
                            auth_e::Column::UpdatedAt,
                            auth_e::Column::NextPollAt,
                            auth_e::Column::PollAttempts,
                            // Not the lease: it belongs to whoever polls the item (claim, reschedule).
                            // Clearing it here let a second replica claim an item mid-poll.
                        ])
                        .to_owned(),
                )
                .exec_without_returning(&txn)
                .await
                .map_err(db_err)?;
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

    async fn try_lease_member(&self, member: &MemberNo, lease: &Lease, now: DateTime<Utc>) -> Result<bool, StoreError> {
        // The row must exist for the conditional update below to have something to win.
        let fresh = process_active(&Process::not_started(member.clone()), 1, &self.cipher)?;
        proc_e::Entity::insert(fresh)
            .on_conflict_do_nothing()
            .exec_without_returning(&self.db)
            .await
            .map_err(db_err)?;
        let res = proc_e::Entity::update_many()
            .col_expr(proc_e::Column::LeaseHolder, Expr::value(lease.holder.clone()))
            .col_expr(proc_e::Column::LeaseUntil, Expr::value(ms(lease.until)))
            .filter(proc_e::Column::MemberNo.eq(member.as_str()))
            .filter(proc_e::Column::LeaseUntil.is_null().or(proc_e::Column::LeaseUntil.lt(ms(now))))
            .exec(&self.db)
            .await
            .map_err(db_err)?;
        Ok(res.rows_affected == 1)
    }

    async fn release_member(&self, member: &MemberNo, holder: &str) -> Result<(), StoreError> {
        proc_e::Entity::update_many()
            .col_expr(proc_e::Column::LeaseHolder, Expr::value(Option::<String>::None))
            .col_expr(proc_e::Column::LeaseUntil, Expr::value(Option::<i64>::None))
            .filter(proc_e::Column::MemberNo.eq(member.as_str()))
            .filter(proc_e::Column::LeaseHolder.eq(holder))
            .exec(&self.db)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn insert_inbox(&self, event: &InboxEvent, received_at: DateTime<Utc>) -> Result<InboxInsert, StoreError> {
        let key = inbox_e::event_key(event);
        let res = inbox_e::Entity::insert(event_active(event, received_at))
            .on_conflict_do_nothing_on([inbox_e::Column::EventKey])
            .exec_without_returning(&self.db)
            .await
            .map_err(db_err)?;
        let row = inbox_e::Entity::find()
            .filter(inbox_e::Column::EventKey.eq(key))
            .one(&self.db)
            .await
            .map_err(db_err)?
            .ok_or_else(|| StoreError::Database("inbox row vanished".into()))?;
        Ok(match res {
            sea_orm::TryInsertResult::Inserted(n) if n > 0 => InboxInsert::New(row.id),
            _ => InboxInsert::Duplicate { id: row.id, applied: row.applied_at.is_some() },
        })
    }

    async fn pending_inbox(&self, limit: u64) -> Result<Vec<StoredEvent>, StoreError> {
        inbox_e::Entity::find()
            .filter(inbox_e::Column::AppliedAt.is_null())
            .order_by_asc(inbox_e::Column::Id)
            .limit(limit)
            .all(&self.db)
            .await
            .map_err(db_err)?
            .into_iter()
            .map(event_from)
            .collect()
    }

    async fn claim_due_face_flows(
        &self,
        now: DateTime<Utc>,
        lease: &Lease,
        limit: u64,
    ) -> Result<Vec<FaceFlow>, StoreError> {
        let candidates = flow_e::Entity::find()
            .filter(flow_e::Column::Status.eq(flow_e::status_name(FlowStatus::Running)))
            .filter(flow_e::Column::NextPollAt.lte(ms(now)))
            .filter(flow_e::Column::LeaseUntil.is_null().or(flow_e::Column::LeaseUntil.lt(ms(now))))
            .order_by_asc(flow_e::Column::NextPollAt)
            .limit(limit)
            .all(&self.db)
            .await
            .map_err(db_err)?;
        let mut claimed = Vec::new();
        for c in candidates {
            // A conditional update is atomic on both databases: exactly one replica wins each row,
            // and only while it is still due (another replica may have polled it since the read).
            let res = flow_e::Entity::update_many()
                .col_expr(flow_e::Column::LeaseHolder, Expr::value(lease.holder.clone()))
                .col_expr(flow_e::Column::LeaseUntil, Expr::value(ms(lease.until)))
                .filter(flow_e::Column::FlowId.eq(c.flow_id.clone()))
                .filter(flow_e::Column::Status.eq(flow_e::status_name(FlowStatus::Running)))
                .filter(flow_e::Column::NextPollAt.lte(ms(now)))
                .filter(flow_e::Column::LeaseUntil.is_null().or(flow_e::Column::LeaseUntil.lt(ms(now))))
                .exec(&self.db)
                .await
                .map_err(db_err)?;
            if res.rows_affected == 1 {
                claimed.push(flow_from(c)?);
            }
        }
        Ok(claimed)
    }

    async fn claim_due_authorizations(
        &self,
        now: DateTime<Utc>,
        lease: &Lease,
        limit: u64,
    ) -> Result<Vec<Authorization>, StoreError> {
        // In progress, or signed but still without the letter's URL (a callback that came before it).
        let due =
            auth_e::Column::Status.eq(auth_e::status_code(AuthorizationStatus::InProgress)).or(auth_e::Column::Status
                .eq(auth_e::status_code(AuthorizationStatus::Succeeded))
                .and(auth_e::Column::DownloadUrl.is_null()));
        let free = || auth_e::Column::LeaseUntil.is_null().or(auth_e::Column::LeaseUntil.lt(ms(now)));
        let candidates = auth_e::Entity::find()
            .filter(due.clone())
            .filter(auth_e::Column::NextPollAt.lte(ms(now)))
            .filter(free())
            .order_by_asc(auth_e::Column::NextPollAt)
            .limit(limit)
            .all(&self.db)
            .await
            .map_err(db_err)?;
        let mut claimed = Vec::new();
        for c in candidates {
            let res = auth_e::Entity::update_many()
                .col_expr(auth_e::Column::LeaseHolder, Expr::value(lease.holder.clone()))
                .col_expr(auth_e::Column::LeaseUntil, Expr::value(ms(lease.until)))
                .filter(auth_e::Column::AuthId.eq(c.auth_id.clone()))
                .filter(due.clone())
                .filter(auth_e::Column::NextPollAt.lte(ms(now)))
                .filter(free())
                .exec(&self.db)
                .await
                .map_err(db_err)?;
            if res.rows_affected == 1 {
                claimed.push(auth_from(c, &self.cipher)?);
            }
        }
        Ok(claimed)
    }

    async fn try_lease_authorization(
        &self,
        auth_id: &AuthId,
        lease: &Lease,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let res = auth_e::Entity::update_many()
            .col_expr(auth_e::Column::LeaseHolder, Expr::value(lease.holder.clone()))
            .col_expr(auth_e::Column::LeaseUntil, Expr::value(ms(lease.until)))
            .filter(auth_e::Column::AuthId.eq(auth_id.as_str()))
            .filter(auth_e::Column::LeaseUntil.is_null().or(auth_e::Column::LeaseUntil.lt(ms(now))))
            .exec(&self.db)
            .await
            .map_err(db_err)?;
        Ok(res.rows_affected == 1)
    }

    async fn reschedule_face_flow(
        &self,
        flow_id: &FlowId,
        next_poll_at: DateTime<Utc>,
        attempts: i32,
    ) -> Result<(), StoreError> {
        flow_e::Entity::update_many()
            .col_expr(flow_e::Column::NextPollAt, Expr::value(ms(next_poll_at)))
            .col_expr(flow_e::Column::PollAttempts, Expr::value(attempts))
            .col_expr(flow_e::Column::LeaseHolder, Expr::value(Option::<String>::None))
            .col_expr(flow_e::Column::LeaseUntil, Expr::value(Option::<i64>::None))
            .filter(flow_e::Column::FlowId.eq(flow_id.as_str()))
            .exec(&self.db)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn reschedule_authorization(
        &self,
        auth_id: &AuthId,
        next_poll_at: DateTime<Utc>,
        attempts: i32,
    ) -> Result<(), StoreError> {
        auth_e::Entity::update_many()
            .col_expr(auth_e::Column::NextPollAt, Expr::value(ms(next_poll_at)))
            .col_expr(auth_e::Column::PollAttempts, Expr::value(attempts))
            .col_expr(auth_e::Column::LeaseHolder, Expr::value(Option::<String>::None))
            .col_expr(auth_e::Column::LeaseUntil, Expr::value(Option::<i64>::None))
            .filter(auth_e::Column::AuthId.eq(auth_id.as_str()))
            .exec(&self.db)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn backlog(&self) -> Result<(u64, Option<DateTime<Utc>>), StoreError> {
        let backend = self.db.get_database_backend();
        let sql = "SELECT COUNT(*) AS n, MIN(created_at) AS oldest FROM (\
                   SELECT created_at FROM face_flows WHERE status = 'RUNNING' \
                   UNION ALL SELECT created_at FROM authorizations WHERE status = 1 \
                   UNION ALL SELECT received_at AS created_at FROM inbox_events WHERE applied_at IS NULL) AS pending";
        let row = self.db.query_one_raw(Statement::from_string(backend, sql)).await.map_err(db_err)?;
        let Some(row) = row else { return Ok((0, None)) };
        let n: i64 = row.try_get("", "n").map_err(db_err)?;
        let oldest: Option<i64> = row.try_get("", "oldest").map_err(db_err)?;
        Ok((u64::try_from(n).unwrap_or(0), opt_ms(oldest)?))
    }
}
