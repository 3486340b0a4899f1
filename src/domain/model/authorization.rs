//! An authorization of silent signing (node AUTHORIZED) as the service keeps it, with the
//! statuses and kinds seed 002 gives it.
use chrono::{DateTime, Utc};

use crate::domain::values::{AuthId, MemberNo};

/// An authorization as the service keeps it (seed 002's fields plus what ties it to a member).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    pub auth_id: AuthId,
    pub member_no: MemberNo,
    pub request_id: String,
    /// Hash of the create request's fields: a retry with the same request id must match it.
    pub request_fingerprint: String,
    pub organize_id: String,
    pub auth_type: AuthType,
    pub person_id: Option<String>,
    pub authorizer_type: Option<AuthorizerType>,
    pub legal_rep_id: Option<String>,
    pub status: AuthorizationStatus,
    pub auth_des: Option<String>,
    pub download_url: Option<String>,
    pub download_url_expires_at: Option<DateTime<Utc>>,
    pub begin_at: Option<DateTime<Utc>>,
    pub end_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub next_poll_at: DateTime<Utc>,
    pub poll_attempts: i32,
}

impl Authorization {
    /// Whether e签宝 must be asked: the result is not final, or it succeeded and the download URL
    /// is missing or about to expire (a minute's margin, so a URL handed out still works).
    pub fn needs_refresh(&self, now: DateTime<Utc>) -> bool {
        match self.status {
            AuthorizationStatus::InProgress => true,
            AuthorizationStatus::Succeeded => self.download_url_valid_at(now + chrono::Duration::minutes(1)).is_none(),
            AuthorizationStatus::Failed | AuthorizationStatus::Cancelled => false,
        }
    }

    /// The download URL if it still works at `at`.
    pub fn download_url_valid_at(&self, at: DateTime<Utc>) -> Option<&str> {
        match (&self.download_url, self.download_url_expires_at) {
            (Some(url), Some(exp)) if exp > at => Some(url),
            _ => None,
        }
    }
}

/// Whom the company authorizes to seal silently (seed 004 `authType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuthType {
    /// The platform.
    #[default]
    Platform,
    /// A handler (whose account id is then required).
    Handler,
}

/// `status` of an authorization (seed 002).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthorizationStatus {
    InProgress,
    Succeeded,
    Failed,
    Cancelled,
}

impl AuthorizationStatus {
    pub fn is_final(self) -> bool {
        self != Self::InProgress
    }
}

/// Who signed the authorization letter for the company (seed 002 `authorizerType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthorizerType {
    Company,
    LegalRepresentative,
}
