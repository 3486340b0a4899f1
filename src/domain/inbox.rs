//! Verified e签宝 notifications, in the process's words. They are stored once per *event* (not per
//! delivery: e签宝 delivers the same event many times, and twice by design when a console webhook
//! and a per-request notify URL are both set) and applied exactly once.
use chrono::{DateTime, Utc};

use super::ports::AuthorizationStatus;
use super::values::{AuthId, FlowId};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InboxEvent {
    /// `FACE_AUTH_RESULT`: the face flow ended.
    FaceResult { flow_id: FlowId, success: bool, fail_reason: Option<String>, occurred_at: DateTime<Utc> },
    /// `AUTHORIZATION_RESULT`: the authorization ended (2 succeeded, 3 failed, 4 cancelled).
    AuthorizationResult {
        auth_id: AuthId,
        status: AuthorizationStatus,
        auth_des: Option<String>,
        occurred_at: DateTime<Utc>,
    },
}

impl InboxEvent {
    /// The de-duplication key: the subject and its final outcome.
    pub fn key(&self) -> String {
        match self {
            Self::FaceResult { flow_id, success, .. } => {
                format!("face:{flow_id}:{}", if *success { "SUCCESS" } else { "FAIL" })
            }
            Self::AuthorizationResult { auth_id, status, .. } => format!("auth:{auth_id}:{}", status.code()),
        }
    }
}

/// An inbox event as stored, with its row id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    pub id: i64,
    pub event: InboxEvent,
}

use super::Service;
use super::error::DomainError;
use super::face_auth::{Applied, FaceResult};
use super::ports::InboxInsert;

impl Service {
    /// Stores a verified callback (once per event) and applies it. A duplicate of an applied event is
    /// acknowledged and ignored; one stored but never applied (a crash in between) is applied now.
    pub async fn receive_event(&self, event: InboxEvent) -> Result<Applied, DomainError> {
        let id = match self.store.insert_inbox(&event, self.now()).await? {
            InboxInsert::New(id) => id,
            InboxInsert::Duplicate { applied: true, .. } => return Ok(Applied::Ignored),
            InboxInsert::Duplicate { id, applied: false } => id,
        };
        self.apply_stored(&StoredEvent { id, event }).await
    }

    /// Applies one stored event, marking it applied in the same commit.
    pub async fn apply_stored(&self, stored: &StoredEvent) -> Result<Applied, DomainError> {
        match &stored.event {
            InboxEvent::FaceResult { flow_id, success, fail_reason, .. } => {
                let result =
                    FaceResult { flow_id: flow_id.clone(), success: *success, fail_reason: fail_reason.clone() };
                self.apply_face_result(&result, Some(stored.id)).await
            }
            InboxEvent::AuthorizationResult { auth_id, status, auth_des, .. } => {
                self.apply_authorization_result(auth_id, *status, auth_des.clone(), Some(stored.id)).await
            }
        }
    }

    /// Applies events stored but not applied (the process died between storing and applying).
    pub async fn drain_inbox(&self, limit: u64) -> Result<usize, DomainError> {
        let pending = self.store.pending_inbox(limit).await?;
        for stored in &pending {
            self.apply_stored(stored).await?;
        }
        Ok(pending.len())
    }
}
