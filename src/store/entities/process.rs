use sea_orm::entity::prelude::*;

/// One row per member that has started (or tried to start) its process.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "processes")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub member_no: String,
    pub status: String,
    pub version: i64,
    pub handler_name: Option<String>,
    pub handler_id_number: Option<String>,
    pub handler_mobile: Option<String>,
    pub handler_valid_period: Option<String>,
    pub org_name: Option<String>,
    pub org_id_number: Option<String>,
    pub org_id_type: Option<String>,
    pub org_legal_name: Option<String>,
    pub org_legal_id_number: Option<String>,
    pub esign_account_id: Option<String>,
    pub needs_pub_payment: bool,
    pub fail_reason: Option<String>,
    pub origin_sign_file_url: Option<String>,
    pub signed_file_url: Option<String>,
    pub signed_file_url_expires_at: Option<i64>,
    pub updated_at: Option<i64>,
    pub lease_holder: Option<String>,
    pub lease_until: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
