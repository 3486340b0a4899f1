//! `processes`: one row per member that has started (or tried to start) its process, with the
//! member's start lease. Identity numbers and mobiles are sealed with the data keys.
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::entity::prelude::*;

use crate::domain::model::{
    CertNo, CertRef, Handler, IdCardDocs, KeptPicture, LicenceDocs, OrgInfo, OrgProfile, OrgSeal, Process,
    ProcessStatus,
};
use crate::domain::ports::StoreError;
use crate::domain::values::{AccountId, FlowId, MemberNo, Mobile, PersonName, ResidentId, ValidPeriod};
use crate::store::cipher::Cipher;
use crate::store::columns::{aad, from_ms, ms, opt_ms};
use crate::store::lease::Leased;

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
    /// `Process::generation`: the cancels so far (0 on rows older than the column).
    pub account_generation: i32,
    pub lease_holder: Option<String>,
    pub lease_until: Option<i64>,
    pub handler_flow_id: Option<String>,
    pub org_account_id: Option<String>,
    /// The declared company profile as JSON, sealed (it holds a mobile).
    pub org_profile: Option<String>,
    pub id_card_front: Option<String>,
    pub id_card_front_thumb: Option<String>,
    pub id_card_back: Option<String>,
    pub id_card_back_thumb: Option<String>,
    pub licence_picture: Option<String>,
    pub licence_thumb: Option<String>,
    pub licence_credit_code: Option<String>,
    pub licence_address: Option<String>,
    pub licence_valid_period: Option<String>,
    /// The handler's and the company's evidence records (`certInfo`) and their instants.
    pub cert_no: Option<String>,
    pub cert_created_at: Option<i64>,
    pub org_cert_no: Option<String>,
    pub org_cert_created_at: Option<i64>,
    /// Who confirmed the evidence, and when.
    pub cert_confirmed_by: Option<String>,
    pub cert_confirmed_at: Option<i64>,
    pub seal_id: Option<String>,
    pub seal_alias: Option<String>,
    pub seal_file_key: Option<String>,
    pub seal_url: Option<String>,
    pub seal_url_expires_at: Option<i64>,
    pub seal_created_at: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The member's evidence records, read with the process by the detail (one round trip).
    #[sea_orm(has_many = "super::evidence::Entity")]
    Evidence,
}

impl Related<super::evidence::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Evidence.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}

/// The member's start lease: one start at a time per member, on any replica.
impl Leased for Entity {
    const KEY: Column = Column::MemberNo;
    const LEASE_HOLDER: Column = Column::LeaseHolder;
    const LEASE_UNTIL: Column = Column::LeaseUntil;
}

const TABLE: &str = "processes";

/// The model's fields from a row of every column in the entity's order, each read with the row's
/// `try_get` by position: one listing for sqlx's rows and the direct connection's. Struct fields
/// are initialised in the order written, so each takes the next column (a test holds this reading
/// equal to SeaORM's by name).
macro_rules! by_position {
    ($row:ident) => {{
        let mut i = 0;
        let mut next = || {
            i += 1;
            i - 1
        };
        Self {
            member_no: $row.try_get(next())?,
            status: $row.try_get(next())?,
            version: $row.try_get(next())?,
            handler_name: $row.try_get(next())?,
            handler_id_number: $row.try_get(next())?,
            handler_mobile: $row.try_get(next())?,
            handler_valid_period: $row.try_get(next())?,
            org_name: $row.try_get(next())?,
            org_id_number: $row.try_get(next())?,
            org_id_type: $row.try_get(next())?,
            org_legal_name: $row.try_get(next())?,
            org_legal_id_number: $row.try_get(next())?,
            esign_account_id: $row.try_get(next())?,
            needs_pub_payment: $row.try_get(next())?,
            fail_reason: $row.try_get(next())?,
            origin_sign_file_url: $row.try_get(next())?,
            signed_file_url: $row.try_get(next())?,
            signed_file_url_expires_at: $row.try_get(next())?,
            updated_at: $row.try_get(next())?,
            account_generation: $row.try_get(next())?,
            lease_holder: $row.try_get(next())?,
            lease_until: $row.try_get(next())?,
            handler_flow_id: $row.try_get(next())?,
            org_account_id: $row.try_get(next())?,
            org_profile: $row.try_get(next())?,
            id_card_front: $row.try_get(next())?,
            id_card_front_thumb: $row.try_get(next())?,
            id_card_back: $row.try_get(next())?,
            id_card_back_thumb: $row.try_get(next())?,
            licence_picture: $row.try_get(next())?,
            licence_thumb: $row.try_get(next())?,
            licence_credit_code: $row.try_get(next())?,
            licence_address: $row.try_get(next())?,
            licence_valid_period: $row.try_get(next())?,
            cert_no: $row.try_get(next())?,
            cert_created_at: $row.try_get(next())?,
            org_cert_no: $row.try_get(next())?,
            org_cert_created_at: $row.try_get(next())?,
            cert_confirmed_by: $row.try_get(next())?,
            cert_confirmed_at: $row.try_get(next())?,
            seal_id: $row.try_get(next())?,
            seal_alias: $row.try_get(next())?,
            seal_file_key: $row.try_get(next())?,
            seal_url: $row.try_get(next())?,
            seal_url_expires_at: $row.try_get(next())?,
            seal_created_at: $row.try_get(next())?,
        }
    }};
}

impl Model {
    /// The row of a statement that answers every column in the entity's order (`RETURNING` them
    /// listed), read by position from sqlx's row of either backend. SeaORM reads a row by name
    /// and, for each NULL, formats an error it then drops: a not-started process is mostly NULLs,
    /// and that was a third of the lease's instructions (README "Performance").
    pub(crate) fn by_position<R>(row: &R) -> Result<Self, StoreError>
    where
        R: sea_orm::sqlx::Row,
        usize: sea_orm::sqlx::ColumnIndex<R>,
        for<'r> String: sea_orm::sqlx::Decode<'r, R::Database> + sea_orm::sqlx::Type<R::Database>,
        for<'r> i64: sea_orm::sqlx::Decode<'r, R::Database> + sea_orm::sqlx::Type<R::Database>,
        for<'r> i32: sea_orm::sqlx::Decode<'r, R::Database> + sea_orm::sqlx::Type<R::Database>,
        for<'r> bool: sea_orm::sqlx::Decode<'r, R::Database> + sea_orm::sqlx::Type<R::Database>,
    {
        let read = || -> Result<Self, sea_orm::sqlx::Error> { Ok(by_position!(row)) };
        read().map_err(|e| StoreError::Database(e.to_string()))
    }

    /// The same reading of a row returned on SQLite's direct connection (`sqlite_direct`).
    pub(in crate::store) fn from_returned(row: &crate::store::sqlite_direct::Row) -> Result<Self, StoreError> {
        Ok(by_position!(row))
    }
}

impl Model {
    /// The process this row holds, its sealed columns opened with `cipher`.
    pub fn open(self, cipher: &Cipher) -> Result<Process, StoreError> {
        let m = self;
        let open =
            |col: &str, v: Option<String>| v.map(|v| cipher.open(&aad(TABLE, col, &m.member_no), &v)).transpose();
        let handler_id_number = open("handler_id_number", m.handler_id_number.clone())?;
        let handler_mobile = open("handler_mobile", m.handler_mobile.clone())?;
        let org_id_number = open("org_id_number", m.org_id_number.clone())?;
        let org_legal_id_number = open("org_legal_id_number", m.org_legal_id_number.clone())?;
        let member = MemberNo::parse(&m.member_no)?;
        // The seed's spelling of a status is the stored one (`ProcessStatus::as_str`).
        let status =
            ProcessStatus::parse(&m.status).ok_or_else(|| StoreError::Corrupt(format!("status {}", m.status)))?;
        let mut p = Process::restore(member, status, m.version);
        if let (Some(name), Some(id), Some(mobile), Some(period)) =
            (m.handler_name, handler_id_number, handler_mobile, m.handler_valid_period)
        {
            p.handler = Some(Handler {
                name: PersonName::parse("handler_name", &name)?,
                id_number: ResidentId::parse("handler_id_number", &id)?,
                mobile: Mobile::parse("handler_mobile", &mobile)?,
                // Stored periods were valid when given; they are read back without the expiry check.
                valid_period: ValidPeriod::read_back("handler_valid_period", &period)?,
            });
        }
        if m.org_name.is_some() || org_id_number.is_some() {
            p.org = Some(OrgInfo {
                name: m.org_name.unwrap_or_default(),
                id_number: org_id_number.unwrap_or_default(),
                id_type: m.org_id_type.unwrap_or_default(),
                legal_name: m.org_legal_name.unwrap_or_default(),
                legal_id_number: org_legal_id_number.unwrap_or_default(),
            });
        }
        p.esign_account_id = m.esign_account_id.map(|a| AccountId::parse("esign_account_id", &a)).transpose()?;
        if let Some(json) = open("org_profile", m.org_profile.clone())? {
            let stored: StoredProfile =
                serde_json::from_str(&json).map_err(|_| StoreError::Corrupt("org profile".into()))?;
            p.org_profile = Some(stored.into());
        }
        p.org_account_id = m.org_account_id.map(|a| AccountId::parse("org_account_id", &a)).transpose()?;
        p.handler_flow_id = m.handler_flow_id.map(|f| FlowId::parse("handler_flow_id", &f)).transpose()?;
        p.needs_pub_payment = m.needs_pub_payment;
        p.fail_reason = m.fail_reason;
        p.origin_sign_file_url = m.origin_sign_file_url;
        p.signed_file_url = m.signed_file_url;
        p.signed_file_url_expires_at = opt_ms(m.signed_file_url_expires_at)?;
        p.updated_at = opt_ms(m.updated_at)?;
        p.generation = u32::try_from(m.account_generation)
            .map_err(|_| StoreError::Corrupt(format!("account generation {}", m.account_generation)))?;
        let kept = |original: Option<String>, thumbnail: Option<String>| match (original, thumbnail) {
            (Some(original), Some(thumbnail)) => Some(KeptPicture { original, thumbnail }),
            _ => None,
        };
        if let (Some(front), Some(back)) =
            (kept(m.id_card_front, m.id_card_front_thumb), kept(m.id_card_back, m.id_card_back_thumb))
        {
            p.id_card = Some(IdCardDocs { front, back });
        }
        if let Some(picture) = kept(m.licence_picture, m.licence_thumb) {
            p.licence = Some(LicenceDocs {
                picture,
                credit_code: m.licence_credit_code.unwrap_or_default(),
                address: m.licence_address,
                valid_period: m.licence_valid_period,
            });
        }
        let cert = |no: Option<String>, at: Option<i64>| -> Result<Option<CertRef>, StoreError> {
            let (Some(no), Some(at)) = (no, at) else { return Ok(None) };
            Ok(Some(CertRef { cert_no: CertNo::parse("cert_no", &no)?, created_at: from_ms(at)?, status: None }))
        };
        p.handler_cert = cert(m.cert_no, m.cert_created_at)?;
        p.org_cert = cert(m.org_cert_no, m.org_cert_created_at)?;
        p.cert_confirmed = match (m.cert_confirmed_by, m.cert_confirmed_at) {
            (Some(by), Some(at)) => Some((by, from_ms(at)?)),
            _ => None,
        };
        if let Some(seal_id) = m.seal_id {
            p.seal = Some(OrgSeal {
                seal_id,
                alias: m.seal_alias,
                file_key: m.seal_file_key,
                url: m.seal_url,
                url_expires_at: opt_ms(m.seal_url_expires_at)?,
                created_at: opt_ms(m.seal_created_at)?,
            });
        }
        Ok(p)
    }
}

impl ActiveModel {
    /// The row of `p` at `version`, its personal data sealed with `cipher`. The lease is left
    /// alone: it belongs to whoever takes it (`lease`).
    pub fn seal(p: &Process, version: i64, cipher: &Cipher) -> Result<Self, StoreError> {
        let h = p.handler.as_ref();
        let o = p.org.as_ref();
        let member = p.member_no().as_str();
        let seal = |col: &str, v: Option<&str>| v.map(|v| cipher.seal(&aad(TABLE, col, member), v)).transpose();
        let profile = p
            .org_profile
            .as_ref()
            .map(|o| serde_json::to_string(&StoredProfile::from(o)))
            .transpose()
            .map_err(|_| StoreError::Corrupt("org profile".into()))?;
        Ok(Self {
            member_no: Set(member.to_owned()),
            status: Set(p.status().as_str().to_owned()),
            version: Set(version),
            handler_name: Set(h.map(|h| h.name.as_str().to_owned())),
            handler_id_number: Set(seal("handler_id_number", h.map(|h| h.id_number.expose()))?),
            handler_mobile: Set(seal("handler_mobile", h.map(|h| h.mobile.expose()))?),
            handler_valid_period: Set(h.map(|h| h.valid_period.to_string())),
            org_name: Set(o.map(|o| o.name.clone())),
            org_id_number: Set(seal("org_id_number", o.map(|o| o.id_number.as_str()))?),
            org_id_type: Set(o.map(|o| o.id_type.clone())),
            org_legal_name: Set(o.map(|o| o.legal_name.clone())),
            org_legal_id_number: Set(seal("org_legal_id_number", o.map(|o| o.legal_id_number.as_str()))?),
            esign_account_id: Set(p.esign_account_id.as_ref().map(|a| a.as_str().to_owned())),
            needs_pub_payment: Set(p.needs_pub_payment),
            fail_reason: Set(p.fail_reason.clone()),
            origin_sign_file_url: Set(p.origin_sign_file_url.clone()),
            signed_file_url: Set(p.signed_file_url.clone()),
            signed_file_url_expires_at: Set(p.signed_file_url_expires_at.map(ms)),
            updated_at: Set(p.updated_at.map(ms)),
            account_generation: Set(i32::try_from(p.generation).unwrap_or(i32::MAX)),
            lease_holder: NotSet,
            lease_until: NotSet,
            handler_flow_id: Set(p.handler_flow_id.as_ref().map(|f| f.as_str().to_owned())),
            org_account_id: Set(p.org_account_id.as_ref().map(|a| a.as_str().to_owned())),
            org_profile: Set(seal("org_profile", profile.as_deref())?),
            id_card_front: Set(p.id_card.as_ref().map(|c| c.front.original.clone())),
            id_card_front_thumb: Set(p.id_card.as_ref().map(|c| c.front.thumbnail.clone())),
            id_card_back: Set(p.id_card.as_ref().map(|c| c.back.original.clone())),
            id_card_back_thumb: Set(p.id_card.as_ref().map(|c| c.back.thumbnail.clone())),
            licence_picture: Set(p.licence.as_ref().map(|l| l.picture.original.clone())),
            licence_thumb: Set(p.licence.as_ref().map(|l| l.picture.thumbnail.clone())),
            licence_credit_code: Set(p.licence.as_ref().map(|l| l.credit_code.clone())),
            licence_address: Set(p.licence.as_ref().and_then(|l| l.address.clone())),
            licence_valid_period: Set(p.licence.as_ref().and_then(|l| l.valid_period.clone())),
            cert_no: Set(p.handler_cert.map(|c| c.cert_no.to_string())),
            cert_created_at: Set(p.handler_cert.map(|c| ms(c.created_at))),
            org_cert_no: Set(p.org_cert.map(|c| c.cert_no.to_string())),
            org_cert_created_at: Set(p.org_cert.map(|c| ms(c.created_at))),
            cert_confirmed_by: Set(p.cert_confirmed.as_ref().map(|(by, _)| by.clone())),
            cert_confirmed_at: Set(p.cert_confirmed.as_ref().map(|(_, at)| ms(*at))),
            seal_id: Set(p.seal.as_ref().map(|s| s.seal_id.clone())),
            seal_alias: Set(p.seal.as_ref().and_then(|s| s.alias.clone())),
            seal_file_key: Set(p.seal.as_ref().and_then(|s| s.file_key.clone())),
            seal_url: Set(p.seal.as_ref().and_then(|s| s.url.clone())),
            seal_url_expires_at: Set(p.seal.as_ref().and_then(|s| s.url_expires_at).map(ms)),
            seal_created_at: Set(p.seal.as_ref().and_then(|s| s.created_at).map(ms)),
        })
    }
}

/// The company profile as stored JSON: its own, frozen field names.
#[derive(serde::Serialize, serde::Deserialize)]
struct StoredProfile {
    org_abbreviation: String,
    org_contact: String,
    location: String,
    address: String,
    valid_period: String,
    org_type: String,
    contact_name: String,
    contact_mobile: String,
}

impl From<&OrgProfile> for StoredProfile {
    fn from(o: &OrgProfile) -> Self {
        Self {
            org_abbreviation: o.org_abbreviation.clone(),
            org_contact: o.org_contact.clone(),
            location: o.location.clone(),
            address: o.address.clone(),
            valid_period: o.valid_period.clone(),
            org_type: o.org_type.clone(),
            contact_name: o.contact_name.clone(),
            contact_mobile: o.contact_mobile.clone(),
        }
    }
}

impl From<StoredProfile> for OrgProfile {
    fn from(s: StoredProfile) -> Self {
        Self {
            org_abbreviation: s.org_abbreviation,
            org_contact: s.org_contact,
            location: s.location,
            address: s.address,
            valid_period: s.valid_period,
            org_type: s.org_type,
            contact_name: s.contact_name,
            contact_mobile: s.contact_mobile,
        }
    }
}
