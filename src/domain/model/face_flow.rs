//! One e签宝 identity flow of the handler (node HANDLER_AUTH) — face recognition, or the telecom
//! 3-factor check by SMS — as the service keeps it, and its end. Both kinds live in one table and
//! one record: they end the same way (a callback or the outline), and only the member's newest
//! flow, whichever kind, speaks for the process.
use chrono::{DateTime, Utc};

use crate::domain::values::{AccountId, FlowId, MemberNo};

/// Where a face flow stands, as the service keeps it: its own view, which e签宝's `flowStatus`
/// (`esign::api::FlowStatus`) feeds but does not spell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaceFlowStatus {
    Running,
    Succeeded,
    Failed,
    /// e签宝 never finished it; the reconciler stopped asking (the member may start again).
    Abandoned,
}

impl FaceFlowStatus {
    pub fn is_final(self) -> bool {
        self != Self::Running
    }
}

/// How the handler proves who they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandlerMethod {
    /// A face check on a page (`auth_url`).
    Face,
    /// The telecom 3-factor check and a 6-digit code by SMS (no page: the URLs are empty).
    Sms,
}

/// One e签宝 identity flow of the handler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaceFlow {
    pub flow_id: FlowId,
    pub method: HandlerMethod,
    pub member_no: MemberNo,
    pub account_id: AccountId,
    pub auth_url: String,
    pub original_url: String,
    pub created_at: DateTime<Utc>,
    /// When the link stops working (30 minutes after creation), or the SMS code (15 minutes).
    pub expires_at: DateTime<Utc>,
    pub status: FaceFlowStatus,
    pub fail_reason: Option<String>,
    pub finished_at: Option<DateTime<Utc>>,
    /// When the reconciler asks e签宝 next, and how often it has asked.
    pub next_poll_at: DateTime<Utc>,
    pub poll_attempts: i32,
}
