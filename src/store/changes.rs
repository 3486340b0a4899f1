//! The change feed (`ChangeFeed`): what writers committed, as the read cache needs it.
//!
//! PostgreSQL: a trigger on the tables the detail reads (`processes`, `evidence`; migration
//! m0011) sends `NOTIFY etc_esign_changes, '<member>'` in the writer's transaction, whoever the
//! writer is; one connection per replica LISTENs. To catch up, the replica NOTIFYs a channel of its
//! own and waits to receive it back: PostgreSQL delivers notifications in commit order, so by then
//! every change committed before has been received. SQLite: a connection of the feed's own reads
//! `PRAGMA data_version` (on the calling thread, not sqlx's worker: `data_version`), which moves
//! when any other connection commits; any move forgets every copy (SQLite serves one replica, and
//! its reads are what a cache spares).
//!
//! Catching up is shared: a read waits for the next check that starts after it asked, and one
//! check answers every read waiting for it, so under load a check costs far less than a round
//! trip per read.
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use sea_orm::DbBackend;
use sea_orm::sqlx::postgres::{PgConnection, PgListener, PgPool, PgPoolOptions};
use sea_orm::sqlx::{self, Connection};
use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;

use super::SeaStore;
use super::data_version::DataVersion;
use crate::domain::ports::{ChangeFeed, ChangeSink};

/// The channel the trigger notifies (migration m0011 names it too).
pub const CHANGES_CHANNEL: &str = "etc_esign_changes";
/// How long a read waits to catch up before it reads the database instead.
const CATCH_UP_TIMEOUT: Duration = Duration::from_millis(500);
/// Checks in flight at once (PostgreSQL's overlap; SQLite's end as they start, on the calling thread).
const MAX_CHECKS: usize = 2;
/// Pause before connecting again after the feed lost its connection.
const RECONNECT_PAUSE: Duration = Duration::from_millis(500);
/// How long a PostgreSQL check may take to connect or to send its note before its connection is
/// dropped (a new one is opened for the next check).
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// Checks shared by reads, each answering every read that asked before it started.
struct Checks {
    asked: Notify,
    started: AtomicU64,
    /// (the last check finished, whether it caught up)
    done: watch::Sender<(u64, bool)>,
}

impl Checks {
    fn new() -> Self {
        Self { asked: Notify::new(), started: AtomicU64::new(0), done: watch::Sender::new((0, false)) }
    }

    async fn wait(&self) -> bool {
        let mut done = self.done.subscribe();
        // A check counted as started may have begun before this read arrived: wait for the next.
        let want = self.started.load(Ordering::SeqCst) + 1;
        self.asked.notify_one();
        let caught_up = tokio::time::timeout(CATCH_UP_TIMEOUT, done.wait_for(|(n, _)| *n >= want)).await;
        matches!(caught_up, Ok(Ok(finished)) if finished.1)
    }

    /// Runs `check` whenever a read asks, until `stop`; up to `MAX_CHECKS` at once, so that a read
    /// arriving during a check waits for one round trip rather than for the end of that one and a
    /// whole next one. Any check that started after a read asked answers it, in whatever order
    /// checks end.
    async fn serve<F, Fut>(&self, stop: &CancellationToken, mut check: F)
    where
        F: FnMut(u64) -> Fut,
        Fut: Future<Output = bool>,
    {
        let mut running = FuturesUnordered::new();
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                () = self.asked.notified(), if running.len() < MAX_CHECKS => {
                    let n = self.started.fetch_add(1, Ordering::SeqCst) + 1;
                    let checked = check(n);
                    running.push(async move { (n, checked.await) });
                }
                Some((n, ok)) = running.next(), if !running.is_empty() => {
                    self.done.send_if_modified(|last| {
                        let newer = n > last.0;
                        if newer {
                            *last = (n, ok);
                        }
                        newer
                    });
                }
            }
        }
    }
}

/// The feed of one replica; it catches up only while `run` runs (after migration: the trigger must
/// exist before a copy is trusted).
pub struct StoreFeed {
    checks: Checks,
    sink: Arc<dyn ChangeSink>,
    backend: Backend,
}

enum Backend {
    Postgres {
        pool: PgPool,
        /// This life's own channel for catching up.
        sync_channel: String,
        /// LISTENing now (set after the cache was emptied for what the gap may have missed).
        listening: AtomicBool,
        /// The last of this replica's catch-up notifications received back.
        received: watch::Sender<u64>,
        /// The connections that send the catch-up notes, one per check in flight, held for good:
        /// a pooled connection costs two more round trips per check (sqlx pings it when it is
        /// taken and when it goes back), a check's whole cost when reads wait on it.
        senders: [tokio::sync::Mutex<Option<PgConnection>>; MAX_CHECKS],
    },
    Sqlite {
        path: std::path::PathBuf,
        /// The feed's own connection and the version it last read.
        version: std::sync::Mutex<Option<(DataVersion, i64)>>,
    },
}

#[async_trait]
impl ChangeFeed for StoreFeed {
    async fn caught_up(&self) -> bool {
        self.checks.wait().await
    }
}

impl SeaStore {
    /// A feed telling `sink` what writers commit, or `None` where none can be kept (an in-memory
    /// SQLite database, which no other connection sees).
    pub fn change_feed(&self, sink: Arc<dyn ChangeSink>) -> Option<Arc<StoreFeed>> {
        let backend = match self.db.get_database_backend() {
            DbBackend::Postgres => Backend::Postgres {
                pool: self.db.get_postgres_connection_pool().clone(),
                sync_channel: format!("etc_esign_sync_{:016x}", rand::random::<u64>()),
                listening: AtomicBool::new(false),
                received: watch::Sender::new(0),
                senders: Default::default(),
            },
            DbBackend::Sqlite => {
                let options = self.db.get_sqlite_connection_pool().connect_options();
                let path = options.get_filename();
                let name = path.to_string_lossy();
                if name == ":memory:" || name.starts_with("file:sqlx-in-memory") {
                    return None;
                }
                Backend::Sqlite { path: path.to_owned(), version: std::sync::Mutex::new(None) }
            }
            _ => return None,
        };
        Some(Arc::new(StoreFeed { checks: Checks::new(), sink, backend }))
    }
}

impl StoreFeed {
    /// Follows the database until `stop`.
    pub async fn run(self: Arc<Self>, stop: CancellationToken) {
        match &self.backend {
            Backend::Postgres { pool, sync_channel, listening, received, senders } => {
                let check = |n: u64| self.pg_check(pool, sync_channel, listening, received, senders, n);
                tokio::join!(
                    self.pg_listen(pool, sync_channel, listening, received, &stop),
                    self.checks.serve(&stop, check)
                );
                for sender in senders {
                    if let Some(conn) = sender.lock().await.take() {
                        let _ = conn.close().await;
                    }
                }
            }
            Backend::Sqlite { path, version } => {
                let check = |_| std::future::ready(self.sqlite_check(path, version));
                self.checks.serve(&stop, check).await;
            }
        }
    }

    /// Keeps one connection LISTENing; each time it (re)starts, every copy is forgotten, since what
    /// was committed while no one listened is unknown.
    async fn pg_listen(
        &self,
        pool: &PgPool,
        sync_channel: &str,
        listening: &AtomicBool,
        received: &watch::Sender<u64>,
        stop: &CancellationToken,
    ) {
        // A pool of its own: the listening connection is held for good.
        let own = PgPoolOptions::new()
            .max_connections(1)
            .max_lifetime(None)
            .idle_timeout(None)
            .connect_lazy_with((*pool.connect_options()).clone());
        while !stop.is_cancelled() {
            match self.pg_listen_once(&own, sync_channel, listening, received, stop).await {
                Ok(()) => {
                    tracing::warn!("the change feed lost its connection; reads go to the database until it is back")
                }
                Err(e) => tracing::warn!(error = %e, "the change feed cannot listen; reads go to the database"),
            }
            listening.store(false, Ordering::SeqCst);
            self.sink.changed_all();
            tokio::select! {
                () = stop.cancelled() => {}
                () = tokio::time::sleep(RECONNECT_PAUSE) => {}
            }
        }
        own.close().await;
    }

    async fn pg_listen_once(
        &self,
        own: &PgPool,
        sync_channel: &str,
        listening: &AtomicBool,
        received: &watch::Sender<u64>,
        stop: &CancellationToken,
    ) -> Result<(), sqlx::Error> {
        let mut listener = PgListener::connect_with(own).await?;
        listener.eager_reconnect(false);
        listener.ignore_pool_close_event(true);
        listener.listen_all([CHANGES_CHANNEL, sync_channel]).await?;
        self.sink.changed_all();
        listening.store(true, Ordering::SeqCst);
        loop {
            let next = tokio::select! {
                () = stop.cancelled() => return Ok(()),
                next = listener.try_recv() => next?,
            };
            let Some(note) = next else { return Ok(()) };
            if note.channel() == sync_channel {
                if let Ok(n) = note.payload().parse::<u64>() {
                    received.send_if_modified(|last| {
                        let newer = n > *last;
                        *last = (*last).max(n);
                        newer
                    });
                }
            } else {
                self.sink.changed(note.payload());
            }
        }
    }

    /// Sends catch-up notification `n` and waits for it to come back through the listener.
    async fn pg_check(
        &self,
        pool: &PgPool,
        sync_channel: &str,
        listening: &AtomicBool,
        received: &watch::Sender<u64>,
        senders: &[tokio::sync::Mutex<Option<PgConnection>>; MAX_CHECKS],
        n: u64,
    ) -> bool {
        if !listening.load(Ordering::SeqCst) {
            return false;
        }
        let mut back = received.subscribe();
        // Checks start one after another: two in flight take two connections.
        let mut sender = senders[(n % MAX_CHECKS as u64) as usize].lock().await;
        let sent = tokio::time::timeout(CHECK_TIMEOUT, async {
            let conn = match sender.take() {
                Some(conn) => conn,
                None => PgConnection::connect_with(pool.connect_options().as_ref()).await?,
            };
            // A NOTIFY commits a transaction: without durability asked for, it does not wait for
            // a WAL flush (the catch-up note means nothing after a crash), and is delivered in
            // order as any.
            sqlx::query("SELECT set_config('synchronous_commit', 'off', true), pg_notify($1, $2)")
                .bind(sync_channel)
                .bind(n.to_string())
                .execute(&mut *sender.insert(conn))
                .await
        })
        .await;
        let failed = match sent {
            Ok(Ok(_)) => None,
            Ok(Err(e)) => Some(e.to_string()),
            Err(_) => Some("no answer in time".to_owned()),
        };
        if let Some(error) = failed {
            tracing::debug!(%error, "the change feed could not catch up");
            // Broken, or left mid-statement by the timeout: the next check opens another.
            *sender = None;
            return false;
        }
        drop(sender);
        let came_back = tokio::time::timeout(CATCH_UP_TIMEOUT, back.wait_for(|last| *last >= n)).await;
        // Lost on the way (the listener reconnected): its changes were forgotten, but this check
        // proves nothing about the ones after.
        matches!(came_back, Ok(Ok(_))) && listening.load(Ordering::SeqCst)
    }

    /// Reads `data_version` on the feed's own connection; a move since the last check forgets
    /// every copy. A new connection starts from an unknown past: it forgets every copy too. Runs on
    /// the calling thread (`DataVersion`): microseconds, with no lock waited for.
    fn sqlite_check(&self, path: &std::path::Path, version: &std::sync::Mutex<Option<(DataVersion, i64)>>) -> bool {
        let mut conn = version.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if conn.is_none() {
            match DataVersion::open(path) {
                Ok(c) => *conn = Some((c, i64::MIN)),
                Err(error) => {
                    tracing::warn!(%error, "the change feed cannot open the database; reads go to it");
                    return false;
                }
            }
        }
        let Some((c, last)) = conn.as_mut() else { return false };
        match c.read() {
            Ok(now) => {
                if now != *last {
                    self.sink.changed_all();
                    *last = now;
                }
                true
            }
            Err(error) => {
                tracing::warn!(%error, "the change feed could not read the database's version; reads go to it");
                *conn = None;
                false
            }
        }
    }
}
