use sea_orm::entity::prelude::*;

use crate::code_table::code_table;
use crate::domain::model::FlowStatus;

/// One e签宝 face flow.
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
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

code_table! {
    /// Stored `status`. Frozen: rows already written hold these.
    pub fn status_name / status: FlowStatus => &'static str, from &str {
        Running = "RUNNING",
        Succeeded = "SUCCEEDED",
        Failed = "FAILED",
        Abandoned = "ABANDONED",
    }
}
