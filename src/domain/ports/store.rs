//! The store as the process needs it: atomic change sets (each move with its history entry),
//! leases, the inbox, the reconciler's claims. `crate::store` implements it on SeaORM.
use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::domain::model::{
    Authorization, CertNo, Evidence, FaceFlow, HistoryEntry, InboxEvent, OrgFlow, Process, ProcessStatus, SealRecord,
    SealReview, SealReviewStatus, Source, StoredEvent,
};
use crate::domain::values::{AuthId, FlowId, MemberNo};

/// The store failed; the caller may retry.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Someone else changed the row since it was read (optimistic concurrency).
    #[error("the record was changed concurrently")]
    Conflict,
    /// The database could not be reached or refused the statement.
    #[error("database error: {0}")]
    Database(String),
    /// A stored value could not be read back (corrupt or written by a newer version).
    #[error("stored data is unreadable: {0}")]
    Corrupt(String),
    /// A change moved the process but did not say what made it: a bug, refused so that no move
    /// is ever stored without its history entry.
    #[error("a change moved the process without naming its source")]
    Unsourced,
}

/// What one atomic write changes. Everything in it commits together or not at all.
#[derive(Debug, Default, Clone)]
pub struct ChangeSet {
    /// The process, written only if its stored version is still `process.version()`;
    /// its version then goes up by one.
    pub process: Option<Process>,
    /// Face flows to insert or replace (by flow id).
    pub face_flows: Vec<FaceFlow>,
    /// Authorizations to insert or replace (by authorization id).
    pub authorizations: Vec<Authorization>,
    /// Company flows to insert or replace (by flow id).
    pub org_flows: Vec<OrgFlow>,
    /// Inbox events that this change applies.
    pub inbox_applied: Vec<i64>,
    /// Evidence records to insert (never replaced); a second record at one member's place in the
    /// chain is a `Conflict`.
    pub evidence: Vec<Evidence>,
    /// What made the change: each of the process's moves is written to its history with it. A
    /// change that moves the process without a source is refused (`StoreError::Unsourced`).
    pub source: Option<Source>,
    /// The member's start lease, freed with the process's update if this holder still holds it
    /// (anyone else's is left alone): a start's last write frees the lease it ran under, sparing
    /// a write of its own after the answer. Ignored without a process.
    pub release_lease: Option<String>,
}

/// Whether an inbox insert was new.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InboxInsert {
    New(i64),
    /// The same event (not the same delivery) was stored before; `applied` says whether it was applied.
    Duplicate {
        id: i64,
        applied: bool,
    },
}

/// A lease on a row, so that one replica at a time works on it.
#[derive(Debug, Clone)]
pub struct Lease {
    pub holder: String,
    pub until: DateTime<Utc>,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Cheap reachability check, for health.
    async fn ping(&self) -> Result<(), StoreError>;

    async fn process(&self, member: &MemberNo) -> Result<Option<Process>, StoreError>;
    async fn face_flow(&self, flow_id: &FlowId) -> Result<Option<FaceFlow>, StoreError>;
    /// The member's newest face flow.
    async fn latest_face_flow(&self, member: &MemberNo) -> Result<Option<FaceFlow>, StoreError>;
    async fn org_flow(&self, flow_id: &FlowId) -> Result<Option<OrgFlow>, StoreError>;
    /// The member's newest company flow.
    async fn latest_org_flow(&self, member: &MemberNo) -> Result<Option<OrgFlow>, StoreError>;
    async fn authorization(&self, auth_id: &AuthId) -> Result<Option<Authorization>, StoreError>;
    /// The member's newest authorization.
    async fn latest_authorization(&self, member: &MemberNo) -> Result<Option<Authorization>, StoreError>;
    async fn authorization_by_request(
        &self,
        member: &MemberNo,
        request_id: &str,
    ) -> Result<Option<Authorization>, StoreError>;

    /// The member's process with every evidence record of the member (by position), in one round
    /// trip: what GetProcessDetail answers.
    async fn process_with_evidence(&self, member: &MemberNo) -> Result<Option<(Process, Vec<Evidence>)>, StoreError>;
    /// An evidence record by its id.
    async fn evidence(&self, cert_no: &CertNo) -> Result<Option<Evidence>, StoreError>;
    /// Every evidence record of the member, by position in its chain (oldest first).
    async fn member_evidence(&self, member: &MemberNo) -> Result<Vec<Evidence>, StoreError>;

    /// Up to `limit` entries of the member's history after `after` (a `seq`; from the start when
    /// `None`), oldest first.
    async fn history(&self, member: &MemberNo, after: Option<i64>, limit: u64)
    -> Result<Vec<HistoryEntry>, StoreError>;

    /// Writes a change set atomically; `Conflict` when the process version moved.
    async fn commit(&self, changes: ChangeSet) -> Result<(), StoreError>;

    /// Takes the member's start lease (a guard against starting two upstream flows at once),
    /// creating the member's row if needed, and answers the process as stored then (one statement:
    /// the start goes on from it without reading again). `None`: someone else holds an unexpired
    /// lease.
    async fn lease_member(
        &self,
        member: &MemberNo,
        lease: &Lease,
        now: DateTime<Utc>,
    ) -> Result<Option<Process>, StoreError>;
    /// `lease_member`, answering only whether the lease was taken.
    async fn try_lease_member(&self, member: &MemberNo, lease: &Lease, now: DateTime<Utc>) -> Result<bool, StoreError> {
        Ok(self.lease_member(member, lease, now).await?.is_some())
    }
    async fn release_member(&self, member: &MemberNo, holder: &str) -> Result<(), StoreError>;
    /// Until when the member's start lease is (or was) held, whoever holds it; `None` when released.
    async fn member_lease_until(&self, member: &MemberNo) -> Result<Option<DateTime<Utc>>, StoreError>;
    /// Frees every lease of every leased table (members, face flows, authorizations) whose holder
    /// starts with `prefix` but not with `keep`; answers how many.
    async fn release_leases_held_by(&self, prefix: &str, keep: &str) -> Result<u64, StoreError>;

    /// Stores a verified callback, received with `action`, once per event key.
    async fn insert_inbox(
        &self,
        event: &InboxEvent,
        action: &str,
        received_at: DateTime<Utc>,
    ) -> Result<InboxInsert, StoreError>;
    /// Inbox events received before `received_before` but not applied (a crash between store and
    /// apply), oldest first.
    async fn pending_inbox(&self, received_before: DateTime<Utc>, limit: u64) -> Result<Vec<StoredEvent>, StoreError>;

    /// Leases up to `limit` running face flows whose next poll is due.
    async fn claim_due_face_flows(
        &self,
        now: DateTime<Utc>,
        lease: &Lease,
        limit: u64,
    ) -> Result<Vec<FaceFlow>, StoreError>;
    /// Leases up to `limit` running company flows whose next poll is due.
    async fn claim_due_org_flows(
        &self,
        now: DateTime<Utc>,
        lease: &Lease,
        limit: u64,
    ) -> Result<Vec<OrgFlow>, StoreError>;
    /// Moves a company flow's next poll and releases its lease, touching nothing else of it.
    async fn reschedule_org_flow(
        &self,
        flow_id: &FlowId,
        next_poll_at: DateTime<Utc>,
        attempts: i32,
    ) -> Result<(), StoreError>;
    /// Leases up to `limit` in-progress authorizations whose next poll is due.
    async fn claim_due_authorizations(
        &self,
        now: DateTime<Utc>,
        lease: &Lease,
        limit: u64,
    ) -> Result<Vec<Authorization>, StoreError>;
    /// Moves a flow's next poll and releases its lease, touching nothing else of it.
    async fn reschedule_face_flow(
        &self,
        flow_id: &FlowId,
        next_poll_at: DateTime<Utc>,
        attempts: i32,
    ) -> Result<(), StoreError>;
    /// Takes one authorization's poll lease (the one `claim_due_authorizations` takes), due or not.
    /// False: another holder (a reconciler, on any replica) has an unexpired lease on it.
    async fn try_lease_authorization(
        &self,
        auth_id: &AuthId,
        lease: &Lease,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// Moves an authorization's next poll and releases its lease, touching nothing else of it.
    async fn reschedule_authorization(
        &self,
        auth_id: &AuthId,
        next_poll_at: DateTime<Utc>,
        attempts: i32,
    ) -> Result<(), StoreError>;
    /// How many items wait for the reconciler, and since when the oldest does.
    async fn backlog(&self) -> Result<(u64, Option<DateTime<Utc>>), StoreError>;

    /// The review records of the seals of the member's company.
    async fn seal_records(&self, member: &MemberNo) -> Result<Vec<SealRecord>, StoreError>;
    /// One seal's review record.
    async fn seal_record(&self, seal_id: &str) -> Result<Option<SealRecord>, StoreError>;
    /// Inserts the records not stored yet; a stored one is left as it is.
    async fn insert_seal_records(&self, records: &[SealRecord]) -> Result<(), StoreError>;
    /// Writes `record` only while its stored status is still `expected` (false otherwise: another
    /// writer moved it), together with the history entry of a review when one is given.
    async fn update_seal_record(
        &self,
        record: &SealRecord,
        expected: SealReviewStatus,
        review: Option<(ProcessStatus, SealReview, Source)>,
    ) -> Result<bool, StoreError>;
    /// Forgets a deleted seal.
    async fn delete_seal_record(&self, seal_id: &str) -> Result<(), StoreError>;
    /// A page of the seals waiting for review (oldest submission first), and how many wait.
    async fn seals_to_review(&self, offset: u64, limit: u64) -> Result<(Vec<SealRecord>, u64), StoreError>;
}
