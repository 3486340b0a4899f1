use sea_orm::entity::prelude::*;

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
