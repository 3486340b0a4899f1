//! e签宝's wire format for the calls this service makes (esign.md §4, §7, §10): camelCase JSON bodies,
//! the `{code, message, data}` envelope, and — in [`paths`] — the one place the endpoint paths live.
use std::fmt;

use serde::{Deserialize, Serialize};

mod authorization;
mod ocr;
mod org;
mod seal;
mod sms;
pub use authorization::{AuthIdData, AuthorizationData, CreateAuthorizationBody};
pub use ocr::{IdCardOcrBody, IdCardOcrData, LicenseOcrBody, LicenseOcrData};
pub use org::{CreateOrgBody, FlowIdData, FourFactorsBody, OrgData, OrgIdData, PaymentProcessData, ReversePaymentData};
pub use seal::{ImageSealBody, SealCreatedData, SealData, SealListData, TemplateSealBody, default_size};
pub use sms::{SmsStartBody, SmsStartData, SmsVerifyBody};

/// Endpoint paths. Each template is also an axum 0.8 route pattern (`{name}` captures), so the
/// simulator serves exactly the paths the client calls. The two authorization paths are this
/// project's choice (the seeds only show the SDK): change them here to match a real account.
pub mod paths {
    pub const CREATE_ACCOUNT: &str = "/v1/accounts/createByThirdPartyUserId";
    pub const FACE_START: &str = "/v2/identity/auth/api/individual/{accountId}/face";
    pub const FLOW_OUTLINE: &str = "/v2/identity/auth/api/common/{flowId}/outline";
    pub const CREATE_AUTHORIZATION: &str = "/v1/authorizations";
    pub const QUERY_AUTHORIZATION: &str = "/v1/authorizations/{authId}";
    /// The handler's telecom 3-factor check, which sends the SMS code (esign.md §10).
    pub const SMS_START: &str = "/v2/identity/auth/api/individual/{accountId}/telecom3Factors";
    /// The SMS code filled back (`PUT`; `pub`, not `api`, as e签宝 spells it).
    pub const SMS_VERIFY: &str = "/v2/identity/auth/pub/individual/{flowId}/telecom3Factors";
    pub const CREATE_ORG: &str = "/v1/organizations/createByThirdPartyUserId";
    pub const ORG_BY_THIRD_ID: &str = "/v1/organizations/getByThirdId";
    pub const ORG_FOUR_FACTORS: &str = "/v2/identity/auth/api/organization/enterprise/{orgId}/fourFactors";
    pub const REVERSE_PAYMENT: &str = "/v2/identity/auth/pub/organization/{flowId}/reversePayment";
    pub const REVERSE_PAYMENT_PROCESS: &str = "/v2/identity/auth/pub/organization/{flowId}/query/reversePaymentProcess";
    /// The company's seals (esign.md §8).
    pub const SEAL_TEMPLATE: &str = "/v1/organizations/{orgId}/seals/officialtemplate";
    pub const SEALS: &str = "/v1/organizations/{orgId}/seals";
    pub const SEAL_DEFAULT: &str = "/v1/organizations/{orgId}/seals/{sealId}/setDefault";
    pub const SEAL: &str = "/v1/organizations/{orgId}/seals/{sealId}";
    pub const SEAL_IMAGE: &str = "/v1/organizations/{orgId}/seals/image";
    pub const PERSON_SEALS: &str = "/v1/accounts/{accountId}/seals";

    pub fn seal_image(org_id: &str) -> String {
        SEAL_IMAGE.replace("{orgId}", org_id)
    }

    pub fn person_seals(account_id: &str, offset: u32, size: u32) -> String {
        format!("{}?offset={offset}&size={size}", PERSON_SEALS.replace("{accountId}", account_id))
    }

    pub fn seal_template(org_id: &str) -> String {
        SEAL_TEMPLATE.replace("{orgId}", org_id)
    }

    pub fn seals(org_id: &str, offset: u32, size: u32) -> String {
        format!("{}?offset={offset}&size={size}", SEALS.replace("{orgId}", org_id))
    }

    pub fn seal_default(org_id: &str, seal_id: &str) -> String {
        SEAL_DEFAULT.replace("{orgId}", org_id).replace("{sealId}", seal_id)
    }

    pub fn seal(org_id: &str, seal_id: &str) -> String {
        SEAL.replace("{orgId}", org_id).replace("{sealId}", seal_id)
    }

    pub fn org_by_third_id(third_party_user_id: &str) -> String {
        format!("{ORG_BY_THIRD_ID}?thirdPartyUserId={third_party_user_id}")
    }

    pub fn org_four_factors(org_id: &str) -> String {
        ORG_FOUR_FACTORS.replace("{orgId}", org_id)
    }

    pub fn reverse_payment(flow_id: &str) -> String {
        REVERSE_PAYMENT.replace("{flowId}", flow_id)
    }

    pub fn reverse_payment_process(flow_id: &str) -> String {
        REVERSE_PAYMENT_PROCESS.replace("{flowId}", flow_id)
    }
    /// OCR of an identity card (esign.md §9).
    pub const OCR_ID_CARD: &str = "/v2/identity/auth/api/ocr/idcard";
    /// OCR of a business licence (esign.md §9).
    pub const OCR_LICENSE: &str = "/v2/identity/auth/api/ocr/license";

    /// `FACE_START` for one account. Ids are domain ids (no `/ ? # %`), so no escaping is needed.
    pub fn face_start(account_id: &str) -> String {
        FACE_START.replace("{accountId}", account_id)
    }

    pub fn flow_outline(flow_id: &str) -> String {
        FLOW_OUTLINE.replace("{flowId}", flow_id)
    }

    pub fn query_authorization(auth_id: &str) -> String {
        QUERY_AUTHORIZATION.replace("{authId}", auth_id)
    }

    pub fn sms_start(account_id: &str) -> String {
        SMS_START.replace("{accountId}", account_id)
    }

    pub fn sms_verify(flow_id: &str) -> String {
        SMS_VERIFY.replace("{flowId}", flow_id)
    }
}

/// The endpoints, named once: the client's metric labels and the simulator's counters, faults
/// and control API use these names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Endpoint {
    /// `POST /v1/accounts/createByThirdPartyUserId`
    Account,
    /// `POST /v2/identity/auth/api/individual/{accountId}/face`
    Face,
    /// `GET /v2/identity/auth/api/common/{flowId}/outline`
    Outline,
    /// `POST /v1/authorizations`
    AuthCreate,
    /// `GET /v1/authorizations/{authId}`
    AuthQuery,
    /// `POST /v1/organizations/createByThirdPartyUserId`
    OrgAccount,
    /// `GET /v1/organizations/getByThirdId`
    OrgGet,
    /// `POST /v2/identity/auth/api/organization/enterprise/{orgId}/fourFactors`
    FourFactors,
    /// `POST /v2/identity/auth/pub/organization/{flowId}/reversePayment`
    ReversePayment,
    /// `GET /v2/identity/auth/pub/organization/{flowId}/query/reversePaymentProcess`
    PaymentProcess,
    /// `POST /v2/identity/auth/api/individual/{accountId}/telecom3Factors`
    SmsStart,
    /// `PUT /v2/identity/auth/pub/individual/{flowId}/telecom3Factors`
    SmsVerify,
    /// `POST /v1/organizations/{orgId}/seals/officialtemplate`
    SealTemplate,
    /// `GET /v1/organizations/{orgId}/seals`
    SealList,
    /// `PUT /v1/organizations/{orgId}/seals/{sealId}/setDefault`
    SealDefault,
    /// `DELETE /v1/organizations/{orgId}/seals/{sealId}`
    SealDelete,
    /// `POST /v1/organizations/{orgId}/seals/image`
    SealImage,
    /// `GET /v1/accounts/{accountId}/seals`
    PersonSeals,
}

impl Endpoint {
    pub const ALL: [Endpoint; 18] = [
        Self::Account,
        Self::Face,
        Self::Outline,
        Self::AuthCreate,
        Self::AuthQuery,
        Self::OrgAccount,
        Self::OrgGet,
        Self::FourFactors,
        Self::ReversePayment,
        Self::PaymentProcess,
        Self::SmsStart,
        Self::SmsVerify,
        Self::SealTemplate,
        Self::SealList,
        Self::SealDefault,
        Self::SealDelete,
        Self::SealImage,
        Self::PersonSeals,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Account => "account",
            Self::Face => "face",
            Self::Outline => "outline",
            Self::AuthCreate => "auth_create",
            Self::AuthQuery => "auth_query",
            Self::OrgAccount => "org_account",
            Self::OrgGet => "org_get",
            Self::FourFactors => "four_factors",
            Self::ReversePayment => "reverse_payment",
            Self::PaymentProcess => "payment_process",
            Self::SmsStart => "sms_start",
            Self::SmsVerify => "sms_verify",
            Self::SealTemplate => "seal_template",
            Self::SealList => "seal_list",
            Self::SealDefault => "seal_default",
            Self::SealDelete => "seal_delete",
            Self::SealImage => "seal_image",
            Self::PersonSeals => "person_seals",
        }
    }
}

/// `code` of a successful answer.
pub const CODE_OK: i64 = 0;
/// `idType` of a mainland resident identity card.
pub const ID_TYPE_RESIDENT_CARD: &str = "CRED_PSN_CH_IDCARD";

/// Every e签宝 answer: `code == 0` is success; `message` is for people (never match on it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope<T> {
    pub code: i64,
    #[serde(default)]
    pub message: Option<String>,
    /// Absent or null on a refusal (a missing `Option` field deserializes as `None`).
    pub data: Option<T>,
}

impl<T> Envelope<T> {
    pub fn ok(data: T) -> Self {
        Self { code: CODE_OK, message: Some("成功".to_owned()), data: Some(data) }
    }

    pub fn refused(code: i64, message: impl Into<String>) -> Self {
        Self { code, message: Some(message.into()), data: None }
    }
}

/// `flowStatus` of a flow outline (seed 001): what e签宝 says of a flow, and what the simulator keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FlowStatus {
    Init,
    Ing,
    Success,
    Fail,
}

impl FlowStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Init => "INIT",
            Self::Ing => "ING",
            Self::Success => "SUCCESS",
            Self::Fail => "FAIL",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Init, Self::Ing, Self::Success, Self::Fail].into_iter().find(|f| f.as_str() == s)
    }

    pub fn is_final(self) -> bool {
        matches!(self, Self::Success | Self::Fail)
    }
}

/// `POST /v1/accounts/createByThirdPartyUserId`. Field order is the order on the wire (vector V2).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateAccountBody {
    pub third_party_user_id: String,
    pub name: String,
    pub id_type: String,
    pub id_number: String,
    pub mobile: String,
}

impl fmt::Debug for CreateAccountBody {
    // The identity number and mobile never reach a log line in full.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CreateAccountBody")
            .field("third_party_user_id", &self.third_party_user_id)
            .field("id_type", &self.id_type)
            .field("id_number", &crate::domain::values::mask_id(&self.id_number))
            .field("mobile", &crate::domain::values::mask_mobile(&self.mobile))
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountData {
    pub account_id: String,
}

/// `POST /v2/identity/auth/api/individual/{accountId}/face`. Field order as vector V3.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FaceStartBody {
    pub faceauth_mode: String,
    pub repetition: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_url: Option<String>,
    /// Optional for e签宝; this service always sends the member number.
    #[serde(default)]
    pub context_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FaceStartData {
    pub flow_id: String,
    /// Short link.
    pub auth_url: String,
    /// Long link.
    pub original_url: String,
}

/// `GET /v2/identity/auth/api/common/{flowId}/outline` (seed 001).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutlineData {
    pub flow_id: String,
    /// A [`FlowStatus`]: `INIT`, `ING`, `SUCCESS`, `FAIL`.
    pub flow_status: String,
    #[serde(default)]
    pub object_type: Option<String>,
    #[serde(default)]
    pub context_id: Option<String>,
    #[serde(default)]
    pub fail_reason: Option<String>,
    #[serde(default)]
    pub create_time: Option<i64>,
    #[serde(default)]
    pub modify_time: Option<i64>,
    #[serde(default)]
    pub sub_flows: Vec<SubFlow>,
    #[serde(default)]
    pub related_flows: Vec<RelatedFlow>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubFlow {
    #[serde(default)]
    pub sub_flow_id: Option<String>,
    #[serde(default)]
    pub sub_flow_type: Option<String>,
    /// `ING`, `SUCCESS`, `FAIL`, `TERMINATED`.
    #[serde(default)]
    pub status: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RelatedFlow {
    #[serde(default)]
    pub flow_id: Option<String>,
    #[serde(default)]
    pub flow_status: Option<String>,
    #[serde(default)]
    pub object_type: Option<String>,
    #[serde(default)]
    pub context_id: Option<String>,
    #[serde(default)]
    pub fail_reason: Option<String>,
    #[serde(default)]
    pub sub_flows: Vec<SubFlow>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_body_serializes_to_the_v2_bytes() {
        let body = CreateAccountBody {
            third_party_user_id: "ETC000123456".into(),
            name: "张三".into(),
            id_type: ID_TYPE_RESIDENT_CARD.into(),
            id_number: "11010519491231002X".into(),
            mobile: "13800138000".into(),
        };
        let bytes = serde_json::to_vec(&body).unwrap();
        assert_eq!(
            std::str::from_utf8(&bytes).unwrap(),
            r#"{"thirdPartyUserId":"ETC000123456","name":"张三","idType":"CRED_PSN_CH_IDCARD","idNumber":"11010519491231002X","mobile":"13800138000"}"#
        );
        let debug = format!("{body:?}");
        assert!(!debug.contains("11010519491231002X") && !debug.contains("13800138000"), "{debug}");
    }

    #[test]
    fn face_body_serializes_to_the_v3_bytes() {
        let body = FaceStartBody {
            faceauth_mode: "ZHIMACREDIT".into(),
            repetition: true,
            callback_url: Some("https://etc.example.com/face/done".into()),
            context_id: "ETC000123456".into(),
            notify_url: Some("https://esign-callback.etc.example.com/esign/callback".into()),
        };
        assert_eq!(
            serde_json::to_string(&body).unwrap(),
            r#"{"faceauthMode":"ZHIMACREDIT","repetition":true,"callbackUrl":"https://etc.example.com/face/done","contextId":"ETC000123456","notifyUrl":"https://esign-callback.etc.example.com/esign/callback"}"#
        );
    }

    #[test]
    fn outline_reads_the_seed_001_example_shape() {
        let json = r#"{"code":0,"message":"成功","data":{"flowId":"803719636976683872","flowStatus":"ING","objectType":"ORGANIZATION","failReason":null,"createTime":1562656814273,"modifyTime":1562656874000,"contextId":"x","subFlows":[{"subFlowId":"s","subFlowType":"ORGANIZATION_INFO_AUTH","status":"ING"}],"relatedFlows":[{"flowId":"8","flowStatus":"SUCCESS","objectType":"INDIVIDUAL","failReason":null,"contextId":"x","subFlows":[]}]}}"#;
        let env: Envelope<OutlineData> = serde_json::from_str(json).unwrap();
        let data = env.data.unwrap();
        assert_eq!(data.flow_status, "ING");
        assert_eq!(data.modify_time, Some(1562656874000));
        assert_eq!(data.related_flows.len(), 1);
    }

    #[test]
    fn paths_fill_their_templates() {
        assert_eq!(
            paths::flow_outline("803719636976683872"),
            "/v2/identity/auth/api/common/803719636976683872/outline"
        );
        assert_eq!(paths::face_start("a1"), "/v2/identity/auth/api/individual/a1/face");
        assert_eq!(paths::query_authorization("z9"), "/v1/authorizations/z9");
    }
}
