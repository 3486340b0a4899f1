//! `evidence`: the signed evidence records, stored as they were signed (the signature in hex), so
//! that a change to any column makes the record fail to verify.
use sea_orm::ActiveValue::Set;
use sea_orm::entity::prelude::*;

use crate::domain::model::{CertNo, Evidence, EvidenceKind, EvidenceMethod};
use crate::domain::ports::StoreError;
use crate::domain::values::MemberNo;
use crate::store::columns::{from_ms, ms};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "evidence")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub cert_no: String,
    pub member_no: String,
    pub position: i64,
    /// `HANDLER` or `ORG`.
    pub kind: String,
    pub masked_name: String,
    pub id_digest: String,
    pub account_id: String,
    pub flow_id: String,
    /// `FACE`, `SMS`, `LEGAL_PERSON` or `REVERSE_PAYMENT`.
    pub method: String,
    pub at: i64,
    pub prev_digest: String,
    pub key_id: String,
    pub signature: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The member's process (joined by member number; no foreign key: records outlive nothing, but
    /// the process row exists before any record of its member).
    #[sea_orm(
        belongs_to = "super::process::Entity",
        from = "Column::MemberNo",
        to = "super::process::Column::MemberNo"
    )]
    Process,
}

impl Related<super::process::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Process.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}

impl From<&Evidence> for ActiveModel {
    fn from(e: &Evidence) -> Self {
        Self {
            cert_no: Set(e.cert_no.to_string()),
            member_no: Set(e.member_no.as_str().to_owned()),
            position: Set(e.position),
            kind: Set(e.kind.as_str().to_owned()),
            masked_name: Set(e.masked_name.clone()),
            id_digest: Set(e.id_digest.clone()),
            account_id: Set(e.account_id.clone()),
            flow_id: Set(e.flow_id.clone()),
            method: Set(e.method.as_str().to_owned()),
            at: Set(ms(e.at)),
            prev_digest: Set(e.prev_digest.clone()),
            key_id: Set(e.key_id.clone()),
            signature: Set(hex::encode(&e.signature)),
        }
    }
}

impl Model {
    /// A row read on SQLite's direct connection (`sqlite_direct`), its columns in the entity's
    /// order ([`Column::iter`]), read by position.
    pub(in crate::store) fn from_returned(row: &crate::store::sqlite_direct::Row) -> Result<Self, StoreError> {
        Ok(Self {
            cert_no: row.try_get(0)?,
            member_no: row.try_get(1)?,
            position: row.try_get(2)?,
            kind: row.try_get(3)?,
            masked_name: row.try_get(4)?,
            id_digest: row.try_get(5)?,
            account_id: row.try_get(6)?,
            flow_id: row.try_get(7)?,
            method: row.try_get(8)?,
            at: row.try_get(9)?,
            prev_digest: row.try_get(10)?,
            key_id: row.try_get(11)?,
            signature: row.try_get(12)?,
        })
    }
}

impl TryFrom<Model> for Evidence {
    type Error = StoreError;

    /// Reads a row back as it is, even altered: only the columns' shapes are checked here; whether
    /// the record is still the one signed is the signature's to say. A signature that is no longer
    /// hex reads as empty (it verifies false).
    fn try_from(m: Model) -> Result<Self, StoreError> {
        let corrupt = |what: &str| StoreError::Corrupt(format!("evidence {what}"));
        Ok(Evidence {
            cert_no: CertNo::parse("cert_no", &m.cert_no)?,
            member_no: MemberNo::parse(&m.member_no)?,
            position: m.position,
            kind: EvidenceKind::parse(&m.kind).ok_or_else(|| corrupt("kind"))?,
            masked_name: m.masked_name,
            id_digest: m.id_digest,
            account_id: m.account_id,
            flow_id: m.flow_id,
            method: EvidenceMethod::parse(&m.method).ok_or_else(|| corrupt("method"))?,
            at: from_ms(m.at)?,
            prev_digest: m.prev_digest,
            key_id: m.key_id,
            signature: hex::decode(&m.signature).unwrap_or_default(),
        })
    }
}
