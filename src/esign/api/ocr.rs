//! e签宝's wire format for OCR of identity cards and business licences (esign.md §9). Pictures and
//! identity data never print in full.
use std::fmt;

use serde::{Deserialize, Serialize};

/// `POST /v2/identity/auth/api/ocr/idcard`: both sides in base64 without a `data:` prefix.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IdCardOcrBody {
    pub info_img: String,
    pub emblem_img: String,
}

/// Pictures of a person's card: their lengths only.
impl fmt::Debug for IdCardOcrBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IdCardOcrBody({} + {} base64 chars)", self.info_img.len(), self.emblem_img.len())
    }
}

#[derive(Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct IdCardOcrData {
    pub verify_id: String,
    pub name: String,
    pub id_no: String,
    pub gender: String,
    pub birth_day: String,
    pub nation: String,
    pub address: String,
    /// `2010.09.02-2020.09.01` or `2010.09.02-长期`.
    pub validity_period: String,
    pub issued_by: String,
}

/// A person's identity data: the number masked, the address left out.
impl fmt::Debug for IdCardOcrData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdCardOcrData")
            .field("verify_id", &self.verify_id)
            .field("id_no", &crate::domain::values::mask_id(&self.id_no))
            .field("validity_period", &self.validity_period)
            .finish_non_exhaustive()
    }
}

/// `POST /v2/identity/auth/api/ocr/license`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LicenseOcrBody {
    pub img: String,
}

impl fmt::Debug for LicenseOcrBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LicenseOcrBody({} base64 chars)", self.img.len())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct LicenseOcrData {
    pub verify_id: String,
    pub name: String,
    pub cert_no: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub address: String,
    pub legal_rep_name: String,
    pub capital: String,
    pub establish_date: String,
    /// `2010年09月02日至2020年09月01日` or `长期`.
    pub valid_term: String,
    pub scope: String,
}
