//! proto ⇄ domain for the company seal (node SAVE_ORG_SEAL): CreateOrgSeal's request, every field
//! named, and `SealInfo`.
use chrono::{DateTime, Utc};

use super::convert::ts;
use super::pb;
use crate::domain::error::{AllValid, Violations};
use crate::domain::model::{
    OrgSeal, SEAL_DEFAULT_SIZE, SEAL_HTEXT_MAX_CHARS, SEAL_QTEXT_MAX_CHARS, SealCentral, SealColor, SealTemplate,
    SealType,
};
use crate::domain::values::{FieldViolation, MemberNo};
use crate::domain::{CreateOrgSeal, DomainError};

/// Longest alias, in characters (seed 000 `alias`: 32).
pub(super) const ALIAS_MAX_CHARS: usize = 32;
/// Largest width or height, in pixels.
const SIZE_MAX: u32 = 1000;

pub fn create_org_seal(req: pb::CreateOrgSealRequest) -> Result<CreateOrgSeal, DomainError> {
    let pb::CreateOrgSealRequest { etc_member_no, template } = req;
    let (member_no, template) =
        (MemberNo::parse(&etc_member_no), template.map(seal_template).transpose()).all_valid()?;
    Ok(CreateOrgSeal { member_no, template })
}

pub(super) fn seal_template(t: pb::SealTemplate) -> Result<SealTemplate, Violations> {
    let pb::SealTemplate { alias, color, r#type, central, htext, qtext, width, height } = t;
    let (alias, color, seal_type, central, htext, qtext, width, height) = (
        text("template.alias", &alias, ALIAS_MAX_CHARS, true),
        match pb::SealColor::try_from(color) {
            Ok(pb::SealColor::Unspecified | pb::SealColor::Red) => Ok(SealColor::Red),
            Ok(pb::SealColor::Blue) => Ok(SealColor::Blue),
            Ok(pb::SealColor::Black) => Ok(SealColor::Black),
            Err(_) => Err(FieldViolation::new("template.color", "is not a known seal color")),
        },
        match pb::SealType::try_from(r#type) {
            Ok(pb::SealType::Unspecified | pb::SealType::TemplateRound) => Ok(SealType::TemplateRound),
            Ok(pb::SealType::TemplateOval) => Ok(SealType::TemplateOval),
            Err(_) => Err(FieldViolation::new("template.type", "is not a known seal type")),
        },
        match pb::SealCentral::try_from(central) {
            Ok(pb::SealCentral::Unspecified | pb::SealCentral::Star) => Ok(SealCentral::Star),
            Ok(pb::SealCentral::None) => Ok(SealCentral::None),
            Err(_) => Err(FieldViolation::new("template.central", "is not a known seal centre")),
        },
        text("template.htext", &htext, SEAL_HTEXT_MAX_CHARS, false),
        text("template.qtext", &qtext, SEAL_QTEXT_MAX_CHARS, false),
        size("template.width", width),
        size("template.height", height),
    )
        .all_valid()?;
    let optional = |s: String| if s.is_empty() { None } else { Some(s) };
    Ok(SealTemplate { alias, color, seal_type, central, htext: optional(htext), qtext: optional(qtext), width, height })
}

pub(super) fn text(field: &'static str, s: &str, max: usize, required: bool) -> Result<String, FieldViolation> {
    if required && s.trim().is_empty() {
        return Err(FieldViolation::new(field, "is required"));
    }
    if s.chars().count() > max {
        return Err(FieldViolation::new(field, format!("is longer than {max} characters")));
    }
    if s.chars().any(char::is_control) {
        return Err(FieldViolation::new(field, "holds a control character"));
    }
    Ok(s.trim().to_owned())
}

pub(super) fn size(field: &'static str, v: u32) -> Result<u32, FieldViolation> {
    match v {
        0 => Ok(SEAL_DEFAULT_SIZE),
        1..=SIZE_MAX => Ok(v),
        _ => Err(FieldViolation::new(field, format!("must be at most {SIZE_MAX} pixels"))),
    }
}

/// 印章信息; the URL only while it works at `now` (reads refresh it first).
pub fn seal_info(s: &OrgSeal, now: DateTime<Utc>) -> pb::SealInfo {
    pb::SealInfo {
        alias: s.alias.clone().unwrap_or_default(),
        seal_url: s.url_valid_at(now).unwrap_or_default().to_owned(),
        seal_id: s.seal_id.clone(),
        create_time: s.created_at.map(ts),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(t: pb::SealTemplate) -> pb::CreateOrgSealRequest {
        pb::CreateOrgSealRequest { etc_member_no: "ETC1".into(), template: Some(t) }
    }

    #[test]
    fn a_template_takes_its_defaults_and_every_bad_field_is_named() {
        let ok = create_org_seal(request(pb::SealTemplate { alias: "合同章".into(), ..Default::default() })).unwrap();
        let t = ok.template.unwrap();
        assert_eq!(
            (t.color, t.seal_type, t.central, t.width, t.height),
            (SealColor::Red, SealType::TemplateRound, SealCentral::Star, 159, 159)
        );
        let bad = pb::SealTemplate {
            alias: String::new(),
            color: 9,
            r#type: 9,
            central: 9,
            htext: "一二三四五六七八九".into(),
            qtext: "x".repeat(21),
            width: 1001,
            height: 5000,
        };
        let Err(DomainError::InvalidArgument(v)) = create_org_seal(request(bad)) else { panic!("must fail") };
        let fields: Vec<_> = v.iter().map(|v| v.field).collect();
        assert_eq!(
            fields,
            [
                "template.alias",
                "template.color",
                "template.type",
                "template.central",
                "template.htext",
                "template.qtext",
                "template.width",
                "template.height"
            ]
        );
    }
}
