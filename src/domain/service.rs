//! [`Service`], the value every use case is a method of, and what the use cases share: the clock,
//! the settings (lease lengths among them), the member's start lease and its wait within the
//! caller's deadline, freeing an earlier life's leases, retries of optimistic writes, the polling
//! schedule, and [`Applied`].
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::time::Instant;

use super::doc_ports::Documents;
use super::error::DomainError;
use super::model::Process;
use super::ports::{ChangeSet, ESign, Lease, Store, StoreError};
use super::read_cache::Reads;
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
    /// Names this replica in leases (no `/`: it separates the parts of a holder's name).
    pub replica_id: String,
    /// Names this life of the replica: new at every start, so that a restarted replica tells the
    /// leases its earlier life held (and can free at once) from its own.
    pub instance_id: String,
    /// How long a start may hold a member's lease: as long as the upstream calls of one start can
    /// take, plus a margin ([`Settings::with_upstream_bounds`]).
    pub start_lease: Duration,
    /// How long a start waits for another start of the same member before answering UNAVAILABLE,
    /// when the caller's deadline does not end the wait earlier.
    pub start_wait: Duration,
    /// How long a callback holds an authorization's poll lease while it asks e签宝 (one read).
    pub query_lease: Duration,
    /// First reconciler poll after a step starts, doubling up to `poll_max`.
    pub poll_initial: Duration,
    pub poll_max: Duration,
    /// How long the reconciler keeps polling a face flow whose link has expired before giving up on it.
    pub face_flow_give_up_after: Duration,
    /// How long e签宝 keeps a company flow (30 days); the reconciler gives up on it after that.
    pub org_flow_life: Duration,
    /// Sign the evidence records (the first) and verify them (all).
    pub evidence_keys: super::evidence::EvidenceKeys,
    /// The callers (etc-sys-ids) who may review seals (SEAL_REVIEWERS).
    pub seal_reviewers: Vec<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            notify_url: "http://127.0.0.1:8080/esign/callback".into(),
            replica_id: "local".into(),
            instance_id: new_instance_id(),
            start_lease: Duration::from_secs(30),
            start_wait: Duration::from_secs(20),
            query_lease: Duration::from_secs(30),
            poll_initial: Duration::from_secs(5),
            poll_max: Duration::from_secs(300),
            face_flow_give_up_after: Duration::from_secs(24 * 3600),
            org_flow_life: ORG_FLOW_TTL,
            evidence_keys: super::evidence::EvidenceKeys::dev(),
            seal_reviewers: Vec::new(),
        }
    }
}

/// The most upstream writes one start makes under the member's lease (StartFaceAuth: the person
/// account, then the face flow; CreateOrgAuthorization: one).
pub const WRITES_PER_START: u32 = 2;
/// What a lease adds to the upstream calls it protects: the database reads and the commit around them.
pub const LEASE_MARGIN: Duration = Duration::from_secs(1);

impl Settings {
    /// The leases sized by how long the upstream calls they protect can take: `write` and `read`
    /// are the longest one upstream write and one read (with its retries) can take.
    pub fn with_upstream_bounds(mut self, write: Duration, read: Duration) -> Self {
        self.start_lease = write * WRITES_PER_START + LEASE_MARGIN;
        self.query_lease = read + LEASE_MARGIN;
        self
    }

    /// What every holder name of this life of the replica starts with: `{replica_id}/{instance_id}`.
    pub fn holder(&self) -> String {
        format!("{}/{}", self.replica_id, self.instance_id)
    }
}

/// e签宝's face link lives 30 minutes from its creation.
pub const FACE_LINK_TTL: Duration = Duration::from_secs(30 * 60);
/// e签宝 keeps a company identity flow 30 days.
pub const ORG_FLOW_TTL: Duration = Duration::from_secs(30 * 24 * 3600);
/// e签宝's authorization download URL lives 60 minutes from when it is answered.
pub const DOWNLOAD_URL_TTL: Duration = Duration::from_secs(60 * 60);

pub fn chrono_dur(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

/// Names the member on the enclosing span when it has a `member` field (the `rpc` and `callback`
/// spans do), masked as `MemberNo` prints; elsewhere, e.g. in the reconciler, it does nothing.
pub fn record_member(member: &MemberNo) {
    let span = tracing::Span::current();
    // A disabled span (a read's, at the default level) records nothing: skip masking for it.
    if !span.is_disabled() {
        span.record("member", tracing::field::display(member));
    }
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
    /// Processes kept between reads, and the feed that says when they are current.
    pub(crate) reads: Reads,
}

/// How many times a read-modify-write is retried when another writer got there first.
const CONFLICT_RETRIES: usize = 8;

impl Service {
    pub fn new(store: Arc<dyn Store>, esign: Arc<dyn ESign>, clock: Arc<dyn Clock>, settings: Settings) -> Self {
        Self { store, esign, clock, settings: Arc::new(settings), documents: None, reads: Reads::default() }
    }

    /// The same service, keeping pictures in `documents`.
    pub fn with_documents(mut self, documents: Arc<dyn Documents>) -> Self {
        self.documents = Some(documents);
        self
    }

    /// The same service, answering reads from `reads.cache` while `reads.feed` keeps it current.
    pub fn with_reads(mut self, reads: Reads) -> Self {
        self.reads = reads;
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
    /// (on any replica) make one upstream call. Waits for another holder up to `start_wait`, and
    /// never past `deadline` (the caller's) less a margin to answer in: then `Busy`, with the time
    /// until the other holder's lease ends. `body` gets the process as stored when the lease was
    /// taken (read by the statement that took it), and the lease: a commit of its own may free it
    /// ([`Service::commit_freeing`]), and then no release follows.
    pub(crate) async fn with_member_lease<T, F, Fut>(
        &self,
        member: &MemberNo,
        deadline: Option<Instant>,
        body: F,
    ) -> Result<T, DomainError>
    where
        F: FnOnce(Process, Arc<HeldLease>) -> Fut,
        Fut: std::future::Future<Output = Result<T, DomainError>>,
    {
        let holder = format!("{}/{}", self.settings.holder(), holding_id());
        let give_up = wait_end(Instant::now(), self.settings.start_wait, deadline);
        let mut pause = Duration::from_millis(5);
        let process = loop {
            let now = self.now();
            let lease = Lease { holder: holder.clone(), until: now + chrono_dur(self.settings.start_lease) };
            if let Some(process) = self.store.lease_member(member, &lease, now).await? {
                break process;
            }
            let left = give_up.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(self.busy(member).await);
            }
            tokio::time::sleep(pause.min(left)).await;
            pause = (pause * 2).min(Duration::from_millis(100));
        };
        let held = Arc::new(HeldLease { holder, freed: AtomicBool::new(false) });
        let result = body(process, held.clone()).await;
        if held.freed.load(Ordering::Relaxed) {
            return result;
        }
        // Released even when the body failed, after the caller has its answer: the release is a
        // write of its own that the answer need not wait for; a call that needs the lease meanwhile
        // waits a few ms at most. A lease never released (the process died first) is freed when the
        // replica starts again, or expires. Spawning it costs the answer a wake of another thread
        // (0.1 ms on 2 cores: README "Performance"), so a start frees its lease with its commit.
        let (store, member, holder) = (self.store.clone(), member.clone(), held.holder.clone());
        tokio::spawn(async move {
            if let Err(e) = store.release_member(&member, &holder).await {
                tracing::warn!(member = %member, error = %e, "could not release a member lease; it expires by itself");
            }
        });
        result
    }

    /// `Busy`, with when to retry: once the other holder's lease ends (a live holder usually
    /// releases it sooner; a dead one's is taken over then).
    async fn busy(&self, member: &MemberNo) -> DomainError {
        let until = self.store.member_lease_until(member).await.ok().flatten();
        let left = until.and_then(|u| (u - self.now()).to_std().ok()).unwrap_or_default();
        DomainError::Busy { retry_after: retry_hint(left, self.settings.start_lease) }
    }

    /// Frees every lease (member, face flow, authorization) that an earlier life of this replica
    /// held: that process is gone, and waiting for its leases to expire would only hold up the
    /// members it was working on. Called before the service says SERVING; a lease of another
    /// replica is left to expire. Answers how many were freed.
    pub async fn reclaim_earlier_leases(&self) -> Result<u64, StoreError> {
        let replica = format!("{}/", self.settings.replica_id);
        let mine = format!("{}/", self.settings.holder());
        let freed = self.store.release_leases_held_by(&replica, &mine).await?;
        if freed > 0 {
            tracing::info!(freed, "freed the leases an earlier life of this replica held");
        }
        Ok(freed)
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
            || !changes.org_flows.is_empty()
            || !changes.inbox_applied.is_empty()
            || !changes.evidence.is_empty()
        {
            self.store.commit(changes).await?;
        }
        Ok(())
    }
}

/// When a wait for another holder that began at `started` ends: after `wait`, and early enough
/// before the caller's `deadline` to answer in time — a tenth of the time the call had left when
/// it began, and at least [`ANSWER_MARGIN`].
fn wait_end(started: Instant, wait: Duration, deadline: Option<Instant>) -> Instant {
    let own = started + wait;
    let Some(deadline) = deadline else { return own };
    let margin = (deadline.saturating_duration_since(started) / 10).max(ANSWER_MARGIN);
    let callers = deadline.checked_sub(margin).unwrap_or(started).max(started);
    own.min(callers)
}

/// The least time kept for answering before a caller's deadline: the last try, reading the other
/// holder's lease and sending the answer, on a busy machine.
const ANSWER_MARGIN: Duration = Duration::from_millis(100);

/// The retry delay to hint: the time left on the other holder's lease, at least a moment (a lease
/// just released is worth a retry at once) and at most one lease (clocks of replicas differ).
fn retry_hint(left: Duration, lease: Duration) -> Duration {
    left.clamp(Duration::from_millis(50), lease.max(Duration::from_millis(50)))
}

/// A new instance id: 8 random hex digits, enough to tell the lives of one replica apart.
pub fn new_instance_id() -> String {
    format!("{:08x}", rand::random::<u32>())
}

/// The member's start lease as a body of [`Service::with_member_lease`] holds it.
pub(crate) struct HeldLease {
    holder: String,
    freed: AtomicBool,
}

impl Service {
    /// Commits `changes` and frees `lease` with them (`ChangeSet::release_lease`: the process's
    /// update frees it if this holder still holds it); no release follows the body then.
    pub(crate) async fn commit_freeing(&self, mut changes: ChangeSet, lease: &HeldLease) -> Result<(), DomainError> {
        changes.release_lease = Some(lease.holder.clone());
        self.store.commit(changes).await?;
        lease.freed.store(true, Ordering::Relaxed);
        Ok(())
    }

    /// The process a read-modify-write under the member's lease starts from: `kept`, as the
    /// lease read it, on its first attempt; the stored one after its commit conflicted.
    pub(crate) async fn kept_or_stored(
        &self,
        kept: Option<Process>,
        member: &MemberNo,
    ) -> Result<Process, DomainError> {
        match kept {
            Some(process) => Ok(process),
            None => self.process(member).await,
        }
    }
}

/// 16 random hex digits naming one holding of a lease, so that a release frees only its own.
fn holding_id() -> String {
    format!("{:016x}", rand::random::<u64>())
}

#[cfg(test)]
mod tests {
    use super::*;

    const WAIT: Duration = Duration::from_secs(20);

    #[test]
    fn a_wait_without_a_deadline_lasts_start_wait() {
        let t = Instant::now();
        assert_eq!(wait_end(t, WAIT, None), t + WAIT);
    }

    #[test]
    fn a_wait_ends_a_tenth_of_the_call_before_a_long_deadline_and_100_ms_before_a_short_one() {
        let t = Instant::now();
        let ms = Duration::from_millis;
        assert_eq!(wait_end(t, WAIT, Some(t + ms(5000))), t + ms(4500));
        assert_eq!(wait_end(t, WAIT, Some(t + ms(300))), t + ms(200));
        // A deadline beyond the own wait does not lengthen it.
        assert_eq!(wait_end(t, WAIT, Some(t + Duration::from_secs(60))), t + WAIT);
        // A deadline too close (or past) to wait at all: one try, then the answer.
        assert_eq!(wait_end(t, WAIT, Some(t + ms(80))), t);
        assert_eq!(wait_end(t + ms(10), WAIT, Some(t)), t + ms(10));
    }

    #[test]
    fn the_retry_hint_is_the_lease_left_within_a_moment_and_one_lease() {
        let lease = Duration::from_secs(27);
        assert_eq!(retry_hint(Duration::from_secs(3), lease), Duration::from_secs(3));
        assert_eq!(retry_hint(Duration::ZERO, lease), Duration::from_millis(50));
        assert_eq!(retry_hint(Duration::from_secs(600), lease), lease);
    }

    #[test]
    fn leases_follow_from_the_upstream_bounds() {
        let s = Settings::default().with_upstream_bounds(Duration::from_secs(13), Duration::from_millis(39_300));
        assert_eq!(s.start_lease, Duration::from_secs(27));
        assert_eq!(s.query_lease, Duration::from_millis(40_300));
    }

    #[test]
    fn every_life_of_a_replica_names_its_holders_apart() {
        let (a, b) = (Settings::default(), Settings::default());
        assert!(a.holder().starts_with("local/") && b.holder().starts_with("local/"));
        assert_ne!(a.holder(), b.holder());
    }
}
