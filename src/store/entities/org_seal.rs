//! `org_seals`: the platform's review of each seal of a member's company (issue 18). Statuses are
//! stored in `SealReviewStatus::as_str`'s frozen spelling.
use sea_orm::ActiveValue::Set;
use sea_orm::entity::prelude::*;

use crate::domain::model::{SealRecord, SealReviewStatus};
use crate::domain::ports::StoreError;
use crate::domain::values::{AccountId, MemberNo};
use crate::store::columns::{from_ms, ms, opt_ms};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "org_seals")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub seal_id: String,
    pub member_no: String,
    pub org_id: String,
    pub alias: Option<String>,
    pub review_status: String,
    pub reject_reason: Option<String>,
    pub reviewer: Option<String>,
    pub created_at: i64,
    pub saved_at: Option<i64>,
    pub reviewed_at: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// The columns a known seal's row may change (everything but its identity).
pub const UPSERTED: [Column; 7] = [
    Column::Alias,
    Column::ReviewStatus,
    Column::RejectReason,
    Column::Reviewer,
    Column::SavedAt,
    Column::ReviewedAt,
    Column::OrgId,
];

impl From<&SealRecord> for ActiveModel {
    fn from(r: &SealRecord) -> Self {
        Self {
            seal_id: Set(r.seal_id.clone()),
            member_no: Set(r.member_no.as_str().to_owned()),
            org_id: Set(r.org_id.as_str().to_owned()),
            alias: Set(r.alias.clone()),
            review_status: Set(r.status.as_str().to_owned()),
            reject_reason: Set(r.reject_reason.clone()),
            reviewer: Set(r.reviewer.clone()),
            created_at: Set(ms(r.created_at)),
            saved_at: Set(r.saved_at.map(ms)),
            reviewed_at: Set(r.reviewed_at.map(ms)),
        }
    }
}

impl TryFrom<Model> for SealRecord {
    type Error = StoreError;

    fn try_from(m: Model) -> Result<Self, StoreError> {
        Ok(SealRecord {
            member_no: MemberNo::parse(&m.member_no)?,
            org_id: AccountId::parse("org_id", &m.org_id)?,
            status: SealReviewStatus::parse(&m.review_status)
                .ok_or_else(|| StoreError::Corrupt(format!("seal review status {}", m.review_status)))?,
            created_at: from_ms(m.created_at)?,
            saved_at: opt_ms(m.saved_at)?,
            reviewed_at: opt_ms(m.reviewed_at)?,
            seal_id: m.seal_id,
            alias: m.alias,
            reject_reason: m.reject_reason,
            reviewer: m.reviewer,
        })
    }
}
