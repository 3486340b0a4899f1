//! e签宝's wire format for the company's calls (esign.md §7): its account, its 4-factor flow and its
//! reverse payment. Account and identity numbers print masked.
use std::fmt;

use serde::{Deserialize, Serialize};

/// `POST /v1/organizations/createByThirdPartyUserId` (esign.md §7).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateOrgBody {
    pub third_party_user_id: String,
    pub creator: String,
    pub name: String,
    pub id_type: String,
    pub id_number: String,
    pub org_legal_name: String,
    pub org_legal_id_number: String,
}

impl fmt::Debug for CreateOrgBody {
    // The legal person's identity number never reaches a log line in full.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CreateOrgBody")
            .field("third_party_user_id", &self.third_party_user_id)
            .field("id_type", &self.id_type)
            .field("org_legal_id_number", &crate::domain::values::mask_id(&self.org_legal_id_number))
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrgIdData {
    pub org_id: String,
}

/// `GET /v1/organizations/getByThirdId`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrgData {
    pub org_id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub id_type: Option<String>,
    #[serde(default)]
    pub id_number: Option<String>,
    #[serde(default)]
    pub third_party_user_id: Option<String>,
}

/// `POST .../enterprise/{orgId}/fourFactors`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FourFactorsBody {
    pub agent_account_id: String,
    pub agent_flow_id: String,
    pub fr_auth_enable: bool,
    pub repetition: bool,
    #[serde(default)]
    pub context_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FlowIdData {
    pub flow_id: String,
}

/// `POST .../{flowId}/reversePayment`: the account to pay into.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReversePaymentData {
    pub main_account_name: String,
    pub sub_account_no: String,
    pub main_account_bank: String,
    pub payment_amount: String,
}

impl fmt::Debug for ReversePaymentData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReversePaymentData")
            .field("sub_account_no", &crate::domain::values::mask_account(&self.sub_account_no))
            .finish_non_exhaustive()
    }
}

/// `GET .../{flowId}/query/reversePaymentProcess`: strings, any may be null.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct PaymentProcessData {
    #[serde(default)]
    pub process: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub sub_account: Option<String>,
    #[serde(default)]
    pub sub_account_channel_name: Option<String>,
    #[serde(default)]
    pub main_account_name: Option<String>,
    #[serde(default)]
    pub opp_account_no: Option<String>,
    #[serde(default)]
    pub opp_account_name: Option<String>,
    #[serde(default)]
    pub opp_bank_name: Option<String>,
    #[serde(default)]
    pub pay_amount: Option<String>,
    #[serde(default)]
    pub trade_time: Option<String>,
    #[serde(default)]
    pub create_time: Option<String>,
    #[serde(default)]
    pub modify_time: Option<String>,
    #[serde(default)]
    pub biz_flow_no: Option<String>,
}

impl fmt::Debug for PaymentProcessData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PaymentProcessData")
            .field("process", &self.process)
            .field("opp_account_no", &self.opp_account_no.as_deref().map(crate::domain::values::mask_account))
            .finish_non_exhaustive()
    }
}
