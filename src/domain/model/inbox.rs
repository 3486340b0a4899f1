//! Verified e签宝 notifications, in the process's words. They are stored once per *event* (not per
//! delivery: e签宝 delivers the same event many times, and twice by design when a console webhook
//! and a per-request notify URL are both set) and applied exactly once.
use chrono::{DateTime, Utc};

use super::authorization::AuthorizationStatus;
use crate::domain::values::{AuthId, FlowId};

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
