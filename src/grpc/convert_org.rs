//! proto ⇄ domain for the company's RPCs (StartOrgAuth, StartReversePayment, GetReversePayment),
//! in `convert`'s manner: every request destructured with no `..`, every field checked (`AllValid`)
//! before a typed value comes out.
use chrono::{DateTime, NaiveDate, Utc};

use super::convert::{process, status, ts};
use super::pb;
use crate::domain::error::{AllValid, Violations};
use crate::domain::model::{OrgFlow, OrgProfile, PaymentProcess, ReceivingAccount};
use crate::domain::values::{
    FieldViolation, MemberNo, Mobile, OrgIdNumber, OrgIdType, OrgName, PersonName, ResidentId, ValidPeriod,
    mask_account, parse_optional_text,
};
use crate::domain::{DomainError, OrgAuthOutcome, PaymentView, StartOrgAuth};

/// Every profile field's limit (seed 000 `OrgOcrInfo`: 32 characters each).
const PROFILE_MAX: usize = 32;

pub fn start_org_auth(req: pb::StartOrgAuthRequest, today: NaiveDate) -> Result<StartOrgAuth, DomainError> {
    let pb::StartOrgAuthRequest {
        etc_member_no,
        name,
        id_type,
        id_number,
        org_legal_name,
        org_legal_id_number,
        profile,
    } = req;
    let kind = org_id_type(id_type);
    // Judged by the kind asked for; an unknown kind is reported once, under id_type.
    let id_number = match kind {
        Ok(kind) => OrgIdNumber::parse("id_number", kind, &id_number).map(Some),
        Err(_) => Ok(None),
    };
    let (member_no, name, _kind, id_number, legal_name, legal_id_number, profile) = (
        MemberNo::parse(&etc_member_no),
        OrgName::parse("name", &name),
        kind,
        id_number,
        PersonName::parse("org_legal_name", &org_legal_name),
        ResidentId::parse("org_legal_id_number", &org_legal_id_number),
        org_profile(profile.unwrap_or_default(), today),
    )
        .all_valid()?;
    let id_number = id_number.ok_or_else(|| FieldViolation::new("id_type", "is not a known type"))?;
    Ok(StartOrgAuth { member_no, name, id_number, legal_name, legal_id_number, profile })
}

fn org_id_type(t: i32) -> Result<OrgIdType, FieldViolation> {
    match pb::OrgIdType::try_from(t) {
        Ok(pb::OrgIdType::Uscc) => Ok(OrgIdType::Uscc),
        Ok(pb::OrgIdType::Regcode) => Ok(OrgIdType::Regcode),
        Ok(pb::OrgIdType::Unspecified) => Err(FieldViolation::new("id_type", "is required: USCC or REGCODE")),
        Err(_) => Err(FieldViolation::new("id_type", "is not a known type")),
    }
}

fn org_profile(p: pb::OrgProfile, today: NaiveDate) -> Result<OrgProfile, Violations> {
    let pb::OrgProfile {
        org_abbreviation,
        org_contact,
        location,
        address,
        valid_period,
        org_type,
        contact_name,
        contact_mobile,
    } = p;
    let text = |field: &'static str, s: &str| parse_optional_text(field, s, PROFILE_MAX).map(Option::unwrap_or_default);
    let (org_abbreviation, org_contact, location, address, valid_period, org_type, contact_name, contact_mobile) = (
        text("profile.org_abbreviation", &org_abbreviation),
        text("profile.org_contact", &org_contact),
        text("profile.location", &location),
        text("profile.address", &address),
        licence_period("profile.valid_period", &valid_period, today),
        text("profile.org_type", &org_type),
        text("profile.contact_name", &contact_name),
        optional_mobile("profile.contact_mobile", &contact_mobile),
    )
        .all_valid()?;
    Ok(OrgProfile {
        org_abbreviation,
        org_contact,
        location,
        address,
        valid_period,
        org_type,
        contact_name,
        contact_mobile,
    })
}

fn optional_mobile(field: &'static str, s: &str) -> Result<String, FieldViolation> {
    if s.is_empty() { Ok(String::new()) } else { Mobile::parse(field, s).map(|m| m.expose().to_owned()) }
}

/// A licence's validity period in either of the seeds' forms (`2019.01.01-2039.01.01`,
/// `2010年09月02日至2020年09月01日`, `长期` for no end), kept in the first. Empty: not given.
fn licence_period(field: &'static str, s: &str, today: NaiveDate) -> Result<String, FieldViolation> {
    if s.is_empty() {
        return Ok(String::new());
    }
    let normal = if s.contains('至') {
        s.replace(['年', '月'], ".").replace('日', "").replace('至', "-")
    } else {
        s.to_owned()
    };
    ValidPeriod::parse(field, &normal, today)
        .map(|p| p.to_string())
        .map_err(|v| FieldViolation::new(field, format!("{} (or yyyy年MM月dd日至yyyy年MM月dd日)", v.description)))
}

pub fn member_no(etc_member_no: &str) -> Result<MemberNo, DomainError> {
    Ok(MemberNo::parse(etc_member_no)?)
}

pub fn org_start(outcome: &OrgAuthOutcome, now: DateTime<Utc>) -> pb::StartOrgAuthResponse {
    pb::StartOrgAuthResponse {
        org_id: outcome.org_id.as_str().to_owned(),
        flow_id: outcome.flow.as_ref().map(|f| f.flow_id.as_str().to_owned()).unwrap_or_default(),
        process: Some(process(&outcome.process, now)),
        payment_required: outcome.flow.as_ref().is_some_and(|f| f.needs_payment),
    }
}

pub fn payment_process(p: PaymentProcess) -> pb::ReversePaymentProcess {
    use pb::ReversePaymentProcess as P;
    match p {
        PaymentProcess::Unavailable => P::Unavailable,
        PaymentProcess::Init => P::Init,
        PaymentProcess::Created => P::Created,
        PaymentProcess::UnReceived => P::UnReceived,
        PaymentProcess::PayFailed => P::PayFailed,
        PaymentProcess::OrganFinished => P::Organfinished,
    }
}

pub fn payment_started(account: &ReceivingAccount, view: &PaymentView) -> pb::StartReversePaymentResponse {
    pb::StartReversePaymentResponse {
        main_account_name: account.main_account_name.clone(),
        sub_account_no: account.sub_account_no.clone(),
        main_account_bank: account.main_account_bank.clone(),
        payment_amount: account.payment_amount.clone(),
        flow_id: view.flow.flow_id.as_str().to_owned(),
        process: payment_process(view.flow.payment_process) as i32,
    }
}

pub fn payment(view: &PaymentView) -> pb::GetReversePaymentResponse {
    pb::GetReversePaymentResponse {
        payment: Some(reverse_payment(&view.flow)),
        status: status(view.process.status()) as i32,
    }
}

fn reverse_payment(f: &OrgFlow) -> pb::ReversePayment {
    let p = &f.progress;
    let r = f.receiving.as_ref();
    let or = |v: &Option<String>| v.clone().unwrap_or_default();
    pb::ReversePayment {
        flow_id: f.flow_id.as_str().to_owned(),
        process: payment_process(f.payment_process) as i32,
        message: or(&p.message),
        sub_account: p
            .sub_account
            .as_deref()
            .or(r.map(|r| r.sub_account_no.as_str()))
            .map(mask_account)
            .unwrap_or_default(),
        sub_account_channel_name: or(&p.sub_account_channel_name),
        main_account_name: p.main_account_name.clone().or(r.map(|r| r.main_account_name.clone())).unwrap_or_default(),
        opp_account_no: p.opp_account_no.as_deref().map(mask_account).unwrap_or_default(),
        opp_account_name: or(&p.opp_account_name),
        opp_bank_name: or(&p.opp_bank_name),
        pay_amount: or(&p.pay_amount),
        trade_time: p.trade_time.map(ts),
        create_time: p.create_time.map(ts),
        modify_time: p.modify_time.map(ts),
        biz_flow_no: or(&p.biz_flow_no),
        main_account_bank: r.map(|r| r.main_account_bank.clone()).unwrap_or_default(),
        payment_amount: r.map(|r| r.payment_amount.clone()).unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 1, 1).unwrap()
    }

    fn request() -> pb::StartOrgAuthRequest {
        pb::StartOrgAuthRequest {
            etc_member_no: "ETC1".into(),
            name: "房友科技有限公司".into(),
            id_type: pb::OrgIdType::Uscc as i32,
            id_number: "91350100M000100Y43".into(),
            org_legal_name: "张三".into(),
            org_legal_id_number: "11010519491231002X".into(),
            profile: Some(pb::OrgProfile {
                org_abbreviation: "房友".into(),
                org_contact: "64828319231".into(),
                location: "上海市".into(),
                address: "静安区广中路888号秋实楼".into(),
                valid_period: "2020年01月01日至2035年01月01日".into(),
                org_type: "1111111".into(),
                contact_name: "李四".into(),
                contact_mobile: "13021221998".into(),
            }),
        }
    }

    fn fields(err: DomainError) -> Vec<&'static str> {
        match err {
            DomainError::InvalidArgument(v) => v.into_iter().map(|v| v.field).collect(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_valid_request_parses_and_normalises_the_period() {
        let cmd = start_org_auth(request(), today()).unwrap();
        assert_eq!(cmd.profile.valid_period, "2020.01.01-2035.01.01");
        assert_eq!(cmd.id_number.kind(), OrgIdType::Uscc);
        let mut r = request();
        r.profile = None;
        assert!(start_org_auth(r, today()).is_ok(), "the profile is optional");
    }

    #[test]
    fn every_bad_field_is_named() {
        let r = pb::StartOrgAuthRequest {
            etc_member_no: "".into(),
            name: "公".repeat(33),
            id_type: pb::OrgIdType::Uscc as i32,
            id_number: "91350100M000100Y44".into(),
            org_legal_name: "".into(),
            org_legal_id_number: "110105194912310021".into(),
            profile: Some(pb::OrgProfile {
                org_abbreviation: "x".repeat(33),
                org_contact: "y".repeat(33),
                location: "z".repeat(33),
                address: "地".repeat(33),
                valid_period: "2020/01/01".into(),
                org_type: "t".repeat(33),
                contact_name: "n".repeat(33),
                contact_mobile: "12345".into(),
            }),
        };
        assert_eq!(
            fields(start_org_auth(r, today()).unwrap_err()),
            [
                "etc_member_no",
                "name",
                "id_number",
                "org_legal_name",
                "org_legal_id_number",
                "profile.org_abbreviation",
                "profile.org_contact",
                "profile.location",
                "profile.address",
                "profile.valid_period",
                "profile.org_type",
                "profile.contact_name",
                "profile.contact_mobile",
            ]
        );
    }

    #[test]
    fn the_id_number_follows_the_type() {
        let mut r = request();
        r.id_type = pb::OrgIdType::Regcode as i32;
        assert_eq!(fields(start_org_auth(r.clone(), today()).unwrap_err()), ["id_number"]);
        r.id_number = "110108000000016".into();
        assert!(start_org_auth(r.clone(), today()).is_ok());
        r.id_type = 0;
        assert_eq!(fields(start_org_auth(r.clone(), today()).unwrap_err()), ["id_type"]);
        r.id_type = 9;
        assert_eq!(fields(start_org_auth(r, today()).unwrap_err()), ["id_type"]);
    }

    #[test]
    fn an_expired_licence_is_refused() {
        let mut r = request();
        if let Some(p) = r.profile.as_mut() {
            p.valid_period = "2010.01.01-2020.01.01".into();
        }
        assert_eq!(fields(start_org_auth(r, today()).unwrap_err()), ["profile.valid_period"]);
    }
}
