//! The platform's review of a company's seals (issue 18): every seal e签宝 holds for a member's
//! company has a record here, UNSAVED when created, PENDING once submitted, then APPROVED or
//! REJECTED by a reviewer. The default seal made with the company account, and the one CreateOrgSeal
//! saves, are approved on creation. Only an approved seal may become the default.
use chrono::{DateTime, Utc};

use crate::domain::values::{AccountId, MemberNo};

/// Where a seal is in the platform's review.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SealReviewStatus {
    Unsaved,
    Pending,
    Approved,
    Rejected,
}

impl SealReviewStatus {
    /// The stored spelling (frozen).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unsaved => "UNSAVED",
            Self::Pending => "PENDING",
            Self::Approved => "APPROVED",
            Self::Rejected => "REJECTED",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Unsaved, Self::Pending, Self::Approved, Self::Rejected].into_iter().find(|v| v.as_str() == s)
    }
}

/// One seal of a member's company and its review.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealRecord {
    pub seal_id: String,
    pub member_no: MemberNo,
    pub org_id: AccountId,
    pub alias: Option<String>,
    pub status: SealReviewStatus,
    pub reject_reason: Option<String>,
    /// The reviewer's etc-sys-id; `None` when approved on creation.
    pub reviewer: Option<String>,
    pub created_at: DateTime<Utc>,
    pub saved_at: Option<DateTime<Utc>>,
    pub reviewed_at: Option<DateTime<Utc>>,
}

impl SealRecord {
    /// A seal the member created: not yet submitted.
    pub fn unsaved(
        seal_id: String,
        member_no: MemberNo,
        org_id: AccountId,
        alias: Option<String>,
        at: DateTime<Utc>,
    ) -> Self {
        Self {
            seal_id,
            member_no,
            org_id,
            alias,
            status: SealReviewStatus::Unsaved,
            reject_reason: None,
            reviewer: None,
            created_at: at,
            saved_at: None,
            reviewed_at: None,
        }
    }

    /// A seal approved on creation (e签宝's own default, or the one CreateOrgSeal saves).
    pub fn approved_on_creation(
        seal_id: String,
        member_no: MemberNo,
        org_id: AccountId,
        alias: Option<String>,
        at: DateTime<Utc>,
    ) -> Self {
        Self {
            status: SealReviewStatus::Approved,
            reviewed_at: Some(at),
            ..Self::unsaved(seal_id, member_no, org_id, alias, at)
        }
    }
}

/// A reviewer's decision, as the member's history records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealReview {
    pub seal_id: String,
    pub approved: bool,
    /// Why it was rejected.
    pub reason: Option<String>,
}
