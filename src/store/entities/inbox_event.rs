use sea_orm::entity::prelude::*;

use super::authorization;
use crate::domain::model::InboxEvent;

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

/// The de-duplication key: the subject and its final outcome, so that e签宝's repeated deliveries
/// of one event are stored once. Frozen: keys already stored must keep matching.
pub fn event_key(event: &InboxEvent) -> String {
    match event {
        InboxEvent::FaceResult { flow_id, success, .. } => {
            format!("face:{flow_id}:{}", if *success { "SUCCESS" } else { "FAIL" })
        }
        InboxEvent::AuthorizationResult { auth_id, status, .. } => {
            format!("auth:{auth_id}:{}", authorization::status_code(*status))
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;
    use crate::domain::model::AuthorizationStatus;
    use crate::domain::values::{AuthId, FlowId};

    #[test]
    fn event_keys_are_spelled_as_earlier_versions_stored_them() {
        let at = Utc::now();
        let face = |success| InboxEvent::FaceResult {
            flow_id: FlowId::parse("flow_id", "803719636976683872").unwrap(),
            success,
            fail_reason: None,
            occurred_at: at,
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
}
