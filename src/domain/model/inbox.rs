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
    /// `AUTHORIZATION_RESULT`: the authorization ended (succeeded, failed or cancelled).
    AuthorizationResult {
        auth_id: AuthId,
        status: AuthorizationStatus,
        auth_des: Option<String>,
        occurred_at: DateTime<Utc>,
    },
}

/// An inbox event as stored, with its row id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    pub id: i64,
    pub event: InboxEvent,
}
