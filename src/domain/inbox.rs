//! Verified e签宝 notifications: stored once per event, then applied (see `model::inbox`), and
//! those stored but never applied (a crash in between) applied by the reconciler.
use super::error::DomainError;
use super::model::{IdentityResult, InboxEvent, Source, StoredEvent};
use super::ports::InboxInsert;
use super::{Applied, Service, chrono_dur};

/// How long a stored event belongs to the receiver that stored it before the reconciler may apply
/// it: far longer than an apply takes, far shorter than e签宝's next delivery of the same event.
pub const INBOX_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

impl Service {
    /// Stores a verified callback (once per event) and applies it. A duplicate of an applied event is
    /// acknowledged and ignored; one stored but never applied (a crash in between) is applied now.
    /// `action` is the notification's, kept with it as the source of what it changes.
    pub async fn receive_event(&self, event: InboxEvent, action: &str) -> Result<Applied, DomainError> {
        let id = match self.store.insert_inbox(&event, action, self.now()).await? {
            InboxInsert::New(id) => id,
            InboxInsert::Duplicate { applied: true, .. } => return Ok(Applied::Unchanged),
            InboxInsert::Duplicate { id, applied: false } => id,
        };
        self.apply_stored(&StoredEvent { id, action: action.to_owned(), event }).await
    }

    /// Applies one stored event, marking it applied in the same commit.
    pub async fn apply_stored(&self, stored: &StoredEvent) -> Result<Applied, DomainError> {
        let by = Source::Callback { action: stored.action.clone() };
        match &stored.event {
            InboxEvent::IdentityResult { flow_id, success, fail_reason, .. } => {
                let result =
                    IdentityResult { flow_id: flow_id.clone(), success: *success, fail_reason: fail_reason.clone() };
                self.apply_identity_result(&result, Some(stored.id), &by).await
            }
            InboxEvent::AuthorizationResult { auth_id, status, auth_des, .. } => {
                self.apply_authorization_result(auth_id, *status, auth_des.clone(), Some(stored.id), &by).await
            }
        }
    }

    /// Applies events stored but not applied (the process died between storing and applying).
    /// Only events older than `INBOX_GRACE`: a younger one is still being applied by the receiver
    /// that stored it, and taking it over would only make that receiver report a duplicate.
    pub async fn drain_inbox(&self, limit: u64) -> Result<usize, DomainError> {
        let received_before = self.now() - chrono_dur(INBOX_GRACE);
        let pending = self.store.pending_inbox(received_before, limit).await?;
        for stored in &pending {
            self.apply_stored(stored).await?;
        }
        Ok(pending.len())
    }
}
