//! `inbox_events`: one row per verified e签宝 notification, stored once per event key and marked
//! when applied.
use chrono::{DateTime, Utc};
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::entity::prelude::*;

use super::authorization;
use crate::domain::model::{InboxEvent, StoredEvent};
use crate::domain::ports::StoreError;
use crate::domain::values::{AuthId, FlowId};
use crate::store::columns::{from_ms, ms};

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
    /// `SUCCESS`/`FAIL` for a face flow; the stored status code for an authorization.
    pub outcome: String,
    pub reason: Option<String>,
    pub occurred_at: i64,
    pub received_at: i64,
    pub applied_at: Option<i64>,
    /// The notification's `action` as received (null in rows stored before it was kept).
    pub action: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

const FACE_RESULT: &str = "FACE_RESULT";
const AUTHORIZATION_RESULT: &str = "AUTHORIZATION_RESULT";
const SUCCESS: &str = "SUCCESS";
const FAIL: &str = "FAIL";

/// What names an event: its kind, subject and outcome (as stored), and its key's prefix.
struct Identity<'a> {
    kind: &'static str,
    prefix: &'static str,
    subject: &'a str,
    outcome: String,
}

fn identity(event: &InboxEvent) -> Identity<'_> {
    match event {
        InboxEvent::IdentityResult { flow_id, success, .. } => Identity {
            kind: FACE_RESULT,
            prefix: "face",
            subject: flow_id.as_str(),
            outcome: if *success { SUCCESS } else { FAIL }.to_owned(),
        },
        InboxEvent::AuthorizationResult { auth_id, status, .. } => Identity {
            kind: AUTHORIZATION_RESULT,
            prefix: "auth",
            subject: auth_id.as_str(),
            outcome: authorization::status_code(*status).to_string(),
        },
    }
}

/// The de-duplication key: the subject and its final outcome, so that e签宝's repeated deliveries
/// of one event are stored once. Frozen: keys already stored must keep matching.
pub fn event_key(event: &InboxEvent) -> String {
    let id = identity(event);
    format!("{}:{}:{}", id.prefix, id.subject, id.outcome)
}

impl ActiveModel {
    /// A new row for `event`, received with `action`, not yet applied.
    pub fn received(event: &InboxEvent, action: &str, received_at: DateTime<Utc>) -> Self {
        let (reason, occurred_at) = match event {
            InboxEvent::IdentityResult { fail_reason, occurred_at, .. } => {
                (fail_reason.clone(), occurred_at.unwrap_or(received_at))
            }
            InboxEvent::AuthorizationResult { auth_des, occurred_at, .. } => (auth_des.clone(), *occurred_at),
        };
        let id = identity(event);
        Self {
            id: NotSet,
            event_key: Set(event_key(event)),
            kind: Set(id.kind.to_owned()),
            subject_id: Set(id.subject.to_owned()),
            outcome: Set(id.outcome),
            reason: Set(reason),
            occurred_at: Set(ms(occurred_at)),
            received_at: Set(ms(received_at)),
            applied_at: Set(None),
            action: Set(Some(action.to_owned())),
        }
    }
}

impl TryFrom<Model> for StoredEvent {
    type Error = StoreError;

    fn try_from(m: Model) -> Result<Self, StoreError> {
        let occurred_at = from_ms(m.occurred_at)?;
        let event = match m.kind.as_str() {
            FACE_RESULT => InboxEvent::IdentityResult {
                flow_id: FlowId::parse("flow_id", &m.subject_id)?,
                success: m.outcome == SUCCESS,
                fail_reason: m.reason,
                occurred_at: Some(occurred_at),
            },
            AUTHORIZATION_RESULT => InboxEvent::AuthorizationResult {
                auth_id: AuthId::parse("auth_id", &m.subject_id)?,
                status: m
                    .outcome
                    .parse::<i32>()
                    .ok()
                    .and_then(authorization::status)
                    .ok_or_else(|| StoreError::Corrupt("inbox outcome".into()))?,
                auth_des: m.reason,
                occurred_at,
            },
            other => return Err(StoreError::Corrupt(format!("inbox kind {other}"))),
        };
        Ok(StoredEvent { id: m.id, action: m.action.unwrap_or_default(), event })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::model::AuthorizationStatus;

    #[test]
    fn event_keys_are_spelled_as_earlier_versions_stored_them() {
        let at = Utc::now();
        let face = |success| InboxEvent::IdentityResult {
            flow_id: FlowId::parse("flow_id", "803719636976683872").unwrap(),
            success,
            fail_reason: None,
            occurred_at: Some(at),
        };
        assert_eq!(event_key(&face(true)), "face:803719636976683872:SUCCESS");
        assert_eq!(event_key(&face(false)), "face:803719636976683872:FAIL");
        let auth = |status| InboxEvent::AuthorizationResult {
            auth_id: AuthId::parse("auth_id", "38713871111157525071").unwrap(),
            status,
            auth_des: None,
            occurred_at: at,
        };
        assert_eq!(event_key(&auth(AuthorizationStatus::Succeeded)), "auth:38713871111157525071:2");
        assert_eq!(event_key(&auth(AuthorizationStatus::Failed)), "auth:38713871111157525071:3");
        assert_eq!(event_key(&auth(AuthorizationStatus::Cancelled)), "auth:38713871111157525071:4");
    }

    #[test]
    fn a_stored_event_reads_back_as_the_event_it_was() {
        let at = DateTime::from_timestamp_millis(1_732_262_400_100).unwrap();
        let event = InboxEvent::AuthorizationResult {
            auth_id: AuthId::parse("auth_id", "38713871111157525071").unwrap(),
            status: AuthorizationStatus::Failed,
            auth_des: Some("refused".into()),
            occurred_at: at,
        };
        let row = ActiveModel::received(&event, "AUTHORIZATION_RESULT", at);
        let model = Model {
            id: 7,
            event_key: row.event_key.unwrap(),
            kind: row.kind.unwrap(),
            subject_id: row.subject_id.unwrap(),
            outcome: row.outcome.unwrap(),
            reason: row.reason.unwrap(),
            occurred_at: row.occurred_at.unwrap(),
            received_at: row.received_at.unwrap(),
            applied_at: None,
            action: row.action.unwrap(),
        };
        assert_eq!((model.kind.as_str(), model.outcome.as_str()), ("AUTHORIZATION_RESULT", "3"));
        assert_eq!(
            StoredEvent::try_from(model).unwrap(),
            StoredEvent { id: 7, action: "AUTHORIZATION_RESULT".into(), event }
        );
    }
}
