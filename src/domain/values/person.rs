//! A person: name, resident-ID number, mobile, and the signer's contact (a mobile or an e-mail).
use std::fmt;

use chrono::NaiveDate;

use super::mask::{mask_id, mask_mobile};
use super::{FieldViolation, char_len};

/// 姓名: 1-32 characters; Chinese characters, '·' (ethnic-minority names), Latin letters and
/// single inner spaces.
#[derive(Clone, PartialEq, Eq)]
pub struct PersonName(String);

impl PersonName {
    pub fn parse(field: &'static str, s: &str) -> Result<Self, FieldViolation> {
        let n = char_len(s);
        if n == 0 {
            return Err(FieldViolation::new(field, "is required"));
        }
        if n > 32 {
            return Err(FieldViolation::new(field, "must be at most 32 characters"));
        }
        let ok_char = |c: char| {
            matches!(c, '\u{4e00}'..='\u{9fff}' | '\u{3400}'..='\u{4dbf}' | '\u{20000}'..='\u{2a6df}')
                || c.is_ascii_alphabetic()
                || matches!(c, '·' | '•' | '.' | ' ')
        };
        if !s.chars().all(ok_char) {
            return Err(FieldViolation::new(field, "may contain only Chinese characters, '·', letters and spaces"));
        }
        if s.starts_with([' ', '·', '•', '.']) || s.ends_with([' ', '·', '•', '.']) || s.contains("  ") {
            return Err(FieldViolation::new(field, "must not start or end with a separator"));
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PersonName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A name alone identifies little, but logs need none of it: the first character is enough.
        let first: String = self.0.chars().take(1).collect();
        write!(f, "PersonName({first}*)")
    }
}

/// 身份证号: an 18-character resident-ID number (GB 11643-1999), with a valid birth date and the
/// ISO 7064 MOD 11-2 check character. Prints masked: `310***********123X`.
#[derive(Clone, PartialEq, Eq)]
pub struct ResidentId(String);

impl ResidentId {
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    const CHECK: [char; 11] = ['1', '0', 'X', '9', '8', '7', '6', '5', '4', '3', '2'];

    pub fn parse(field: &'static str, s: &str) -> Result<Self, FieldViolation> {
        let s = s.to_ascii_uppercase();
        if s.is_empty() {
            return Err(FieldViolation::new(field, "is required"));
        }
        if s.len() != 18 || !s.is_ascii() {
            return Err(FieldViolation::new(field, "must be 18 characters"));
        }
        let bytes = s.as_bytes();
        if !bytes[..17].iter().all(u8::is_ascii_digit) || !(bytes[17].is_ascii_digit() || bytes[17] == b'X') {
            return Err(FieldViolation::new(field, "must be 17 digits and a digit or 'X'"));
        }
        if bytes[0] == b'0' {
            return Err(FieldViolation::new(field, "has an invalid region code"));
        }
        if NaiveDate::parse_from_str(&s[6..14], "%Y%m%d").is_err() {
            return Err(FieldViolation::new(field, "has an invalid birth date"));
        }
        if Self::check_char(&s[..17]) != bytes[17] as char {
            return Err(FieldViolation::new(field, "has a wrong check character"));
        }
        Ok(Self(s))
    }

    /// The GB 11643 check character of 17 digits.
    pub fn check_char(first17: &str) -> char {
        let sum: u32 = first17.bytes().zip(Self::WEIGHTS).map(|(b, w)| u32::from(b - b'0') * w).sum();
        Self::CHECK[(sum % 11) as usize]
    }

    /// The full number, for e签宝 and encrypted storage only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn masked(&self) -> String {
        mask_id(&self.0)
    }
}

impl fmt::Debug for ResidentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ResidentId({})", self.masked())
    }
}

impl fmt::Display for ResidentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

/// 手机号: a mainland mobile number, 11 digits starting 13-19. Prints masked: `150****0000`.
#[derive(Clone, PartialEq, Eq)]
pub struct Mobile(String);

impl Mobile {
    pub fn parse(field: &'static str, s: &str) -> Result<Self, FieldViolation> {
        let s = s.strip_prefix("+86").unwrap_or(s);
        if s.is_empty() {
            return Err(FieldViolation::new(field, "is required"));
        }
        let b = s.as_bytes();
        if b.len() != 11 || !b.iter().all(u8::is_ascii_digit) || b[0] != b'1' || !(b'3'..=b'9').contains(&b[1]) {
            return Err(FieldViolation::new(field, "must be a mainland mobile number: 11 digits starting 13-19"));
        }
        Ok(Self(s.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn masked(&self) -> String {
        mask_mobile(&self.0)
    }
}

impl fmt::Debug for Mobile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Mobile({})", self.masked())
    }
}

impl fmt::Display for Mobile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

/// A contact for the authorization letter's signer: a mainland mobile number or an e-mail address.
#[derive(Clone, PartialEq, Eq)]
pub enum Contact {
    Mobile(Mobile),
    Email(String),
}

impl Contact {
    pub fn parse(field: &'static str, s: &str) -> Result<Self, FieldViolation> {
        if s.is_empty() {
            return Err(FieldViolation::new(field, "is required"));
        }
        if s.contains('@') {
            let (local, domain) = s.split_once('@').unwrap_or(("", ""));
            let ok = s.len() <= 64
                && !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains('@')
                && s.chars().all(|c| c.is_ascii_graphic());
            return if ok {
                Ok(Self::Email(s.to_owned()))
            } else {
                Err(FieldViolation::new(field, "must be a mobile number or an e-mail address"))
            };
        }
        Mobile::parse(field, s)
            .map(Self::Mobile)
            .map_err(|_| FieldViolation::new(field, "must be a mobile number or an e-mail address"))
    }

    pub fn expose(&self) -> &str {
        match self {
            Self::Mobile(m) => m.expose(),
            Self::Email(e) => e,
        }
    }
}

impl fmt::Debug for Contact {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Mobile(m) => write!(f, "Contact({})", m.masked()),
            Self::Email(e) => {
                let domain = e.split_once('@').map(|(_, d)| d).unwrap_or("");
                write!(f, "Contact(***@{domain})")
            }
        }
    }
}

/// The 6-digit code the handler received by SMS (esign.md §10). A one-time secret: never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct SmsCode(String);

impl SmsCode {
    pub fn parse(field: &'static str, s: &str) -> Result<Self, FieldViolation> {
        if s.is_empty() {
            return Err(FieldViolation::new(field, "is required"));
        }
        if s.len() != 6 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(FieldViolation::new(field, "must be the 6 digits of the SMS"));
        }
        Ok(Self(s.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SmsCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SmsCode(******)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::values::mask_digit_runs;

    #[test]
    fn resident_id_accepts_the_gb11643_check_character() {
        // Published example numbers from GB 11643 discussions; 'x' is accepted and upper-cased.
        assert!(ResidentId::parse("id_number", "11010519491231002X").is_ok());
        assert!(ResidentId::parse("id_number", "11010519491231002x").is_ok());
        assert!(ResidentId::parse("id_number", "440524188001010014").is_ok());
    }

    #[test]
    fn resident_id_rejects_a_wrong_check_character_length_or_date() {
        assert_eq!(
            ResidentId::parse("id_number", "110105194912310021").unwrap_err().description,
            "has a wrong check character"
        );
        assert!(ResidentId::parse("id_number", "11010519491231002").is_err());
        assert!(ResidentId::parse("id_number", "110105194913310020").is_err());
        assert!(ResidentId::parse("id_number", "").is_err());
        assert!(ResidentId::parse("id_number", "１１０105194912310020").is_err());
    }

    #[test]
    fn resident_id_prints_masked() {
        let id = ResidentId::parse("id_number", "11010519491231002X").unwrap();
        assert_eq!(format!("{id}"), "110***********002X");
        assert_eq!(format!("{id:?}"), "ResidentId(110***********002X)");
        assert_eq!(
            mask_digit_runs("证件号11010519491231002X与手机13800138000不符, code 1435002"),
            "证件号110***********002X与手机138****8000不符, code 1435002"
        );
    }

    #[test]
    fn mobile_accepts_mainland_numbers_and_prints_masked() {
        let m = Mobile::parse("mobile", "15000000000").unwrap();
        assert_eq!(m.to_string(), "150****0000");
        assert!(Mobile::parse("mobile", "+8613800138000").is_ok());
        for bad in ["1500000000", "25000000000", "12000000000", "1380013800a", ""] {
            assert!(Mobile::parse("mobile", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names_allow_the_middle_dot_of_minority_names() {
        assert!(PersonName::parse("name", "张三").is_ok());
        assert!(PersonName::parse("name", "阿卜杜·热合曼").is_ok());
        assert!(PersonName::parse("name", "").is_err());
        assert!(PersonName::parse("name", "张三1").is_err());
        assert!(PersonName::parse("name", "·张三").is_err());
        assert!(PersonName::parse("name", &"张".repeat(33)).is_err());
    }

    #[test]
    fn contacts_are_mobiles_or_emails() {
        assert!(matches!(Contact::parse("contact", "15300001111"), Ok(Contact::Mobile(_))));
        assert!(matches!(Contact::parse("contact", "a@b.cn"), Ok(Contact::Email(_))));
        assert!(Contact::parse("contact", "a@b").is_err());
        assert!(Contact::parse("contact", "123").is_err());
    }
}
