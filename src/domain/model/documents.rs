//! The member's identity documents as kept: what OCR read that the detail answers, and where the
//! pictures are (object keys; the objects themselves are encrypted in the object store).
use crate::domain::values::MemberNo;

/// One kept picture: the original as uploaded and its thumbnail, by object key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptPicture {
    pub original: String,
    pub thumbnail: String,
}

impl KeptPicture {
    /// Fresh keys for a picture of `member`: `<member>/<what>-<random>` and `….thumb`. A new upload
    /// never overwrites an old object, so a link minted before it keeps serving what it showed.
    pub fn fresh(member: &MemberNo, what: &str) -> Self {
        let original = format!("{}/{what}-{:032x}", member.as_str(), rand::random::<u128>());
        Self { thumbnail: format!("{original}.thumb"), original }
    }
}

/// The handler's identity card: both sides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdCardDocs {
    /// 人像面.
    pub front: KeptPicture,
    /// 国徽面.
    pub back: KeptPicture,
}

/// The company's business licence as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LicenceDocs {
    pub picture: KeptPicture,
    /// The credit code read (a company's, not personal data).
    pub credit_code: String,
    /// 住所, as read.
    pub address: Option<String>,
    /// 营业期限, `yyyy.MM.dd-yyyy.MM.dd` or `yyyy.MM.dd-长期`.
    pub valid_period: Option<String>,
}
