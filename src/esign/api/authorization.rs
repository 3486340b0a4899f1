//! e签宝's wire format for the authorization letter for silent signing: create it (seed 004) and
//! query it (seed 002).
use serde::{Deserialize, Serialize};

/// Create an authorization (seed 004).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateAuthorizationBody {
    pub organize_id: String,
    pub contact: String,
    #[serde(default = "default_true")]
    pub send_notice: bool,
    /// 1 to the platform, 2 to a handler.
    #[serde(default = "default_auth_type")]
    pub auth_type: i64,
    /// Present exactly when `auth_type` is 2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person_id: Option<String>,
    /// Milliseconds.
    pub valid_date: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seal_scope: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_url: Option<String>,
}

fn default_true() -> bool {
    true
}

fn default_auth_type() -> i64 {
    super::super::codes::AUTH_TYPE_PLATFORM
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthIdData {
    pub auth_id: String,
}

/// Query an authorization (seed 002).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthorizationData {
    pub auth_id: String,
    /// 1 company, 2 legal representative.
    #[serde(default)]
    pub authorizer_type: Option<i64>,
    #[serde(default)]
    pub organize_id: Option<String>,
    #[serde(default)]
    pub legal_rep_id: Option<String>,
    #[serde(default)]
    pub auth_type: Option<i64>,
    #[serde(default)]
    pub person_id: Option<String>,
    /// Valid for 60 minutes; only when `status` is 2.
    #[serde(default)]
    pub auth_download_url: Option<String>,
    /// 1 in progress, 2 succeeded, 3 failed, 4 cancelled.
    pub status: i64,
    #[serde(default)]
    pub auth_des: Option<String>,
    /// Milliseconds.
    #[serde(default)]
    pub begin_date: Option<i64>,
    #[serde(default)]
    pub end_date: Option<i64>,
}
