//! Opening the database (SQLite or PostgreSQL, from `DATABASE_URL`) with its connection settings,
//! and migrating it, replicas taking turns on PostgreSQL.
use std::time::Duration;

use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbBackend};
use sea_orm_migration::MigratorTrait;

use super::SeaStore;
use super::cipher::Cipher;
use super::columns::{db_err, sqlx_err};
use super::migration::Migrator;
use super::sqlite_direct::Direct;
use crate::domain::ports::StoreError;

/// Key of the PostgreSQL advisory lock that serializes migrations of replicas starting together.
pub const MIGRATION_LOCK_KEY: i64 = 0x6574_635f_6573_6967; // "etc_esig"
/// How long a pooled PostgreSQL connection may idle and still be handed out without a ping.
const PING_AFTER_IDLE: Duration = Duration::from_secs(1);
/// SQLite's reader connections: one a core of the machine this was measured on; a read that
/// finds both busy goes through the pool.
const READERS: usize = 2;
/// How long a SQLite writer waits for another's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// How often, and how far apart, a stop tries to empty SQLite's WAL ([`SeaStore::flush_at_stop`]).
const FLUSH_TRIES: usize = 5;
const FLUSH_PAUSE: Duration = Duration::from_millis(20);

impl SeaStore {
    /// Connects to `url` (`sqlite://…` or `postgres://…`); a SQLite file is created if missing.
    pub async fn connect(url: &str, max_connections: u32, cipher: Cipher) -> Result<Self, StoreError> {
        let db = Self::open(url, max_connections).await?;
        let (direct, readers) = match sqlite_file(&db) {
            Some(path) => {
                let pool = db.get_sqlite_connection_pool();
                let direct = Direct::open(&path, BUSY_TIMEOUT, pool.clone())?;
                let readers = (0..READERS)
                    .map(|_| Direct::open(&path, BUSY_TIMEOUT, pool.clone()))
                    .collect::<Result<Vec<_>, _>>()?;
                (Some(direct), readers.into())
            }
            None => (None, Vec::new().into()),
        };
        Ok(Self { db, cipher, direct, readers })
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
            // Pinging a pooled connection before handing it out finds one the server dropped while
            // it idled. A SQLite connection has no server to drop it, and sqlx pings every
            // connection when it goes back to the pool anyway; before every statement the ping was
            // a round trip to the connection's worker thread, two per start, each waking a thread
            // that slept through the start's upstream calls (README "Performance"). PostgreSQL
            // pings only a connection that idled a second or more (below).
            .test_before_acquire(false)
            // WAL lets readers run beside the one writer; the busy timeout queues writers instead of
            // failing them. Set on the options so that every pooled connection gets them: PRAGMA
            // synchronous and busy_timeout hold per connection, and run once they reached only one,
            // so the others fsynced the WAL on each commit (StartFaceAuth +5 ms on SQLite).
            .map_sqlx_sqlite_opts(|o| {
                o.journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .busy_timeout(BUSY_TIMEOUT)
                    // 256 KiB of page cache per connection instead of 2 MiB: each pooled connection
                    // keeps its own copy of hot pages, which cost RSS under load; the OS caches the
                    // file for all of them, and GetProcessDetail is answered from the read cache, so
                    // the smaller cache no longer slows it (README "Performance"; a memory map
                    // instead raised RSS).
                    .pragma("cache_size", "-256")
            });
        if url.starts_with("postgres") {
            // A connection used within the last second was answered by a live server then; one
            // dropped since (a restart, an idle timeout) has idled longer and is pinged first. A
            // ping on every acquire was a round trip before each statement: two per start, each
            // waking a backend that slept through the start's upstream calls (README
            // "Performance").
            opts.test_before_acquire_if_idle_for(PING_AFTER_IDLE);
        }
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

    /// At a stop, once no call is left: SQLite's WAL written back into the database file and
    /// emptied, so that the file alone holds every commit (a copy of it taken after the stop, as a
    /// backup is, misses nothing). Otherwise the WAL stays beside the file until the next open
    /// replays it: the process exits with the direct connection still open, so no connection is
    /// the last to close, which is when SQLite would do this itself. Nothing to do on PostgreSQL.
    pub async fn flush_at_stop(&self) -> Result<(), StoreError> {
        let Some(direct) = &self.direct else { return Ok(()) };
        // A reader (the change feed's check, a read finishing) holds the WAL for microseconds: a
        // few tries, a moment apart, and the stop goes on regardless.
        for _ in 0..FLUSH_TRIES {
            let rows = direct.run("PRAGMA wal_checkpoint(TRUNCATE)".to_owned(), Vec::new()).await?;
            // One row: whether a reader kept it from finishing, the WAL's frames, those written back.
            if rows.first().map(|r| r.try_get::<i64>(0)).transpose()? == Some(0) {
                return Ok(());
            }
            tokio::time::sleep(FLUSH_PAUSE).await;
        }
        Err(StoreError::Database("the WAL could not be emptied: a reader held it".into()))
    }
}

async fn migrate(db: &DatabaseConnection) -> Result<(), StoreError> {
    if db.get_database_backend() != DbBackend::Postgres {
        return Migrator::up(db, None).await.map_err(db_err);
    }
    let pool = db.get_postgres_connection_pool();
    let mut conn = pool.acquire().await.map_err(sqlx_err)?;
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
    sqlx_pg::query(sql).bind(key).execute(&mut **conn).await.map(|_| ()).map_err(sqlx_err)
}

// SeaORM re-exports the sqlx it was built with; naming it here keeps one sqlx in the tree.
use sea_orm::sqlx as sqlx_pg;
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};

/// The file of a SQLite database, or `None` for PostgreSQL and for an in-memory SQLite database
/// (which no second connection sees).
pub(super) fn sqlite_file(db: &DatabaseConnection) -> Option<std::path::PathBuf> {
    if db.get_database_backend() != DbBackend::Sqlite {
        return None;
    }
    let options = db.get_sqlite_connection_pool().connect_options();
    let path = options.get_filename();
    let name = path.to_string_lossy();
    let in_memory = name == ":memory:" || name.starts_with("file:sqlx-in-memory");
    (!in_memory).then(|| path.to_owned())
}
