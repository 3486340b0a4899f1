//! The change feed (`ChangeFeed`): what writers committed, as the read cache needs it.
//!
//! PostgreSQL: a trigger on the tables the detail reads (`processes`, `evidence`; migration
//! m0011) sends `NOTIFY etc_esign_changes, '<member>'` in the writer's transaction, whoever the
//! writer is; one connection per replica LISTENs. To catch up, the replica NOTIFYs a channel of its
//! own on that same connection and waits to receive it back: PostgreSQL delivers notifications in
//! commit order, so by then every change committed before has been received. SQLite: a connection
//! of the feed's own reads `PRAGMA data_version` (on the calling thread, not sqlx's worker:
//! `data_version`), which moves when any other connection commits; any move forgets every copy
//! (SQLite serves one replica, and its reads are what a cache spares).
//!
//! Catching up on PostgreSQL is shared: a read waits for the next check that starts after it asked,
//! and one check answers every read waiting for it, so under load a check costs far less than a
//! round trip per read. On SQLite each read checks for itself: a few microseconds on its own thread.
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use sea_orm::DbBackend;
use sea_orm::sqlx;
use sea_orm::sqlx::postgres::{PgListener, PgPool, PgPoolOptions};
use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;

use super::SeaStore;
use super::connection::sqlite_file;
use super::data_version::DataVersion;
use crate::domain::ports::{ChangeFeed, ChangeSink};

/// The channel the trigger notifies (migration m0011 names it too).
pub const CHANGES_CHANNEL: &str = "etc_esign_changes";
/// The listening connection's `application_name`, as `pg_stat_activity` shows it.
pub const FEED_APPLICATION_NAME: &str = "etc-esign change feed";
/// How long a read waits to catch up before it reads the database instead.
const CATCH_UP_TIMEOUT: Duration = Duration::from_millis(500);
/// PostgreSQL's checks in flight at once: a second check's note goes out as soon as the first's is
/// answered, rather than after its reads woke and asked again.
const MAX_CHECKS: usize = 2;
/// Pause before connecting again after the feed lost its connection.
const RECONNECT_PAUSE: Duration = Duration::from_millis(500);
/// How long sending a catch-up note may take before the listening connection is given up (a
/// statement cut short leaves it unusable) and opened again.
const NOTE_TIMEOUT: Duration = Duration::from_secs(2);

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
        /// Checks shared by reads (SQLite's reads each check for themselves).
        checks: Checks,
        /// The newest catch-up note a check asked for, and the listener's signal to send it.
        wanted: AtomicU64,
        ask: Notify,
    },
    Sqlite {
        path: std::path::PathBuf,
        feed: std::sync::Mutex<SqliteFeed>,
        /// `run` runs: checks are answered (after migration, as on PostgreSQL).
        following: AtomicBool,
    },
}

#[async_trait]
impl ChangeFeed for StoreFeed {
    async fn caught_up(&self) -> bool {
        match &self.backend {
            // A check is microseconds on the calling thread: each read makes its own, rather than
            // waking the feed's task and being woken by it.
            Backend::Sqlite { path, feed, following } => {
                following.load(Ordering::SeqCst) && self.sqlite_check(path, feed)
            }
            Backend::Postgres { checks, .. } => checks.wait().await,
        }
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
                checks: Checks::new(),
                wanted: AtomicU64::new(0),
                ask: Notify::new(),
            },
            DbBackend::Sqlite => {
                let path = sqlite_file(&self.db)?;
                Backend::Sqlite { path, feed: Default::default(), following: AtomicBool::new(false) }
            }
            _ => return None,
        };
        Some(Arc::new(StoreFeed { sink, backend }))
    }
}

/// Sends catch-up note `n` on the listening connection. A NOTIFY commits a transaction: without
/// durability asked for, it does not wait for a WAL flush (the note means nothing after a crash).
/// Notifications arriving meanwhile are kept by sqlx for the next `try_recv`. Cut short by the
/// timeout, the statement leaves the connection unusable: the error makes the caller listen anew.
async fn send_note(listener: &mut PgListener, channel: &str, n: u64) -> Result<(), sqlx::Error> {
    let note = sqlx::query("SELECT set_config('synchronous_commit', 'off', true), pg_notify($1, $2)")
        .bind(channel)
        .bind(n.to_string());
    match tokio::time::timeout(NOTE_TIMEOUT, note.execute(listener)).await {
        Ok(done) => done.map(drop),
        Err(_) => Err(sqlx::Error::Io(std::io::ErrorKind::TimedOut.into())),
    }
}

impl StoreFeed {
    /// Follows the database until `stop`.
    pub async fn run(self: Arc<Self>, stop: CancellationToken) {
        match &self.backend {
            Backend::Postgres { pool, listening, received, checks, wanted, ask, .. } => {
                let check = |n: u64| Self::pg_check(listening, received, wanted, ask, n);
                tokio::join!(self.pg_listen(pool, &stop), checks.serve(&stop, check));
            }
            Backend::Sqlite { following, .. } => {
                following.store(true, Ordering::SeqCst);
                stop.cancelled().await;
                following.store(false, Ordering::SeqCst);
            }
        }
    }

    /// Keeps one connection LISTENing; each time it (re)starts, every copy is forgotten, since what
    /// was committed while no one listened is unknown.
    async fn pg_listen(&self, pool: &PgPool, stop: &CancellationToken) {
        let Backend::Postgres { listening, .. } = &self.backend else { return };
        // A pool of its own: the listening connection is held for good.
        let own = PgPoolOptions::new()
            .max_connections(1)
            .max_lifetime(None)
            .idle_timeout(None)
            .connect_lazy_with(pool.connect_options().as_ref().clone().application_name(FEED_APPLICATION_NAME));
        while !stop.is_cancelled() {
            match self.pg_listen_once(&own, stop).await {
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

    /// Listens on one connection until it is lost, and sends on it the catch-up notes checks ask
    /// for: PostgreSQL delivers a session's own notification to it as its NOTIFY commits, after
    /// every one committed before, so a check costs one round trip to one backend (a second
    /// connection's NOTIFY also woke the listener's backend: two processes per check).
    async fn pg_listen_once(&self, own: &PgPool, stop: &CancellationToken) -> Result<(), sqlx::Error> {
        let Backend::Postgres { sync_channel, listening, received, wanted, ask, .. } = &self.backend else {
            return Ok(());
        };
        let mut listener = PgListener::connect_with(own).await?;
        listener.eager_reconnect(false);
        listener.ignore_pool_close_event(true);
        listener.listen_all([CHANGES_CHANNEL, sync_channel.as_str()]).await?;
        self.sink.changed_all();
        listening.store(true, Ordering::SeqCst);
        let mut sent = 0;
        loop {
            // `try_recv` may be cut short by a check's ask: sqlx reads a message whole or keeps
            // its bytes for the next call.
            let next = tokio::select! {
                () = stop.cancelled() => return Ok(()),
                () = ask.notified() => {
                    // Asks that came meanwhile share one note: the newest answers them all.
                    let n = wanted.load(Ordering::SeqCst);
                    if n > sent {
                        send_note(&mut listener, sync_channel, n).await?;
                        sent = n;
                    }
                    continue;
                }
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

    /// Asks the listener for catch-up note `n` and waits for it to come back.
    async fn pg_check(
        listening: &AtomicBool,
        received: &watch::Sender<u64>,
        wanted: &AtomicU64,
        ask: &Notify,
        n: u64,
    ) -> bool {
        if !listening.load(Ordering::SeqCst) {
            return false;
        }
        let mut back = received.subscribe();
        wanted.fetch_max(n, Ordering::SeqCst);
        ask.notify_one();
        let came_back = tokio::time::timeout(CATCH_UP_TIMEOUT, back.wait_for(|last| *last >= n)).await;
        // Lost on the way (the listener reconnected): its changes were forgotten, but this check
        // proves nothing about the ones after.
        matches!(came_back, Ok(Ok(_))) && listening.load(Ordering::SeqCst)
    }

    /// Reads `data_version` on the feed's own connection; a move since the last check forgets
    /// every copy (before any other check can answer: under the feed's lock). A new connection
    /// starts from an unknown past: it forgets every copy too. Runs on the calling thread
    /// (`DataVersion`): microseconds, with no database lock waited for.
    fn sqlite_check(&self, path: &std::path::Path, feed: &std::sync::Mutex<SqliteFeed>) -> bool {
        let mut feed = feed.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let read = match feed.conn.as_mut() {
            Some((conn, _)) => conn.read(),
            None => DataVersion::open(path).and_then(|mut conn| {
                let now = conn.read()?;
                feed.conn = Some((conn, i64::MIN));
                Ok(now)
            }),
        };
        match read {
            Ok(now) => {
                if let Some((_, last)) = feed.conn.as_mut()
                    && now != *last
                {
                    self.sink.changed_all();
                    *last = now;
                }
                if std::mem::take(&mut feed.failing) {
                    tracing::info!("the change feed reads the database's version again");
                }
                true
            }
            Err(error) => {
                // Said once, not at every read while it lasts.
                if !std::mem::replace(&mut feed.failing, true) {
                    tracing::warn!(%error, "the change feed cannot read the database's version; reads go to it");
                }
                feed.conn = None;
                false
            }
        }
    }
}

/// The SQLite feed's own connection, the version it last read, and whether its last check failed.
#[derive(Default)]
struct SqliteFeed {
    conn: Option<(DataVersion, i64)>,
    failing: bool,
}
