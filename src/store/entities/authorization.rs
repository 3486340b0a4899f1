use sea_orm::entity::prelude::*;

use crate::code_table::code_table;
use crate::domain::model::{AuthType, AuthorizationStatus, AuthorizerType};

/// One authorization of silent signing.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "authorizations")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub auth_id: String,
    pub member_no: String,
    pub request_id: String,
    pub request_fingerprint: String,
    pub organize_id: String,
    pub auth_type: i32,
    pub person_id: Option<String>,
    pub authorizer_type: Option<i32>,
    pub legal_rep_id: Option<String>,
    pub status: i32,
    pub auth_des: Option<String>,
    pub download_url: Option<String>,
    pub download_url_expires_at: Option<i64>,
    pub begin_at: Option<i64>,
    pub end_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    pub next_poll_at: i64,
    pub poll_attempts: i32,
    pub lease_holder: Option<String>,
    pub lease_until: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

// The stored codes are the store's own and frozen (rows already written hold them); they began as
// e签宝's, which is why they match seed 002, but they no longer follow it.
code_table! {
    /// Stored `status`.
    pub fn status_code / status: AuthorizationStatus => i32, from i32 {
        InProgress = 1,
        Succeeded = 2,
        Failed = 3,
        Cancelled = 4,
    }
}

code_table! {
    /// Stored `auth_type`.
    pub fn auth_type_code / auth_type: AuthType => i32, from i32 {
        Platform = 1,
        Handler = 2,
    }
}

code_table! {
    /// Stored `authorizer_type`.
    pub fn authorizer_type_code / authorizer_type: AuthorizerType => i32, from i32 {
        Company = 1,
        LegalRepresentative = 2,
    }
}
