//! proto ⇄ domain for the evidence (存证): ConfirmEvidence, GetEvidence and the detail's `certInfo`.
use super::convert::ts;
use super::pb;
use crate::domain::DomainError;
use crate::domain::error::AllValid;
use crate::domain::model::{CertNo, CertRef, CheckedEvidence, EvidenceKind, EvidenceMethod, EvidenceStatus, Process};
use crate::domain::values::{FieldViolation, MemberNo};

/// The longest `confirmer` kept, in characters.
const CONFIRMER_MAX: usize = 64;

pub fn confirm_query(req: pb::ConfirmEvidenceRequest) -> Result<(MemberNo, String), DomainError> {
    let pb::ConfirmEvidenceRequest { etc_member_no, confirmer } = req;
    Ok((MemberNo::parse(&etc_member_no), confirmer_of(&confirmer)).all_valid()?)
}

fn confirmer_of(s: &str) -> Result<String, FieldViolation> {
    let s = s.trim();
    if s.is_empty() || s.chars().count() > CONFIRMER_MAX || s.chars().any(char::is_control) {
        return Err(FieldViolation::new("confirmer", format!("must be 1-{CONFIRMER_MAX} characters, no control ones")));
    }
    Ok(s.to_owned())
}

pub fn evidence_query(req: pb::GetEvidenceRequest) -> Result<CertNo, DomainError> {
    let pb::GetEvidenceRequest { cert_no } = req;
    Ok(CertNo::parse("cert_no", &cert_no)?)
}

pub fn cert_status(s: Option<EvidenceStatus>) -> pb::CertStatus {
    match s {
        None => pb::CertStatus::Unspecified,
        Some(EvidenceStatus::Normal) => pb::CertStatus::Normal,
        Some(EvidenceStatus::Abnormal) => pb::CertStatus::Abnormal,
    }
}

/// The detail's `certInfo`: absent until the handler's record exists.
pub fn cert_info(p: &Process) -> Option<pb::CertInfo> {
    let no = |c: &Option<CertRef>| c.map(|c| c.cert_no.to_string()).unwrap_or_default();
    let time = |c: &Option<CertRef>| c.map(|c| ts(c.created_at));
    let status = |c: &Option<CertRef>| cert_status(c.and_then(|c| c.status)) as i32;
    if p.handler_cert.is_none() && p.org_cert.is_none() {
        return None;
    }
    Some(pb::CertInfo {
        cert_no: no(&p.handler_cert),
        cert_create_time: time(&p.handler_cert),
        cert_status: status(&p.handler_cert),
        org_cert_no: no(&p.org_cert),
        org_cert_create_time: time(&p.org_cert),
        org_cert_status: status(&p.org_cert),
    })
}

pub fn evidence(checked: &CheckedEvidence, public_key: Option<[u8; 32]>) -> pb::GetEvidenceResponse {
    let CheckedEvidence { record: r, valid, replaced: _ } = checked;
    let kind = match r.kind {
        EvidenceKind::Handler => pb::EvidenceKind::Handler,
        EvidenceKind::Org => pb::EvidenceKind::Org,
    };
    let method = match r.method {
        EvidenceMethod::Face => pb::EvidenceMethod::Face,
        EvidenceMethod::Sms => pb::EvidenceMethod::Sms,
        EvidenceMethod::LegalPerson => pb::EvidenceMethod::LegalPerson,
        EvidenceMethod::ReversePayment => pb::EvidenceMethod::ReversePayment,
    };
    pb::GetEvidenceResponse {
        evidence: Some(pb::Evidence {
            cert_no: r.cert_no.to_string(),
            etc_member_no: r.member_no.as_str().to_owned(),
            position: r.position,
            kind: kind as i32,
            masked_name: r.masked_name.clone(),
            id_digest: r.id_digest.clone(),
            esign_account_id: r.account_id.clone(),
            flow_id: r.flow_id.clone(),
            method: method as i32,
            time: Some(ts(r.at)),
            prev_digest: r.prev_digest.clone(),
        }),
        signature: r.signature.clone(),
        key_id: r.key_id.clone(),
        public_key: public_key.map(|k| k.to_vec()).unwrap_or_default(),
        valid: *valid,
        status: cert_status(Some(checked.status())) as i32,
    }
}
