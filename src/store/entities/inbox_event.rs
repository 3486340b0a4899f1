use sea_orm::entity::prelude::*;

/// One verified e签宝 notification, stored once per event key.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "inbox_events")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub event_key: String,
    /// `FACE_RESULT` or `AUTHORIZATION_RESULT`.
    pub kind: String,
    /// The flow or authorization id.
    pub subject_id: String,
    /// `SUCCESS`/`FAIL` for a face flow; the status code for an authorization.
    pub outcome: String,
    pub reason: Option<String>,
    pub occurred_at: i64,
    pub received_at: i64,
    pub applied_at: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
