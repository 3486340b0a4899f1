//! `face_flows`: one row per identity flow of the handler (face or SMS, `method`), polled by the
//! reconciler until it ends.
use sea_orm::ActiveValue::Set;
use sea_orm::Condition;
use sea_orm::entity::prelude::*;

use crate::code_table::code_table;
use crate::domain::model::{FaceFlow, FaceFlowStatus, HandlerMethod};
use crate::domain::ports::StoreError;
use crate::domain::values::{AccountId, FlowId, MemberNo};
use crate::store::columns::{from_ms, ms, opt_ms};
use crate::store::lease::{Leased, Polled};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "face_flows")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub flow_id: String,
    pub member_no: String,
    pub account_id: String,
    pub auth_url: String,
    pub original_url: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub status: String,
    pub fail_reason: Option<String>,
    pub finished_at: Option<i64>,
    pub next_poll_at: i64,
    pub poll_attempts: i32,
    pub lease_holder: Option<String>,
    pub lease_until: Option<i64>,
    /// `FACE` or `SMS` (see `method_name`).
    pub method: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

code_table! {
    /// Stored `status`. Frozen: rows already written hold these.
    pub fn status_name / status: FaceFlowStatus => &'static str, from &str {
        Running = "RUNNING",
        Succeeded = "SUCCEEDED",
        Failed = "FAILED",
        Abandoned = "ABANDONED",
    }
}

code_table! {
    /// Stored `method`. Frozen: rows already written hold these (rows older than the column: FACE).
    pub fn method_name / method: HandlerMethod => &'static str, from &str {
        Face = "FACE",
        Sms = "SMS",
    }
}

impl Leased for Entity {
    const KEY: Column = Column::FlowId;
    const LEASE_HOLDER: Column = Column::LeaseHolder;
    const LEASE_UNTIL: Column = Column::LeaseUntil;
}

impl Polled for Entity {
    const NEXT_POLL_AT: Column = Column::NextPollAt;
    const POLL_ATTEMPTS: Column = Column::PollAttempts;
    const CREATED_AT: Column = Column::CreatedAt;

    /// A flow still running.
    fn outstanding() -> Condition {
        Condition::all().add(Column::Status.eq(status_name(FaceFlowStatus::Running)))
    }
}

impl TryFrom<Model> for FaceFlow {
    type Error = StoreError;

    fn try_from(m: Model) -> Result<Self, StoreError> {
        Ok(FaceFlow {
            flow_id: FlowId::parse("flow_id", &m.flow_id)?,
            method: method(&m.method).ok_or_else(|| StoreError::Corrupt(format!("flow method {}", m.method)))?,
            member_no: MemberNo::parse(&m.member_no)?,
            account_id: AccountId::parse("account_id", &m.account_id)?,
            auth_url: m.auth_url,
            original_url: m.original_url,
            created_at: from_ms(m.created_at)?,
            expires_at: from_ms(m.expires_at)?,
            status: status(&m.status).ok_or_else(|| StoreError::Corrupt(format!("flow status {}", m.status)))?,
            fail_reason: m.fail_reason,
            finished_at: opt_ms(m.finished_at)?,
            next_poll_at: from_ms(m.next_poll_at)?,
            poll_attempts: m.poll_attempts,
        })
    }
}

impl From<&FaceFlow> for ActiveModel {
    fn from(f: &FaceFlow) -> Self {
        Self {
            flow_id: Set(f.flow_id.as_str().to_owned()),
            method: Set(method_name(f.method).to_owned()),
            member_no: Set(f.member_no.as_str().to_owned()),
            account_id: Set(f.account_id.as_str().to_owned()),
            auth_url: Set(f.auth_url.clone()),
            original_url: Set(f.original_url.clone()),
            created_at: Set(ms(f.created_at)),
            expires_at: Set(ms(f.expires_at)),
            status: Set(status_name(f.status).to_owned()),
            fail_reason: Set(f.fail_reason.clone()),
            finished_at: Set(f.finished_at.map(ms)),
            next_poll_at: Set(ms(f.next_poll_at)),
            poll_attempts: Set(f.poll_attempts),
            lease_holder: Set(None),
            lease_until: Set(None),
        }
    }
}

/// What an upsert of a flow may change: never the lease, which belongs to whoever polls the row
/// (claim, reschedule). Clearing it here let a second replica claim a flow mid-poll.
pub const UPSERTED: [Column; 5] =
    [Column::Status, Column::FailReason, Column::FinishedAt, Column::NextPollAt, Column::PollAttempts];
