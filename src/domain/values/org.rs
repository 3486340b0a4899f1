//! A company's identifiers and profile: its unified social credit code (GB 32100) or registration
//! number (工商注册号, GB/T 17710 check), its name, and bank account numbers as they are masked.
use super::{FieldViolation, char_len};

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

/// 工商注册号: the 15-digit registration number of a sole proprietorship (工商个体户), whose last
/// digit is the ISO 7064 MOD 11,10 check digit of the first 14 (GB/T 17710).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegCode(String);

impl RegCode {
    pub fn parse(field: &'static str, s: &str) -> Result<Self, FieldViolation> {
        if s.len() != 15 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(FieldViolation::new(field, "must be 15 digits"));
        }
        if s.as_bytes()[0] == b'0' {
            return Err(FieldViolation::new(field, "has an invalid region code"));
        }
        if Self::check_digit(&s[..14]) != s.as_bytes()[14] - b'0' {
            return Err(FieldViolation::new(field, "has a wrong check digit"));
        }
        Ok(Self(s.to_owned()))
    }

    /// ISO 7064 MOD 11,10 over digits.
    pub fn check_digit(digits: &str) -> u8 {
        let mut p: u32 = 10;
        for b in digits.bytes() {
            let s = p % 11 + u32::from(b - b'0');
            let r = s % 10;
            p = if r == 0 { 10 } else { r } * 2;
        }
        ((11 - p % 11) % 10) as u8
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The kind of a company's identity document, as e签宝 names it (`idType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrgIdType {
    /// `CRED_ORG_USCC`: unified social credit code.
    Uscc,
    /// `CRED_ORG_REGCODE`: registration number.
    Regcode,
}

impl OrgIdType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Uscc => "CRED_ORG_USCC",
            Self::Regcode => "CRED_ORG_REGCODE",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Uscc, Self::Regcode].into_iter().find(|t| t.as_str() == s)
    }
}

/// A company's document number, checked by the rule of its kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgIdNumber {
    kind: OrgIdType,
    value: String,
}

impl OrgIdNumber {
    pub fn parse(field: &'static str, kind: OrgIdType, s: &str) -> Result<Self, FieldViolation> {
        if s.is_empty() {
            return Err(FieldViolation::new(field, "is required"));
        }
        let value = match kind {
            OrgIdType::Uscc => CreditCode::parse(field, s)?.0,
            OrgIdType::Regcode => RegCode::parse(field, s)?.0,
        };
        Ok(Self { kind, value })
    }

    pub fn kind(&self) -> OrgIdType {
        self.kind
    }

    pub fn as_str(&self) -> &str {
        &self.value
    }
}

/// 主体名称: a company's name, 1-32 characters (seed 000).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgName(String);

impl OrgName {
    pub fn parse(field: &'static str, s: &str) -> Result<Self, FieldViolation> {
        let t = s.trim();
        if t.is_empty() {
            return Err(FieldViolation::new(field, "is required"));
        }
        if char_len(t) > 32 {
            return Err(FieldViolation::new(field, "must be at most 32 characters"));
        }
        if t.chars().any(char::is_control) {
            return Err(FieldViolation::new(field, "must not contain control characters"));
        }
        Ok(Self(t.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A bank account number as answered and logged: every character but the last four starred.
pub fn mask_account(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let keep = chars.len().min(4);
    let tail: String = chars[chars.len() - keep..].iter().collect();
    format!("{}{tail}", "*".repeat(chars.len() - keep))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credit_codes_carry_a_gb32100_check_character() {
        assert!(CreditCode::parse("id_number", "91350100M000100Y43").is_ok());
        assert!(CreditCode::parse("id_number", "91350100M000100Y44").is_err());
        assert!(CreditCode::parse("id_number", "91350100M000100Y4").is_err());
    }

    #[test]
    fn registration_numbers_carry_a_mod_11_10_check_digit() {
        let first14 = "11010500000000";
        let good = format!("{first14}{}", RegCode::check_digit(first14));
        assert!(RegCode::parse("id_number", &good).is_ok(), "{good}");
        let bad_digit = (RegCode::check_digit(first14) + 1) % 10;
        assert!(RegCode::parse("id_number", &format!("{first14}{bad_digit}")).is_err());
        assert!(RegCode::parse("id_number", "1101050000000").is_err());
        assert!(RegCode::parse("id_number", "11010500000000A").is_err());
        // Computed independently (Python) with the same rule.
        assert!(RegCode::parse("id_number", "110108000000016").is_ok());
    }

    #[test]
    fn document_numbers_follow_their_kind() {
        assert!(OrgIdNumber::parse("id_number", OrgIdType::Uscc, "91350100M000100Y43").is_ok());
        assert!(OrgIdNumber::parse("id_number", OrgIdType::Regcode, "91350100M000100Y43").is_err());
        assert!(OrgIdNumber::parse("id_number", OrgIdType::Uscc, "").is_err());
        assert_eq!(OrgIdType::parse("CRED_ORG_REGCODE"), Some(OrgIdType::Regcode));
    }

    #[test]
    fn names_and_accounts() {
        assert!(OrgName::parse("name", "房友科技有限公司").is_ok());
        assert!(OrgName::parse("name", &"公".repeat(33)).is_err());
        assert!(OrgName::parse("name", " ").is_err());
        assert_eq!(mask_account("6222020200112233"), "************2233");
        assert_eq!(mask_account("12"), "12");
    }
}
