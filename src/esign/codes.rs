//! e签宝's codes and spellings (esign.md §3, seeds 001-004), each written once, and what each means
//! in the domain's words. The client and the simulator take them from here; the domain knows none.
use super::api::FlowStatus;
use crate::code_table::code_table;
use crate::domain::model::{AuthType, AuthorizationStatus, AuthorizerType};
use crate::domain::ports::{FaceAuthMode, OutlineStatus, Refusal};

/// Refused: the authentication flow does not exist (seed 001).
pub const FLOW_NOT_FOUND: i64 = 30500001;
/// Refused: a person account exists already for this `thirdPartyUserId`; `data.accountId` holds it.
pub const ACCOUNT_EXISTS: i64 = 53000000;
/// OCR refused: recognition failed (esign.md §9).
pub const OCR_FAILED: i64 = 30503127;
/// OCR refused: the portrait side was not recognised (esign.md §9).
pub const OCR_PORTRAIT_NOT_RECOGNISED: i64 = 30503129;

/// Refused: the identity flow has ended already (esign.md §7, §10).
pub const FLOW_ENDED: i64 = 30500002;
/// Refused: the identity flow is older than 30 days.
pub const FLOW_EXPIRED: i64 = 30500003;
/// Refused: no company identity flow with this id.
pub const ORG_FLOW_NOT_FOUND: i64 = 30500004;
/// Refused: the handler's account has not passed personal verification.
pub const AGENT_NOT_VERIFIED: i64 = 30502008;
/// Refused: a factor is missing on the company account.
pub const FACTOR_MISSING: i64 = 30500100;
/// Refused: the company's information does not match (the flow is FAIL).
pub const INFO_MISMATCH: i64 = 30504001;

/// Refused (esign.md §8): the default seal cannot be deleted.
pub const SEAL_DEFAULT_UNDELETABLE: i64 = 60000;
/// Refused: the company has a seal with this alias already (aliases are unique per company).
pub const SEAL_ALIAS_EXISTS: i64 = 60001;
/// Refused: no seal with this id at this company.
pub const SEAL_NOT_FOUND: i64 = 60002;
/// Refused: `htext`/`qtext` given for a company whose name is longer than 25 characters.
pub const SEAL_TEXT_NOT_ALLOWED: i64 = 60003;

/// `idType` of a unified social credit code and of a registration number.
pub const ID_TYPE_USCC: &str = "CRED_ORG_USCC";
pub const ID_TYPE_REGCODE: &str = "CRED_ORG_REGCODE";

/// Refused (esign.md §10): the SMS code is wrong; the flow goes on.
pub const SMS_CODE_WRONG: i64 = 30503002;
/// Refused: too many wrong SMS codes; the flow has failed (start again).
pub const SMS_CODE_TOO_MANY_WRONG: i64 = 30503004;
/// Refused: the SMS code expired (15 minutes).
pub const SMS_CODE_EXPIRED: i64 = 30503006;
/// Refused: name, identity number and mobile do not belong together (telecom 3 factors).
pub const THREE_FACTORS_MISMATCH: i64 = 30501005;

/// What a refusal means to the process. A code not listed is `Other` and keeps its number.
pub fn refusal(code: i64) -> Refusal {
    match code {
        FLOW_NOT_FOUND | ORG_FLOW_NOT_FOUND => Refusal::FlowNotFound,
        SMS_CODE_TOO_MANY_WRONG => Refusal::TooManyWrongCodes,
        FLOW_ENDED => Refusal::FlowEnded,
        FLOW_EXPIRED => Refusal::FlowExpired,
        INFO_MISMATCH => Refusal::InfoMismatch,
        _ => Refusal::Other,
    }
}

/// `status` of an authorization (seed 002).
pub const AUTH_IN_PROGRESS: i64 = 1;
pub const AUTH_SUCCEEDED: i64 = 2;
pub const AUTH_FAILED: i64 = 3;
pub const AUTH_CANCELLED: i64 = 4;

code_table! {
    /// `status` of an authorization (seed 002).
    pub fn auth_status_code / auth_status: AuthorizationStatus => i64, from i64 {
        InProgress = AUTH_IN_PROGRESS,
        Succeeded = AUTH_SUCCEEDED,
        Failed = AUTH_FAILED,
        Cancelled = AUTH_CANCELLED,
    }
}

/// `authType` of an authorization (seed 004): to the platform, or to a handler (`personId` required).
pub const AUTH_TYPE_PLATFORM: i64 = 1;
pub const AUTH_TYPE_HANDLER: i64 = 2;

code_table! {
    /// `authType` of an authorization (seed 004).
    pub fn auth_type_code / auth_type: AuthType => i64, from i64 {
        Platform = AUTH_TYPE_PLATFORM,
        Handler = AUTH_TYPE_HANDLER,
    }
}

/// `authorizerType` of an authorization (seed 002): the company, or its legal representative.
pub const AUTHORIZER_COMPANY: i64 = 1;
pub const AUTHORIZER_LEGAL_REPRESENTATIVE: i64 = 2;

code_table! {
    /// `authorizerType` of an authorization (seed 002).
    pub fn authorizer_type_code / authorizer_type: AuthorizerType => i64, from i64 {
        Company = AUTHORIZER_COMPANY,
        LegalRepresentative = AUTHORIZER_LEGAL_REPRESENTATIVE,
    }
}

code_table! {
    /// `faceauthMode` of a face flow (seed 003).
    pub fn face_auth_mode_name / face_auth_mode: FaceAuthMode => &'static str, from &str {
        ZhimaCredit = "ZHIMACREDIT",
        Tencent = "TENCENT",
        Esign = "ESIGN",
        WeChat = "WE_CHAT",
    }
}

impl From<FlowStatus> for OutlineStatus {
    fn from(status: FlowStatus) -> Self {
        match status {
            FlowStatus::Init => Self::Init,
            FlowStatus::Ing => Self::Ing,
            FlowStatus::Success => Self::Success,
            FlowStatus::Fail => Self::Fail,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_reads_back_as_what_it_was_written_from() {
        for s in [
            AuthorizationStatus::InProgress,
            AuthorizationStatus::Succeeded,
            AuthorizationStatus::Failed,
            AuthorizationStatus::Cancelled,
        ] {
            assert_eq!(auth_status(auth_status_code(s)), Some(s));
        }
        assert_eq!((auth_status(0), auth_status(5)), (None, None));
        for t in [AuthType::Platform, AuthType::Handler] {
            assert_eq!(auth_type(auth_type_code(t)), Some(t));
        }
        for t in [AuthorizerType::Company, AuthorizerType::LegalRepresentative] {
            assert_eq!(authorizer_type(authorizer_type_code(t)), Some(t));
        }
        for m in [FaceAuthMode::ZhimaCredit, FaceAuthMode::Tencent, FaceAuthMode::Esign, FaceAuthMode::WeChat] {
            assert_eq!(face_auth_mode(face_auth_mode_name(m)), Some(m));
        }
        assert_eq!(face_auth_mode("zhimacredit"), None);
    }

    #[test]
    fn only_the_flow_not_found_code_reads_as_flow_not_found() {
        assert_eq!(refusal(30500001), Refusal::FlowNotFound);
        assert_eq!(refusal(ACCOUNT_EXISTS), Refusal::Other);
        assert_eq!(refusal(401), Refusal::Other);
    }
}
