//! Property tests: every validator, fed arbitrary text, answers a value or a named violation —
//! never a panic — and accepts exactly the well-formed values it is given.
use chrono::NaiveDate;
use proptest::prelude::*;

use super::*;

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 24).expect("date")
}

/// Any text: ASCII, CJK, controls, long runs.
fn any_text() -> impl Strategy<Value = String> {
    prop_oneof![".{0,80}", "[0-9X]{0,30}", "[ -~]{0,600}", "\\PC{0,40}"]
}

/// A violation names the field it was given, says something, and never echoes a long input.
fn well_formed(v: &FieldViolation, field: &str, input: &str) -> Result<(), TestCaseError> {
    prop_assert_eq!(v.field, field);
    prop_assert!(!v.description.is_empty());
    if input.chars().count() >= 8 {
        prop_assert!(!v.description.contains(input), "{} echoes the input", v.description);
    }
    Ok(())
}

/// A valid resident id from its parts, with its GB 11643 check character.
fn resident_id() -> impl Strategy<Value = String> {
    ("[1-9][0-9]{5}", 1900i32..2025, 1u32..13, 1u32..29, "[0-9]{3}").prop_map(|(region, y, m, d, seq)| {
        let first17 = format!("{region}{y:04}{m:02}{d:02}{seq}");
        let check = ResidentId::check_char(&first17);
        format!("{first17}{check}")
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn no_validator_panics_and_each_names_its_field(s in any_text()) {
        if let Err(v) = MemberNo::parse(&s) { well_formed(&v, "etc_member_no", &s)?; }
        if let Err(v) = PersonName::parse("name", &s) { well_formed(&v, "name", &s)?; }
        if let Err(v) = ResidentId::parse("id_number", &s) { well_formed(&v, "id_number", &s)?; }
        if let Err(v) = Mobile::parse("mobile", &s) { well_formed(&v, "mobile", &s)?; }
        if let Err(v) = ValidPeriod::parse("valid_period", &s, today()) { well_formed(&v, "valid_period", &s)?; }
        if let Err(v) = CreditCode::parse("org_id_number", &s) { well_formed(&v, "org_id_number", &s)?; }
        if let Err(v) = AccountId::parse("organize_id", &s) { well_formed(&v, "organize_id", &s)?; }
        if let Err(v) = FlowId::parse("flow_id", &s) { well_formed(&v, "flow_id", &s)?; }
        if let Err(v) = AuthId::parse("auth_id", &s) { well_formed(&v, "auth_id", &s)?; }
        if let Err(v) = RequestId::parse("request_id", &s) { well_formed(&v, "request_id", &s)?; }
        if let Err(v) = Contact::parse("contact", &s) { well_formed(&v, "contact", &s)?; }
        if let Err(v) = parse_http_url("redirect_url", &s) { well_formed(&v, "redirect_url", &s)?; }
        if let Err(v) = parse_optional_text("seal_scope", &s, 64) { well_formed(&v, "seal_scope", &s)?; }
        let _ = mask_digit_runs(&s);
        let _ = mask_id(&s);
    }

    #[test]
    fn a_resident_id_with_its_check_character_is_accepted_and_any_other_refused(id in resident_id(), wrong in 0usize..11) {
        let parsed = ResidentId::parse("id_number", &id);
        prop_assert!(parsed.is_ok(), "{id} refused: {parsed:?}");
        let parsed = parsed.expect("checked");
        prop_assert_eq!(parsed.expose(), id.as_str());
        let printed = format!("{parsed:?} {parsed}");
        prop_assert!(!printed.contains(&id), "prints masked");
        let other = ['1', '0', 'X', '9', '8', '7', '6', '5', '4', '3', '2'][wrong];
        if other != id.chars().last().expect("18 chars") {
            let tampered = format!("{}{other}", &id[..17]);
            prop_assert!(ResidentId::parse("id_number", &tampered).is_err());
        }
    }

    #[test]
    fn a_mainland_mobile_is_accepted_and_prints_masked(m in "1[3-9][0-9]{9}") {
        let mobile = Mobile::parse("mobile", &m);
        prop_assert!(mobile.is_ok(), "{m} refused");
        let mobile = mobile.expect("checked");
        let printed = format!("{mobile:?} {mobile}");
        prop_assert!(!printed.contains(&m));
        prop_assert!(Mobile::parse("mobile", &format!("{m}0")).is_err(), "12 digits");
    }

    #[test]
    fn a_member_number_is_accepted_exactly_when_it_is_1_to_32_token_characters(s in "[A-Za-z0-9_-]{0,40}") {
        prop_assert_eq!(MemberNo::parse(&s).is_ok(), (1..=32).contains(&s.len()));
    }

    #[test]
    fn a_period_is_accepted_only_when_it_has_started_and_not_ended(start in 0i64..20000, len in -400i64..20000) {
        let start = NaiveDate::from_ymd_opt(1980, 1, 1).expect("date") + chrono::Days::new(start as u64);
        let Some(end) = start.checked_add_signed(chrono::Duration::days(len)) else { return Ok(()) };
        let text = format!("{}-{}", start.format("%Y.%m.%d"), end.format("%Y.%m.%d"));
        let ok = start <= today() && end > start && end >= today();
        prop_assert_eq!(ValidPeriod::parse("valid_period", &text, today()).is_ok(), ok, "{}", text);
    }

    #[test]
    fn masking_keeps_three_first_and_four_last_and_hides_the_rest(s in "[0-9]{11,18}") {
        let masked = mask_id(&s);
        prop_assert_eq!(masked.chars().count(), s.len());
        prop_assert!(masked.starts_with(&s[..3]) && masked.ends_with(&s[s.len() - 4..]));
        prop_assert_eq!(masked.chars().filter(|c| *c == '*').count(), s.len() - 7);
        let text = format!("number {s} is wrong");
        prop_assert!(!mask_digit_runs(&text).contains(&s));
    }
}
