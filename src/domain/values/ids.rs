//! Identifiers: the member number, e签宝's opaque ids and the caller's idempotency key.
use std::fmt;

use super::FieldViolation;

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

/// The `thirdPartyUserId` of the member's e签宝 accounts (person and company): the member number,
/// and after each CancelProcess a new one (`ETC000123456.1`), so that another handler or another
/// company gets accounts of its own: e签宝 reads the factors from the account and offers no call to
/// change them. '.' is no member-number character, so one member's key is never another member's.
#[derive(Clone, PartialEq, Eq)]
pub struct AccountKey {
    member: MemberNo,
    generation: u32,
}

impl AccountKey {
    pub fn new(member: MemberNo, generation: u32) -> Self {
        Self { member, generation }
    }

    /// As e签宝 receives it.
    pub fn wire(&self) -> String {
        match self.generation {
            0 => self.member.as_str().to_owned(),
            n => format!("{}.{n}", self.member.as_str()),
        }
    }
}

impl fmt::Debug for AccountKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AccountKey({self})")
    }
}

/// Masked like the member number.
impl fmt::Display for AccountKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.generation {
            0 => write!(f, "{}", self.member),
            n => write!(f, "{}.{n}", self.member),
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_numbers_are_short_tokens() {
        assert!(MemberNo::parse("d7448e5db9c4493fa2df19ff3c8ce3cf").is_ok());
        assert!(MemberNo::parse(&"a".repeat(33)).is_err());
        assert!(MemberNo::parse("a b").is_err());
        assert_eq!(MemberNo::parse("ETC000123456").unwrap().to_string(), "ETC***456");
    }
}
