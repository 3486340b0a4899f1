//! `authorizations`: one row per authorization of silent signing, polled by the reconciler until
//! it is final and, once signed, holds its letter's URL. The request fingerprint is sealed.
use sea_orm::ActiveValue::Set;
use sea_orm::Condition;
use sea_orm::entity::prelude::*;

use crate::code_table::code_table;
use crate::domain::model::{AuthType, Authorization, AuthorizationStatus, AuthorizerType};
use crate::domain::ports::StoreError;
use crate::domain::values::{AuthId, MemberNo};
use crate::store::cipher::Cipher;
use crate::store::columns::{aad, from_ms, ms, opt_ms};
use crate::store::lease::{Leased, Polled};

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
// e签宝's, which is why they match seed 002, but they do not follow it.
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

impl Leased for Entity {
    const KEY: Column = Column::AuthId;
    const LEASE_HOLDER: Column = Column::LeaseHolder;
    const LEASE_UNTIL: Column = Column::LeaseUntil;
}

impl Polled for Entity {
    const NEXT_POLL_AT: Column = Column::NextPollAt;
    const POLL_ATTEMPTS: Column = Column::PollAttempts;
    const CREATED_AT: Column = Column::CreatedAt;

    /// In progress, or signed but still without the letter's URL (a callback that came before it).
    /// An expired URL is refreshed when it is read, not polled.
    fn outstanding() -> Condition {
        Condition::any().add(Column::Status.eq(status_code(AuthorizationStatus::InProgress))).add(
            Condition::all()
                .add(Column::Status.eq(status_code(AuthorizationStatus::Succeeded)))
                .add(Column::DownloadUrl.is_null()),
        )
    }
}

const TABLE: &str = "authorizations";

impl Model {
    /// The authorization this row holds, its fingerprint opened with `cipher`.
    pub fn open(self, cipher: &Cipher) -> Result<Authorization, StoreError> {
        let m = self;
        // The fingerprint hashes the signer's contact (a mobile): sealed like the mobile itself.
        let request_fingerprint =
            cipher.open(&aad(TABLE, "request_fingerprint", &m.auth_id), &m.request_fingerprint)?;
        Ok(Authorization {
            auth_id: AuthId::parse("auth_id", &m.auth_id)?,
            member_no: MemberNo::parse(&m.member_no)?,
            request_id: m.request_id,
            request_fingerprint,
            organize_id: m.organize_id,
            auth_type: auth_type(m.auth_type).ok_or_else(|| StoreError::Corrupt("auth type".into()))?,
            person_id: m.person_id,
            authorizer_type: m.authorizer_type.and_then(authorizer_type),
            legal_rep_id: m.legal_rep_id,
            status: status(m.status).ok_or_else(|| StoreError::Corrupt("auth status".into()))?,
            auth_des: m.auth_des,
            download_url: m.download_url,
            download_url_expires_at: opt_ms(m.download_url_expires_at)?,
            begin_at: opt_ms(m.begin_at)?,
            end_at: opt_ms(m.end_at)?,
            created_at: from_ms(m.created_at)?,
            updated_at: from_ms(m.updated_at)?,
            next_poll_at: from_ms(m.next_poll_at)?,
            poll_attempts: m.poll_attempts,
        })
    }
}

impl ActiveModel {
    /// The row of `a`, its fingerprint sealed with `cipher`.
    pub fn seal(a: &Authorization, cipher: &Cipher) -> Result<Self, StoreError> {
        let fingerprint =
            cipher.seal(&aad(TABLE, "request_fingerprint", a.auth_id.as_str()), &a.request_fingerprint)?;
        Ok(Self {
            auth_id: Set(a.auth_id.as_str().to_owned()),
            member_no: Set(a.member_no.as_str().to_owned()),
            request_id: Set(a.request_id.clone()),
            request_fingerprint: Set(fingerprint),
            organize_id: Set(a.organize_id.clone()),
            auth_type: Set(auth_type_code(a.auth_type)),
            person_id: Set(a.person_id.clone()),
            authorizer_type: Set(a.authorizer_type.map(authorizer_type_code)),
            legal_rep_id: Set(a.legal_rep_id.clone()),
            status: Set(status_code(a.status)),
            auth_des: Set(a.auth_des.clone()),
            download_url: Set(a.download_url.clone()),
            download_url_expires_at: Set(a.download_url_expires_at.map(ms)),
            begin_at: Set(a.begin_at.map(ms)),
            end_at: Set(a.end_at.map(ms)),
            created_at: Set(ms(a.created_at)),
            updated_at: Set(ms(a.updated_at)),
            next_poll_at: Set(ms(a.next_poll_at)),
            poll_attempts: Set(a.poll_attempts),
            lease_holder: Set(None),
            lease_until: Set(None),
        })
    }
}

/// What an upsert of an authorization may change: never the lease, which belongs to whoever polls
/// the row (claim, reschedule). Clearing it here let a second replica claim an item mid-poll.
pub const UPSERTED: [Column; 12] = [
    Column::PersonId,
    Column::AuthorizerType,
    Column::LegalRepId,
    Column::Status,
    Column::AuthDes,
    Column::DownloadUrl,
    Column::DownloadUrlExpiresAt,
    Column::BeginAt,
    Column::EndAt,
    Column::UpdatedAt,
    Column::NextPollAt,
    Column::PollAttempts,
];
