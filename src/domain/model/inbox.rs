//! Verified e签宝 notifications, in the process's words. They are stored once per *event* (not per
//! delivery: e签宝 delivers the same event many times, and twice by design when a console webhook
//! and a per-request notify URL are both set) and applied exactly once.
use chrono::{DateTime, Utc};

use super::authorization::AuthorizationStatus;
use crate::domain::values::{AuthId, FlowId};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InboxEvent {
    /// An identity flow ended (face, SMS, the company's 4 factors or payment), whichever form the
    /// callback took (`FACE_AUTH_RESULT`, `identity_psn_end`, `identity_org_end`, or no `action`):
    /// applied by flow id to whichever kind of flow it is.
    /// `occurred_at` is the body's `timestamp`, which e签宝's identity notifications may leave out.
    IdentityResult { flow_id: FlowId, success: bool, fail_reason: Option<String>, occurred_at: Option<DateTime<Utc>> },
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
    /// The notification's `action` (empty when e签宝 sent none): the source of what it changes.
    pub action: String,
    pub event: InboxEvent,
}
