//! [`Service`], the value every use case is a method of, and what the use cases share: the clock,
//! the settings, the member's start lease, retries of optimistic writes, the polling schedule, and
//! [`Applied`].
use std::{sync::Arc, time::Duration};

use chrono::{DateTime, Utc};

use super::doc_ports::Documents;
use super::error::DomainError;
use super::ports::{ChangeSet, ESign, Lease, Store, StoreError};
use super::values::MemberNo;

/// Where "now" comes from, so tests can move it.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
}

/// The wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// Knobs of the process, set from configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The URL e签宝 calls back (the service's own receiver), never a caller's.
    pub notify_url: String,
    /// Names this replica in leases.
    pub replica_id: String,
    /// How long a start may hold a member's lease (longer than the slowest upstream call).
    pub start_lease: Duration,
    /// How long a start waits for another start of the same member before answering UNAVAILABLE.
    pub start_wait: Duration,
    /// First reconciler poll after a step starts, doubling up to `poll_max`.
    pub poll_initial: Duration,
    pub poll_max: Duration,
    /// How long the reconciler keeps polling a face flow whose link has expired before giving up on it.
    pub face_flow_give_up_after: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            notify_url: "http://127.0.0.1:8080/esign/callback".into(),
            replica_id: "local".into(),
            start_lease: Duration::from_secs(30),
            start_wait: Duration::from_secs(20),
            poll_initial: Duration::from_secs(5),
            poll_max: Duration::from_secs(300),
            face_flow_give_up_after: Duration::from_secs(24 * 3600),
        }
    }
}

/// e签宝's face link lives 30 minutes from its creation.
pub const FACE_LINK_TTL: Duration = Duration::from_secs(30 * 60);
/// e签宝's authorization download URL lives 60 minutes from when it is answered.
pub const DOWNLOAD_URL_TTL: Duration = Duration::from_secs(60 * 60);

pub fn chrono_dur(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

/// Names the member on the enclosing span when it has a `member` field (the `rpc` and `callback`
/// spans do), masked as `MemberNo` prints; elsewhere, e.g. in the reconciler, it does nothing.
pub fn record_member(member: &MemberNo) {
    tracing::Span::current().record("member", tracing::field::display(member));
}

/// What an `apply_*` (a result from a callback or a poll) did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// The record and (if it is the member's current one) the process moved.
    Changed,
    /// Nothing moved: already applied, about an unknown subject, or it would move the process
    /// backwards.
    Unchanged,
}

/// The process's use cases. Cheap to clone.
#[derive(Clone)]
pub struct Service {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) esign: Arc<dyn ESign>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) settings: Arc<Settings>,
    /// Where pictures are kept; `None`: the documents RPCs answer UNAVAILABLE.
    pub(crate) documents: Option<Arc<dyn Documents>>,
}

/// How many times a read-modify-write is retried when another writer got there first.
const CONFLICT_RETRIES: usize = 8;

impl Service {
    pub fn new(store: Arc<dyn Store>, esign: Arc<dyn ESign>, clock: Arc<dyn Clock>, settings: Settings) -> Self {
        Self { store, esign, clock, settings: Arc::new(settings), documents: None }
    }

    /// The same service, keeping pictures in `documents`.
    pub fn with_documents(mut self, documents: Arc<dyn Documents>) -> Self {
        self.documents = Some(documents);
        self
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Now, to the millisecond: instants are stored in milliseconds, and an answer given before a
    /// write must equal the one read back after it. Edges that judge expiry ask this clock too, so
    /// they judge it as the domain does.
    pub fn now(&self) -> DateTime<Utc> {
        let t = self.clock.now();
        DateTime::from_timestamp_millis(t.timestamp_millis()).unwrap_or(t)
    }

    /// Runs `body` while holding the member's start lease, so that concurrent starts for one member
    /// (on any replica) make one upstream call. Waits for another holder up to `start_wait`.
    pub(crate) async fn with_member_lease<T, F, Fut>(&self, member: &MemberNo, body: F) -> Result<T, DomainError>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<T, DomainError>>,
    {
        let holder = format!("{}:{}", self.settings.replica_id, holding_id());
        let deadline = tokio_now() + self.settings.start_wait;
        let mut pause = Duration::from_millis(5);
        loop {
            let now = self.now();
            let lease = Lease { holder: holder.clone(), until: now + chrono_dur(self.settings.start_lease) };
            if self.store.try_lease_member(member, &lease, now).await? {
                break;
            }
            if tokio_now() >= deadline {
                return Err(DomainError::Busy);
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(100));
        }
        let result = body().await;
        // Release even when the body failed; an unreleased lease only delays the next start.
        let released = self.store.release_member(member, &holder).await;
        match (result, released) {
            (Ok(v), Ok(())) => Ok(v),
            (Err(e), _) => Err(e),
            (Ok(v), Err(e)) => {
                tracing::warn!(member = %member, error = %e, "could not release a member lease; it expires by itself");
                Ok(v)
            }
        }
    }

    /// Retries a read-modify-write whose commit lost an optimistic-concurrency race.
    pub(crate) async fn retry_on_conflict<T, F, Fut>(&self, mut body: F) -> Result<T, DomainError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, DomainError>>,
    {
        let mut attempt = 0;
        loop {
            match body().await {
                Err(DomainError::Store(StoreError::Conflict)) if attempt < CONFLICT_RETRIES => attempt += 1,
                other => return other,
            }
        }
    }

    /// When to poll an item again after `attempts` polls: doubling from `poll_initial` to `poll_max`,
    /// with ±20% jitter so that replicas and items spread out.
    pub(crate) fn next_poll_at(&self, attempts: i32) -> DateTime<Utc> {
        let base = self.settings.poll_initial.as_millis() as f64 * 2f64.powi(attempts.clamp(0, 20));
        let capped = base.min(self.settings.poll_max.as_millis() as f64);
        let jitter = 0.8 + rand::random::<f64>() * 0.4;
        self.now() + chrono::Duration::milliseconds((capped * jitter) as i64)
    }

    /// Commits `changes` unless there are none (an event about nothing still marks its inbox row).
    pub(crate) async fn commit_if_any(&self, changes: ChangeSet) -> Result<(), DomainError> {
        if changes.process.is_some()
            || !changes.face_flows.is_empty()
            || !changes.authorizations.is_empty()
            || !changes.inbox_applied.is_empty()
        {
            self.store.commit(changes).await?;
        }
        Ok(())
    }
}

fn tokio_now() -> tokio::time::Instant {
    tokio::time::Instant::now()
}

/// 16 random hex digits naming one holding of a lease, so that a release frees only its own.
fn holding_id() -> String {
    format!("{:016x}", rand::random::<u64>())
}
