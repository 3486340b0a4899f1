//! proto ⇄ domain. Each request is destructured with no `..` and every field checked before any
//! typed value comes out (`AllValid`); each answer names every field. Either way a new proto field
//! is a compile error here rather than a silent default.
use chrono::{DateTime, NaiveDate, Utc};
use prost_types::Timestamp;

use super::pb;
use crate::domain::error::AllValid;
use crate::domain::model::{
    AuthType, Authorization, AuthorizationStatus, AuthorizerType, Handler, Node, Process, ProcessStatus,
};
use crate::domain::ports::FaceAuthMode;
use crate::domain::values::{
    AccountId, AuthId, Contact, FieldViolation, MemberNo, Mobile, PersonName, RequestId, ResidentId, SmsCode,
    ValidPeriod, mask_id, mask_mobile, parse_http_url, parse_optional_text,
};
use crate::domain::{CreateAuthorization, DomainError, FaceAuthOutcome, StartFaceAuth, StartSmsAuth, VerifySmsCode};

pub fn ts(t: DateTime<Utc>) -> Timestamp {
    Timestamp { seconds: t.timestamp(), nanos: t.timestamp_subsec_nanos() as i32 }
}

fn from_ts(field: &'static str, t: &Timestamp) -> Result<DateTime<Utc>, FieldViolation> {
    DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).unwrap_or(u32::MAX))
        .ok_or_else(|| FieldViolation::new(field, "is not a valid instant"))
}

/// An optional URL: empty is "not given".
fn optional_url(field: &'static str, s: &str) -> Result<Option<String>, FieldViolation> {
    if s.is_empty() { Ok(None) } else { parse_http_url(field, s).map(Some) }
}

/// What `GetProcessDetail` asks.
pub struct ProcessQuery {
    pub member_no: MemberNo,
    /// Check a running step with e签宝 first.
    pub refresh: bool,
}

pub fn process_query(req: pb::GetProcessDetailRequest) -> Result<ProcessQuery, DomainError> {
    let pb::GetProcessDetailRequest { etc_member_no, refresh } = req;
    Ok(ProcessQuery { member_no: MemberNo::parse(&etc_member_no)?, refresh })
}

pub fn authorization_query(req: pb::QueryAuthorizationRequest) -> Result<AuthId, DomainError> {
    let pb::QueryAuthorizationRequest { auth_id } = req;
    Ok(AuthId::parse("auth_id", &auth_id)?)
}

pub fn start_face_auth(req: pb::StartFaceAuthRequest, today: NaiveDate) -> Result<StartFaceAuth, DomainError> {
    let pb::StartFaceAuthRequest { etc_member_no, name, id_number, mobile, valid_period, redirect_url, face_auth_mode } =
        req;
    let (member_no, name, id_number, mobile, valid_period, redirect_url, mode) = (
        MemberNo::parse(&etc_member_no),
        PersonName::parse("name", &name),
        ResidentId::parse("id_number", &id_number),
        Mobile::parse("mobile", &mobile),
        ValidPeriod::parse("valid_period", &valid_period, today),
        optional_url("redirect_url", &redirect_url),
        face_auth_mode_of(face_auth_mode),
    )
        .all_valid()?;
    Ok(StartFaceAuth { member_no, handler: Handler { name, id_number, mobile, valid_period }, redirect_url, mode })
}

pub fn start_sms_auth(req: pb::StartSmsAuthRequest, today: NaiveDate) -> Result<StartSmsAuth, DomainError> {
    let pb::StartSmsAuthRequest { etc_member_no, name, id_number, mobile, valid_period } = req;
    let (member_no, name, id_number, mobile, valid_period) = (
        MemberNo::parse(&etc_member_no),
        PersonName::parse("name", &name),
        ResidentId::parse("id_number", &id_number),
        Mobile::parse("mobile", &mobile),
        ValidPeriod::parse("valid_period", &valid_period, today),
    )
        .all_valid()?;
    Ok(StartSmsAuth { member_no, handler: Handler { name, id_number, mobile, valid_period } })
}

pub fn verify_sms_code(req: pb::VerifySmsCodeRequest) -> Result<VerifySmsCode, DomainError> {
    let pb::VerifySmsCodeRequest { etc_member_no, code } = req;
    let (member_no, code) = (MemberNo::parse(&etc_member_no), SmsCode::parse("code", &code)).all_valid()?;
    Ok(VerifySmsCode { member_no, code })
}

fn face_auth_mode_of(mode: i32) -> Result<FaceAuthMode, FieldViolation> {
    match pb::FaceAuthMode::try_from(mode) {
        Ok(pb::FaceAuthMode::Unspecified | pb::FaceAuthMode::Zhimacredit) => Ok(FaceAuthMode::ZhimaCredit),
        Ok(pb::FaceAuthMode::Tencent) => Ok(FaceAuthMode::Tencent),
        Ok(pb::FaceAuthMode::Esign) => Ok(FaceAuthMode::Esign),
        Ok(pb::FaceAuthMode::WeChat) => Ok(FaceAuthMode::WeChat),
        Err(_) => Err(FieldViolation::new("face_auth_mode", "is not a known mode")),
    }
}

pub fn create_authorization(
    req: pb::CreateOrgAuthorizationRequest,
    now: DateTime<Utc>,
) -> Result<CreateAuthorization, DomainError> {
    let pb::CreateOrgAuthorizationRequest {
        etc_member_no,
        request_id,
        organize_id,
        contact,
        send_notice,
        auth_type,
        handler_person_id,
        valid_date,
        seal_scope,
        file_type,
        redirect_url,
    } = req;
    let auth_type = auth_type_of(auth_type);
    // Judged against the type asked for; an unknown type is reported once, under auth_type.
    let person_id = person_id_for(auth_type.as_ref().ok().copied(), &handler_person_id);
    let (
        member_no,
        request_id,
        organize_id,
        contact,
        auth_type,
        person_id,
        valid_date,
        seal_scope,
        file_type,
        redirect_url,
    ) = (
        MemberNo::parse(&etc_member_no),
        RequestId::parse("request_id", &request_id),
        optional_account("organize_id", &organize_id),
        Contact::parse("contact", &contact),
        auth_type,
        person_id,
        valid_date_of(valid_date.as_ref(), now),
        parse_optional_text("seal_scope", &seal_scope, 64),
        parse_optional_text("file_type", &file_type, 64),
        optional_url("redirect_url", &redirect_url),
    )
        .all_valid()?;
    Ok(CreateAuthorization {
        member_no,
        request_id,
        organize_id,
        contact,
        send_notice: send_notice.unwrap_or(true),
        auth_type,
        person_id,
        valid_date,
        seal_scope,
        file_type,
        redirect_url,
    })
}

/// An optional account id: empty means not given.
fn optional_account(field: &'static str, s: &str) -> Result<Option<AccountId>, FieldViolation> {
    if s.is_empty() { Ok(None) } else { AccountId::parse(field, s).map(Some) }
}

fn auth_type_of(auth_type: i32) -> Result<AuthType, FieldViolation> {
    match pb::AuthType::try_from(auth_type) {
        Ok(pb::AuthType::Unspecified | pb::AuthType::Platform) => Ok(AuthType::Platform),
        Ok(pb::AuthType::Handler) => Ok(AuthType::Handler),
        Err(_) => Err(FieldViolation::new("auth_type", "is not a known auth type")),
    }
}

/// A handler's person id is given exactly when the letter authorizes a handler.
fn person_id_for(auth_type: Option<AuthType>, person_id: &str) -> Result<Option<AccountId>, FieldViolation> {
    const FIELD: &str = "handler_person_id";
    match (auth_type, person_id.is_empty()) {
        (Some(AuthType::Handler), true) => {
            Err(FieldViolation::new(FIELD, "is required when auth_type is AUTH_TYPE_HANDLER"))
        }
        (Some(AuthType::Handler), false) => AccountId::parse(FIELD, person_id).map(Some),
        (_, false) => Err(FieldViolation::new(FIELD, "must be empty unless auth_type is AUTH_TYPE_HANDLER")),
        (_, true) => Ok(None),
    }
}

fn valid_date_of(valid_date: Option<&Timestamp>, now: DateTime<Utc>) -> Result<DateTime<Utc>, FieldViolation> {
    const FIELD: &str = "valid_date";
    let date = from_ts(FIELD, valid_date.ok_or_else(|| FieldViolation::new(FIELD, "is required"))?)?;
    if date <= now {
        return Err(FieldViolation::new(FIELD, "must be in the future"));
    }
    if date > now + chrono::Duration::days(366 * 30) {
        return Err(FieldViolation::new(FIELD, "must be within 30 years"));
    }
    Ok(date)
}

pub fn status(s: ProcessStatus) -> pb::AuthProcessStatus {
    use pb::AuthProcessStatus as P;
    match s {
        ProcessStatus::NotStarted => P::NotStarted,
        ProcessStatus::HandlerNotAuth => P::HandlerNotAuth,
        ProcessStatus::HandlerAuthing => P::HandlerAuthing,
        ProcessStatus::HandlerAuthed => P::HandlerAuthed,
        ProcessStatus::HandlerAuthFailed => P::HandlerAuthFailed,
        ProcessStatus::OrgNotAuth => P::OrgNotAuth,
        ProcessStatus::OrgAuthing => P::OrgAuthing,
        ProcessStatus::OrgAuthed => P::OrgAuthed,
        ProcessStatus::OrgAuthFailed => P::OrgAuthFailed,
        ProcessStatus::CertUnconfirmed => P::CertUnconfirmed,
        ProcessStatus::CertConfirmed => P::CertConfirmed,
        ProcessStatus::OrgSealUnsave => P::OrgSealUnsave,
        ProcessStatus::OrgSealSaved => P::OrgSealSaved,
        ProcessStatus::OrgSealSaveFailed => P::OrgSealSaveFailed,
        ProcessStatus::Unauthorized => P::Unauthorized,
        ProcessStatus::Authorizing => P::Authorizing,
        ProcessStatus::AuthorizeFailed => P::AuthorizeFailed,
        ProcessStatus::AuthorizeFinish => P::AuthorizeFinish,
    }
}

pub fn node(n: Option<Node>) -> pb::AuthProcessNode {
    use pb::AuthProcessNode as P;
    match n {
        None => P::Unspecified,
        Some(Node::HandlerAuth) => P::HandlerAuth,
        Some(Node::OrgAuth) => P::OrgAuth,
        Some(Node::PubPaymentAuth) => P::PubPaymentAuth,
        Some(Node::SaveOrgSeal) => P::SaveOrgSeal,
        Some(Node::Authorized) => P::Authorized,
    }
}

pub fn process(p: &Process, now: DateTime<Utc>) -> pb::AuthProcess {
    let org_info = p.org.as_ref().map(|o| pb::OrgInfo {
        name: o.name.clone(),
        id_number: o.id_number.clone(),
        id_type: match o.id_type.as_str() {
            "CRED_ORG_USCC" => pb::OrgIdType::Uscc,
            "CRED_ORG_REGCODE" => pb::OrgIdType::Regcode,
            _ => pb::OrgIdType::Unspecified,
        } as i32,
        org_legal_name: o.legal_name.clone(),
        org_legal_id_number: mask_id(&o.legal_id_number),
    });
    // The company's part moved in, not cloned: every detail answered builds it.
    let member_info = match (p.handler.as_ref(), org_info) {
        (Some(h), org_info) => Some(pb::MemberInfo {
            name: h.name.as_str().to_owned(),
            mobile: h.mobile.masked(),
            id_number: h.id_number.masked(),
            org_info,
        }),
        (None, Some(o)) => Some(pb::MemberInfo {
            name: String::new(),
            mobile: String::new(),
            id_number: String::new(),
            org_info: Some(o),
        }),
        (None, None) => None,
    };
    pb::AuthProcess {
        etc_member_no: p.member_no().as_str().to_owned(),
        member_info,
        esign_account_id: p.esign_account_id.as_ref().map(|a| a.as_str().to_owned()).unwrap_or_default(),
        // The statuses are filled where the records were checked (`Service::with_cert_status`).
        cert_info: super::evidence::cert_info(p),
        status: status(p.status()) as i32,
        node: node(p.node()) as i32,
        next_node: node(p.next_node()) as i32,
        node_list: p.node_list().into_iter().map(|n| node(Some(n)) as i32).collect(),
        origin_sign_file_url: p.origin_sign_file_url.clone().unwrap_or_default(),
        signed_file_url: p.signed_file_url_valid_at(now).unwrap_or_default().to_owned(),
        seal_info: p.seal.as_ref().map(|seal| super::convert_seal::seal_info(seal, now)),
        indiv_ocr_info: p.handler.as_ref().map(|h| pb::PersonOcrInfo {
            id_number: h.id_number.masked(),
            valid_period: h.valid_period.to_string(),
            cert_image: None,
        }),
        org_ocr_info: p.org_profile.as_ref().map(|o| pb::OrgOcrInfo {
            org_abbreviation: o.org_abbreviation.clone(),
            org_contact: o.org_contact.clone(),
            location: o.location.clone(),
            address: o.address.clone(),
            valid_period: o.valid_period.clone(),
            org_type: o.org_type.clone(),
            contact_name: o.contact_name.clone(),
            contact_mobile: if o.contact_mobile.is_empty() { String::new() } else { mask_mobile(&o.contact_mobile) },
            cert_image: None,
        }),
        fail_reason: p.fail_reason.clone().unwrap_or_default(),
        update_time: p.updated_at.map(ts),
    }
}

pub fn face_start(outcome: &FaceAuthOutcome) -> pb::StartFaceAuthResponse {
    match outcome {
        FaceAuthOutcome::AlreadyAuthenticated { account_id, process } => pb::StartFaceAuthResponse {
            auth_url: String::new(),
            original_url: String::new(),
            expire_time: None,
            esign_account_id: account_id.as_ref().map(|a| a.as_str().to_owned()).unwrap_or_default(),
            message: "already authenticated".into(),
            flow_id: String::new(),
            already_authenticated: true,
            status: status(process.status()) as i32,
        },
        FaceAuthOutcome::Link { flow, process } => pb::StartFaceAuthResponse {
            auth_url: flow.auth_url.clone(),
            original_url: flow.original_url.clone(),
            expire_time: Some(ts(flow.expires_at)),
            esign_account_id: flow.account_id.as_str().to_owned(),
            message: "success".into(),
            flow_id: flow.flow_id.as_str().to_owned(),
            already_authenticated: false,
            status: status(process.status()) as i32,
        },
    }
}

pub fn sms_start(outcome: &FaceAuthOutcome) -> pb::StartSmsAuthResponse {
    match outcome {
        FaceAuthOutcome::AlreadyAuthenticated { account_id, process } => pb::StartSmsAuthResponse {
            flow_id: String::new(),
            esign_account_id: account_id.as_ref().map(|a| a.as_str().to_owned()).unwrap_or_default(),
            code_expire_time: None,
            already_authenticated: true,
            status: status(process.status()) as i32,
            message: "already authenticated".into(),
        },
        FaceAuthOutcome::Link { flow, process } => pb::StartSmsAuthResponse {
            flow_id: flow.flow_id.as_str().to_owned(),
            esign_account_id: flow.account_id.as_str().to_owned(),
            code_expire_time: Some(ts(flow.expires_at)),
            already_authenticated: false,
            status: status(process.status()) as i32,
            message: "success".into(),
        },
    }
}

pub fn authorization(a: &Authorization, now: DateTime<Utc>) -> pb::Authorization {
    let url = a.download_url_valid_at(now).filter(|_| a.status == AuthorizationStatus::Succeeded);
    pb::Authorization {
        auth_id: a.auth_id.as_str().to_owned(),
        etc_member_no: a.member_no.as_str().to_owned(),
        authorizer_type: match a.authorizer_type {
            None => pb::AuthorizerType::Unspecified,
            Some(AuthorizerType::Company) => pb::AuthorizerType::Company,
            Some(AuthorizerType::LegalRepresentative) => pb::AuthorizerType::LegalRepresentative,
        } as i32,
        organize_id: a.organize_id.clone(),
        legal_rep_id: a.legal_rep_id.clone().unwrap_or_default(),
        auth_type: match a.auth_type {
            AuthType::Platform => pb::AuthType::Platform,
            AuthType::Handler => pb::AuthType::Handler,
        } as i32,
        person_id: a.person_id.clone().unwrap_or_default(),
        auth_download_url: url.unwrap_or_default().to_owned(),
        auth_download_url_expire_time: url.and(a.download_url_expires_at).map(ts),
        status: match a.status {
            AuthorizationStatus::InProgress => pb::AuthorizationStatus::InProgress,
            AuthorizationStatus::Succeeded => pb::AuthorizationStatus::Succeeded,
            AuthorizationStatus::Failed => pb::AuthorizationStatus::Failed,
            AuthorizationStatus::Cancelled => pb::AuthorizationStatus::Cancelled,
        } as i32,
        auth_des: a.auth_des.clone().unwrap_or_default(),
        begin_time: a.begin_at.map(ts),
        end_time: a.end_at.map(ts),
        request_id: a.request_id.clone(),
    }
}
