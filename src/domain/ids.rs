//! Values that can only be built by parsing. Each `parse` is the one place a rule lives; a value
//! of these types is valid by construction. Types that carry identity data print masked.
use std::fmt;

use chrono::NaiveDate;

/// A field that failed validation: the proto field name and what is wrong, in words a caller can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    pub field: &'static str,
    pub description: String,
}

impl FieldViolation {
    pub fn new(field: &'static str, description: impl Into<String>) -> Self {
        Self { field, description: description.into() }
    }
}

fn char_len(s: &str) -> usize {
    s.chars().count()
}

fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_'
}

/// ETC会员编号: 1-32 letters, digits, '-' or '_'.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MemberNo(String);

impl MemberNo {
    pub const FIELD: &'static str = "etc_member_no";

    pub fn parse(s: &str) -> Result<Self, FieldViolation> {
        if s.is_empty() {
            return Err(FieldViolation::new(Self::FIELD, "is required"));
        }
        if s.len() > 32 {
            return Err(FieldViolation::new(Self::FIELD, "must be at most 32 characters"));
        }
        if !s.chars().all(is_token_char) {
            return Err(FieldViolation::new(Self::FIELD, "may contain only letters, digits, '-' and '_'"));
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The member number for logs: enough to correlate, not enough to identify.
    pub fn masked(&self) -> String {
        let n = self.0.len();
        if n <= 6 { "*".repeat(n) } else { format!("{}***{}", &self.0[..3], &self.0[n - 3..]) }
    }
}

impl fmt::Debug for MemberNo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MemberNo({})", self.masked())
    }
}

impl fmt::Display for MemberNo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

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

/// Masks an identity number as `310***********1234`, whatever its length.
pub fn mask_id(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    if chars.len() <= 7 {
        return "*".repeat(chars.len());
    }
    let head: String = chars[..3].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}{}{tail}", "*".repeat(chars.len() - 7))
}

/// Masks every run of 11 or more digits (an `X` may end one) in free text, such as an upstream
/// error message that quotes the identity number or mobile it was sent.
pub fn mask_digit_runs(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        if run.chars().count() >= 11 {
            out.push_str(&mask_id(run))
        } else {
            out.push_str(run)
        }
        run.clear();
    };
    for c in text.chars() {
        if c.is_ascii_digit() || (matches!(c, 'X' | 'x') && !run.is_empty()) {
            run.push(c);
            if !c.is_ascii_digit() {
                flush(&mut run, &mut out);
            }
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    out
}

/// Masks a mobile number as `150****0000` (the same rule: three first, four last).
pub fn mask_mobile(s: &str) -> String {
    mask_id(s)
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

/// 证件有效期: `yyyy.MM.dd-yyyy.MM.dd`, or `yyyy.MM.dd-长期` for a card that never expires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidPeriod {
    pub start: NaiveDate,
    /// `None`: long-term (长期).
    pub end: Option<NaiveDate>,
}

impl ValidPeriod {
    pub fn parse(field: &'static str, s: &str, today: NaiveDate) -> Result<Self, FieldViolation> {
        const FORM: &str = "must be yyyy.MM.dd-yyyy.MM.dd or yyyy.MM.dd-长期";
        if s.is_empty() {
            return Err(FieldViolation::new(field, "is required"));
        }
        let (a, b) = s.split_once('-').ok_or_else(|| FieldViolation::new(field, FORM))?;
        let date = |x: &str| {
            if x.len() != 10 {
                return None;
            }
            NaiveDate::parse_from_str(x, "%Y.%m.%d").ok()
        };
        let start = date(a).ok_or_else(|| FieldViolation::new(field, FORM))?;
        let end = match b {
            "长期" => None,
            _ => Some(date(b).ok_or_else(|| FieldViolation::new(field, FORM))?),
        };
        if start > today {
            return Err(FieldViolation::new(field, "starts in the future"));
        }
        if let Some(end) = end {
            if end <= start {
                return Err(FieldViolation::new(field, "must end after it starts"));
            }
            if end < today {
                return Err(FieldViolation::new(field, "has expired"));
            }
        }
        Ok(Self { start, end })
    }
}

impl fmt::Display for ValidPeriod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-", self.start.format("%Y.%m.%d"))?;
        match self.end {
            Some(end) => write!(f, "{}", end.format("%Y.%m.%d")),
            None => f.write_str("长期"),
        }
    }
}

/// 统一社会信用代码: 18 characters (GB 32100-2015) with its check character.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreditCode(String);

impl CreditCode {
    const ALPHABET: &'static str = "0123456789ABCDEFGHJKLMNPQRTUWXY";
    const WEIGHTS: [usize; 17] = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28];

    pub fn parse(field: &'static str, s: &str) -> Result<Self, FieldViolation> {
        let s = s.to_ascii_uppercase();
        if s.len() != 18 || !s.is_ascii() {
            return Err(FieldViolation::new(field, "must be 18 characters"));
        }
        let values: Option<Vec<usize>> = s.chars().map(|c| Self::ALPHABET.find(c)).collect();
        let values = values.ok_or_else(|| FieldViolation::new(field, "has a character outside GB 32100's alphabet"))?;
        let sum: usize = values[..17].iter().zip(Self::WEIGHTS).map(|(v, w)| v * w).sum();
        let check = (31 - sum % 31) % 31;
        if values[17] != check {
            return Err(FieldViolation::new(field, "has a wrong check character"));
        }
        Ok(Self(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An opaque e签宝 identifier (account, flow, authorization): 1-64 visible ASCII characters.
macro_rules! upstream_id {
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub struct $name(String);

        impl $name {
            pub fn parse(field: &'static str, s: &str) -> Result<Self, FieldViolation> {
                if s.is_empty() {
                    return Err(FieldViolation::new(field, "is required"));
                }
                if s.len() > 64 {
                    return Err(FieldViolation::new(field, "must be at most 64 characters"));
                }
                if !s.bytes().all(|b| b.is_ascii_graphic() && !matches!(b, b'/' | b'?' | b'#' | b'%')) {
                    return Err(FieldViolation::new(field, "may contain only visible ASCII characters other than / ? # %"));
                }
                Ok(Self(s.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

upstream_id!(
    /// An e签宝 account id (person or company).
    AccountId
);
upstream_id!(
    /// An e签宝 authentication flow id.
    FlowId
);
upstream_id!(
    /// An e签宝 authorization id.
    AuthId
);

/// A caller-chosen idempotency key: 1-64 letters, digits, '-' or '_'.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RequestId(String);

impl RequestId {
    pub fn parse(field: &'static str, s: &str) -> Result<Self, FieldViolation> {
        if s.is_empty() {
            return Err(FieldViolation::new(field, "is required"));
        }
        if s.len() > 64 || !s.chars().all(is_token_char) {
            return Err(FieldViolation::new(field, "must be 1-64 letters, digits, '-' or '_'"));
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A URL the service hands on: http or https, at most 500 characters, with a host.
pub fn parse_http_url(field: &'static str, s: &str) -> Result<String, FieldViolation> {
    if s.len() > 500 {
        return Err(FieldViolation::new(field, "must be at most 500 characters"));
    }
    let rest = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
        .ok_or_else(|| FieldViolation::new(field, "must be an http or https URL"))?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    if host.is_empty() || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(FieldViolation::new(field, "must be an http or https URL with a host"));
    }
    Ok(s.to_owned())
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

/// A free-text field with a length limit in characters (seeds' 最大长度), empty meaning absent.
pub fn parse_optional_text(field: &'static str, s: &str, max: usize) -> Result<Option<String>, FieldViolation> {
    if char_len(s) > max {
        return Err(FieldViolation::new(field, format!("must be at most {max} characters")));
    }
    if s.chars().any(char::is_control) {
        return Err(FieldViolation::new(field, "must not contain control characters"));
    }
    Ok((!s.is_empty()).then(|| s.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 24).unwrap()
    }

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
    fn valid_period_accepts_both_seed_forms_and_rejects_expired_cards() {
        let p = ValidPeriod::parse("valid_period", "2019.01.01-2039.01.01", today()).unwrap();
        assert_eq!(p.to_string(), "2019.01.01-2039.01.01");
        assert_eq!(ValidPeriod::parse("valid_period", "2019.01.01-长期", today()).unwrap().end, None);
        for bad in [
            "2010.09.02-2020.09.01",
            "2019.13.01-2039.01.01",
            "2019.01.01",
            "2039.01.01-2019.01.01",
            "2027.01.01-2039.01.01",
            "2019.1.1-2039.1.1",
        ] {
            assert!(ValidPeriod::parse("valid_period", bad, today()).is_err(), "{bad}");
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
    fn member_numbers_are_short_tokens() {
        assert!(MemberNo::parse("d7448e5db9c4493fa2df19ff3c8ce3cf").is_ok());
        assert!(MemberNo::parse(&"a".repeat(33)).is_err());
        assert!(MemberNo::parse("a b").is_err());
        assert_eq!(MemberNo::parse("ETC000123456").unwrap().to_string(), "ETC***456");
    }

    #[test]
    fn credit_codes_carry_a_gb32100_check_character() {
        assert!(CreditCode::parse("id_number", "91350100M000100Y43").is_ok());
        assert!(CreditCode::parse("id_number", "91350100M000100Y44").is_err());
        assert!(CreditCode::parse("id_number", "91350100M000100Y4").is_err());
    }

    #[test]
    fn contacts_are_mobiles_or_emails() {
        assert!(matches!(Contact::parse("contact", "15300001111"), Ok(Contact::Mobile(_))));
        assert!(matches!(Contact::parse("contact", "a@b.cn"), Ok(Contact::Email(_))));
        assert!(Contact::parse("contact", "a@b").is_err());
        assert!(Contact::parse("contact", "123").is_err());
    }

    #[test]
    fn urls_must_be_http_with_a_host() {
        assert!(parse_http_url("redirect_url", "https://etc.example.com/done").is_ok());
        assert!(parse_http_url("redirect_url", "javascript:alert(1)").is_err());
        assert!(parse_http_url("redirect_url", "https:///x").is_err());
    }
}
