//! e签宝 as the process needs it: the calls it makes, their requests and answers in the process's
//! words, and why a call did not succeed. `crate::esign`'s client implements it (e签宝 or the simulator).
use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::domain::doc_ports::{IdCardOcrRequest, IdCardReading, LicenceOcrRequest, LicenceReading};
use crate::domain::model::{
    AuthType, AuthorizationStatus, AuthorizerType, PaymentProcess, PaymentProgress, ReceivingAccount, SealTemplate,
    UpstreamSeal,
};
use crate::domain::values::{
    AccountId, AccountKey, AuthId, FlowId, Mobile, OrgIdNumber, OrgName, PersonName, ResidentId, SmsCode, mask_mobile,
};

/// Why a call to e签宝 did not succeed. Only `Unavailable`, `Timeout` and `Malformed` are worth
/// retrying; `Refused` is e签宝's considered answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpstreamError {
    /// e签宝 answered its envelope with `code != 0` (or its gateway refused the request). `code`
    /// and `message` are e签宝's, for people and callers; `reason` is what the process acts on.
    #[error("e签宝 refused the request (code {code}): {message}")]
    Refused { code: i64, message: String, reason: Refusal },
    /// e签宝 could not be reached or answered HTTP 5xx.
    #[error("e签宝 is unavailable: {0}")]
    Unavailable(String),
    /// No answer within the configured time.
    #[error("e签宝 did not answer in time")]
    Timeout,
    /// An answer that is not e签宝's envelope, or whose `data` lacks what the call needs.
    #[error("e签宝 answered something unreadable: {0}")]
    Malformed(String),
}

/// What a refusal means to the process, as the adapter classifies e签宝's code (`crate::esign::codes`).
/// A new reason is a variant here and one line there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The flow asked about does not exist: nothing will ever finish it.
    FlowNotFound,
    /// Too many wrong SMS codes: e签宝 failed the flow.
    TooManyWrongCodes,
    /// The flow has ended already (its outline says how).
    FlowEnded,
    /// The flow outlived its 30 days.
    FlowExpired,
    /// The company's information does not match the registry: its flow is FAIL.
    InfoMismatch,
    /// Any other refusal: e签宝's considered answer, passed on with its code.
    Other,
}

/// Create (or reuse) the handler's e签宝 person account.
#[derive(Debug, Clone)]
pub struct PersonAccountRequest {
    /// `thirdPartyUserId`: the ETC member number.
    pub third_party_user_id: AccountKey,
    pub name: PersonName,
    pub id_number: ResidentId,
    pub mobile: Mobile,
}

/// Who checks the face (seed 003 `faceauthMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FaceAuthMode {
    /// Alipay's Zhima Credit.
    #[default]
    ZhimaCredit,
    Tencent,
    /// e签宝's own.
    Esign,
    WeChat,
}

/// Start a face flow for an account.
#[derive(Debug, Clone)]
pub struct FaceAuthRequest {
    pub account_id: AccountId,
    pub mode: FaceAuthMode,
    /// Always true: a handler may retry the face check within one flow.
    pub repetition: bool,
    /// Where the person's browser goes afterwards (`callbackUrl`); `None`: e签宝's page.
    pub redirect_url: Option<String>,
    /// `contextId`: the member number, so a flow can be traced back.
    pub context_id: String,
    /// `notifyUrl`: the service's own callback receiver.
    pub notify_url: String,
}

/// What e签宝 answers when a face flow starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaceAuthStarted {
    pub flow_id: FlowId,
    pub auth_url: String,
    pub original_url: String,
}

/// Start the handler's telecom 3-factor flow for an account: e签宝 checks the account's name and
/// identity number against `mobile` and sends the code to it.
#[derive(Debug, Clone)]
pub struct SmsAuthRequest {
    pub account_id: AccountId,
    pub mobile: Mobile,
    /// `contextId`: the member number.
    pub context_id: String,
    /// `notifyUrl`: the service's own callback receiver.
    pub notify_url: String,
}

/// `flowStatus` of a flow outline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutlineStatus {
    Init,
    Ing,
    Success,
    Fail,
}

/// The part of a flow outline (seed 001) the process needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowOutline {
    pub flow_id: FlowId,
    pub status: OutlineStatus,
    pub context_id: Option<String>,
    pub fail_reason: Option<String>,
    pub modify_time: Option<DateTime<Utc>>,
}

/// Create an authorization (seed 004).
#[derive(Clone, PartialEq, Eq)]
pub struct CreateAuthorizationRequest {
    pub organize_id: AccountId,
    /// Mobile number or e-mail address.
    pub contact: String,
    pub send_notice: bool,
    pub auth_type: AuthType,
    /// Present exactly when `auth_type` is `Handler`.
    pub person_id: Option<AccountId>,
    /// `validDate`, as e签宝 wants it: milliseconds.
    pub valid_date: DateTime<Utc>,
    pub seal_scope: Option<String>,
    pub file_type: Option<String>,
    pub notify_url: String,
    pub redirect_url: Option<String>,
}

/// The contact (a mobile or an e-mail address) prints masked.
impl std::fmt::Debug for CreateAuthorizationRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreateAuthorizationRequest")
            .field("organize_id", &self.organize_id)
            .field("contact", &mask_mobile(&self.contact))
            .field("send_notice", &self.send_notice)
            .field("auth_type", &self.auth_type)
            .field("person_id", &self.person_id)
            .field("valid_date", &self.valid_date)
            .field("seal_scope", &self.seal_scope)
            .field("file_type", &self.file_type)
            .field("notify_url", &self.notify_url)
            .field("redirect_url", &self.redirect_url)
            .finish()
    }
}

/// An authorization as e签宝 reports it (seed 002).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationInfo {
    pub auth_id: AuthId,
    pub authorizer_type: Option<AuthorizerType>,
    pub organize_id: Option<String>,
    pub legal_rep_id: Option<String>,
    pub auth_type: Option<AuthType>,
    pub person_id: Option<String>,
    /// Valid for 60 minutes from when it was answered.
    pub auth_download_url: Option<String>,
    pub status: AuthorizationStatus,
    pub auth_des: Option<String>,
    pub begin_date: Option<DateTime<Utc>>,
    pub end_date: Option<DateTime<Utc>>,
}

/// Create (or reuse) the company's e签宝 organization account; the four factors live on it.
#[derive(Debug, Clone)]
pub struct OrgAccountRequest {
    /// `thirdPartyUserId`: the ETC member number.
    pub third_party_user_id: AccountKey,
    /// `creator`: the handler's person account.
    pub creator: AccountId,
    pub name: OrgName,
    pub id_number: OrgIdNumber,
    pub legal_name: PersonName,
    pub legal_id_number: ResidentId,
}

/// The company account e签宝 holds for a `thirdPartyUserId`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgAccount {
    pub org_id: AccountId,
    pub name: String,
    pub id_number: String,
}

/// Start the company's 4-factor verification, naming the handler's passed flow (`frAuthEnable`).
#[derive(Debug, Clone)]
pub struct FourFactorsRequest {
    pub org_id: AccountId,
    pub agent_account_id: AccountId,
    pub agent_flow_id: FlowId,
    pub context_id: String,
    pub notify_url: String,
}

/// e签宝, whichever one: the sandbox, production, or the simulator.
#[async_trait]
pub trait ESign: Send + Sync + 'static {
    /// `POST /v1/accounts/createByThirdPartyUserId`; an account that exists already is answered by its id.
    async fn create_person_account(&self, req: &PersonAccountRequest) -> Result<AccountId, UpstreamError>;
    /// `POST /v2/identity/auth/api/individual/{accountId}/face`.
    async fn start_face_auth(&self, req: &FaceAuthRequest) -> Result<FaceAuthStarted, UpstreamError>;
    /// `POST …/individual/{accountId}/telecom3Factors`: the flow id; the code goes to the mobile.
    async fn start_sms_auth(&self, req: &SmsAuthRequest) -> Result<FlowId, UpstreamError>;
    /// `PUT …/individual/{flowId}/telecom3Factors`: Ok when the code was right and the flow passed.
    async fn verify_sms_code(&self, flow_id: &FlowId, code: &SmsCode) -> Result<(), UpstreamError>;
    /// `GET /v2/identity/auth/api/common/{flowId}/outline` (an idempotent read: retried).
    async fn flow_outline(&self, flow_id: &FlowId) -> Result<FlowOutline, UpstreamError>;
    /// Create an authorization (seed 004).
    async fn create_authorization(&self, req: &CreateAuthorizationRequest) -> Result<AuthId, UpstreamError>;
    /// Query an authorization (seed 002; an idempotent read: retried).
    async fn query_authorization(&self, auth_id: &AuthId) -> Result<AuthorizationInfo, UpstreamError>;
    /// `POST /v1/organizations/createByThirdPartyUserId`; an account that exists already (53000000)
    /// is read back with `getByThirdId`.
    async fn create_org_account(&self, req: &OrgAccountRequest) -> Result<OrgAccount, UpstreamError>;
    /// `POST /v2/identity/auth/api/organization/enterprise/{orgId}/fourFactors`: the flow id.
    async fn start_org_four_factors(&self, req: &FourFactorsRequest) -> Result<FlowId, UpstreamError>;
    /// `POST /v2/identity/auth/pub/organization/{flowId}/reversePayment`: the account to pay into.
    async fn start_reverse_payment(&self, flow_id: &FlowId) -> Result<ReceivingAccount, UpstreamError>;
    /// `GET .../{flowId}/query/reversePaymentProcess` (an idempotent read: retried).
    async fn reverse_payment_progress(
        &self,
        flow_id: &FlowId,
    ) -> Result<(PaymentProcess, PaymentProgress), UpstreamError>;
    /// `POST /v2/identity/auth/api/ocr/idcard` (esign.md §9).
    async fn ocr_id_card(&self, req: &IdCardOcrRequest) -> Result<IdCardReading, UpstreamError>;
    /// `POST /v2/identity/auth/api/ocr/license` (esign.md §9).
    async fn ocr_licence(&self, req: &LicenceOcrRequest) -> Result<LicenceReading, UpstreamError>;
    /// `POST /v1/organizations/{orgId}/seals/officialtemplate`: the new seal (not yet the default).
    async fn create_template_seal(
        &self,
        org_id: &AccountId,
        template: &SealTemplate,
    ) -> Result<UpstreamSeal, UpstreamError>;
    /// `GET /v1/organizations/{orgId}/seals` (an idempotent read: retried): every seal of the company.
    async fn list_org_seals(&self, org_id: &AccountId) -> Result<Vec<UpstreamSeal>, UpstreamError>;
    /// `PUT /v1/organizations/{orgId}/seals/{sealId}/setDefault`.
    async fn set_default_seal(&self, org_id: &AccountId, seal_id: &str) -> Result<(), UpstreamError>;
    /// `POST /v1/organizations/{orgId}/seals/image`: the new seal (not yet the default).
    async fn create_image_seal(
        &self,
        org_id: &AccountId,
        seal: &ImageSealRequest,
    ) -> Result<UpstreamSeal, UpstreamError>;
    /// `DELETE /v1/organizations/{orgId}/seals/{sealId}`.
    async fn delete_seal(&self, org_id: &AccountId, seal_id: &str) -> Result<(), UpstreamError>;
    /// `GET /v1/accounts/{accountId}/seals` (an idempotent read: retried): every seal of a person.
    async fn list_person_seals(&self, account_id: &AccountId) -> Result<Vec<UpstreamSeal>, UpstreamError>;
}

/// An image seal to create: a PNG already checked by its content.
#[derive(Clone)]
pub struct ImageSealRequest {
    pub alias: String,
    pub png: Vec<u8>,
    pub transparent: bool,
    pub width: u32,
    pub height: u32,
}

impl std::fmt::Debug for ImageSealRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ImageSealRequest({:?}, {} bytes)", self.alias, self.png.len())
    }
}
