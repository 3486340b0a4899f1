//! A company's identifiers.
use super::FieldViolation;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credit_codes_carry_a_gb32100_check_character() {
        assert!(CreditCode::parse("id_number", "91350100M000100Y43").is_ok());
        assert!(CreditCode::parse("id_number", "91350100M000100Y44").is_err());
        assert!(CreditCode::parse("id_number", "91350100M000100Y4").is_err());
    }
}
