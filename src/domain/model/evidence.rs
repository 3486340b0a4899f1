//! Evidence (存证) records: the service's own signed statement that a member's handler or company
//! was verified (process.md §3). A record holds what was verified (the name masked, the identity
//! number only as a salted SHA-256), the e签宝 account and flow, the method and the instant, the
//! digest of the member's previous record (the member's records form a chain) and an Ed25519
//! signature by the evidence key named in it. [`Evidence::signed_bytes`] is the one encoding that
//! is signed; changing it is a new version, never an edit.
use std::fmt;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::domain::values::{FieldViolation, MemberNo};

/// A record's id, answered as the certificate number (`certNo`, `orgCertNo`): 16 random bytes,
/// written as 32 lower-case hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CertNo([u8; 16]);

impl CertNo {
    pub fn random() -> Self {
        Self(rand::random())
    }

    /// 32 lower-case hex digits; anything else is not a certificate number of this service.
    pub fn parse(field: &'static str, s: &str) -> Result<Self, FieldViolation> {
        let bad = || FieldViolation::new(field, "must be 32 lower-case hexadecimal digits");
        if s.len() != 32 || !s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            return Err(bad());
        }
        let bytes = hex::decode(s).map_err(|_| bad())?;
        Ok(Self(bytes.try_into().map_err(|_| bad())?))
    }
}

impl fmt::Display for CertNo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // On the stack: `hex::encode` collects chars into a String (each detail writes two).
        let mut text = [0u8; 32];
        hex::encode_to_slice(self.0, &mut text).map_err(|_| fmt::Error)?;
        f.write_str(std::str::from_utf8(&text).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for CertNo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CertNo({self})")
    }
}

/// Whose identity a record states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvidenceKind {
    /// The member's handler (a person).
    Handler,
    /// The member's company.
    Org,
}

impl EvidenceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Handler => "HANDLER",
            Self::Org => "ORG",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Handler, Self::Org].into_iter().find(|k| k.as_str() == s)
    }
}

/// How the identity was verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvidenceMethod {
    Face,
    Sms,
    /// The company by its legal person (the handler), 4 factors.
    LegalPerson,
    /// The company by 4 factors and a 0.01 payment from its account.
    ReversePayment,
}

impl EvidenceMethod {
    pub const ALL: [Self; 4] = [Self::Face, Self::Sms, Self::LegalPerson, Self::ReversePayment];
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Face => "FACE",
            Self::Sms => "SMS",
            Self::LegalPerson => "LEGAL_PERSON",
            Self::ReversePayment => "REVERSE_PAYMENT",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == s)
    }
}

/// One evidence record, as stored and signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evidence {
    pub cert_no: CertNo,
    pub member_no: MemberNo,
    /// Its place in the member's chain: 0 for the member's first record.
    pub position: i64,
    pub kind: EvidenceKind,
    /// The verified name, masked ([`mask_name`]).
    pub masked_name: String,
    /// SHA-256 (hex) of the identity number salted with the record id ([`id_digest`]).
    pub id_digest: String,
    /// The e签宝 account (person or organization) and the identity flow that verified it.
    pub account_id: String,
    pub flow_id: String,
    pub method: EvidenceMethod,
    pub at: DateTime<Utc>,
    /// The digest ([`Evidence::digest`], hex) of the member's previous record; empty for the first.
    pub prev_digest: String,
    /// The evidence key that signed it.
    pub key_id: String,
    /// Ed25519 over [`Evidence::signed_bytes`]: 64 bytes.
    pub signature: Vec<u8>,
}

/// What the encoding starts with, naming its version.
const ENCODING: &[u8] = b"etc-esign evidence v1";

impl Evidence {
    /// The bytes the signature covers: [`ENCODING`], then every field but the signature, in the
    /// order below, each as its UTF-8 text preceded by its length in bytes (u32, big-endian).
    /// Numbers and the instant (Unix milliseconds) are written in decimal.
    pub fn signed_bytes(&self) -> Vec<u8> {
        let fields = [
            self.cert_no.to_string(),
            self.member_no.as_str().to_owned(),
            self.position.to_string(),
            self.kind.as_str().to_owned(),
            self.masked_name.clone(),
            self.id_digest.clone(),
            self.account_id.clone(),
            self.flow_id.clone(),
            self.method.as_str().to_owned(),
            self.at.timestamp_millis().to_string(),
            self.prev_digest.clone(),
            self.key_id.clone(),
        ];
        let mut out = ENCODING.to_vec();
        for f in fields {
            out.extend_from_slice(&(f.len() as u32).to_be_bytes());
            out.extend_from_slice(f.as_bytes());
        }
        out
    }

    /// SHA-256 (hex) of the signed bytes and the signature: what the member's next record chains to,
    /// so that a change to any byte of this record breaks the next one's chain.
    pub fn digest(&self) -> String {
        let mut h = Sha256::new();
        h.update(self.signed_bytes());
        h.update(&self.signature);
        hex::encode(h.finalize())
    }
}

/// SHA-256 (hex) of `{cert_no}:{id_number}`: proves which identity number was verified to whoever
/// holds it, without storing it.
pub fn id_digest(cert_no: &CertNo, id_number: &str) -> String {
    hex::encode(Sha256::digest(format!("{cert_no}:{id_number}").as_bytes()))
}

/// A name masked for a record: its first character, then `*` for the rest but the last
/// (`张*`, `张*丰`, `房****司`).
pub fn mask_name(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    match chars.len() {
        0 => String::new(),
        1 => "*".into(),
        2 => format!("{}*", chars[0]),
        n => format!("{}{}{}", chars[0], "*".repeat(n - 2), chars[n - 1]),
    }
}

/// Whether a record can be relied on (`certStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvidenceStatus {
    /// Its signature and chain verify, and no later record of the same kind replaced it.
    Normal,
    Abnormal,
}

/// A record with what verifying it found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedEvidence {
    pub record: Evidence,
    /// Its signature verifies with its key, and its chain with the member's previous record.
    pub valid: bool,
    /// A later record of the same kind (the identity verified again) replaced it.
    pub replaced: bool,
}

impl CheckedEvidence {
    pub fn status(&self) -> EvidenceStatus {
        if self.valid && !self.replaced { EvidenceStatus::Normal } else { EvidenceStatus::Abnormal }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cert_numbers_are_32_lower_case_hex_and_parse_back() {
        let c = CertNo::random();
        let s = c.to_string();
        assert_eq!(s.len(), 32);
        assert_eq!(CertNo::parse("cert_no", &s), Ok(c));
        for bad in ["", "ABCDEF00112233445566778899aabbcc", "0011", "g0112233445566778899aabbccddeeff"] {
            assert!(CertNo::parse("cert_no", bad).is_err(), "{bad}");
        }
        assert_ne!(CertNo::random(), c);
    }

    #[test]
    fn names_are_masked_but_their_ends() {
        assert_eq!(mask_name("张三"), "张*");
        assert_eq!(mask_name("张三丰"), "张*丰");
        assert_eq!(mask_name("房友有限公司"), "房****司");
        assert_eq!(mask_name("A"), "*");
    }
}
