//! e签宝's wire format for the handler's telecom 3-factor check by SMS (esign.md §10).
use std::fmt;

use serde::{Deserialize, Serialize};

/// `POST …/individual/{accountId}/telecom3Factors`: name and identity number are the account's.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SmsStartBody {
    pub mobile_no: String,
    pub repetition: bool,
    #[serde(default)]
    pub context_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_url: Option<String>,
}

impl fmt::Debug for SmsStartBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmsStartBody")
            .field("mobile_no", &crate::domain::values::mask_mobile(&self.mobile_no))
            .field("context_id", &self.context_id)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SmsStartData {
    pub flow_id: String,
}

/// `PUT …/individual/{flowId}/telecom3Factors`: the 6-digit code the handler received.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmsVerifyBody {
    pub authcode: String,
}
