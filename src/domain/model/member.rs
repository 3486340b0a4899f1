//! Who the member is, as the process keeps it: the handler, the company and its declared profile,
//! and the certificates (evidence records) that prove them. Identity numbers print masked.
use chrono::{DateTime, Utc};

use super::evidence::{CertNo, EvidenceStatus};
use crate::domain::values::{Mobile, PersonName, ResidentId, ValidPeriod, mask_id};

/// The handler, as given to StartFaceAuth.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handler {
    pub name: PersonName,
    pub id_number: ResidentId,
    pub mobile: Mobile,
    pub valid_period: ValidPeriod,
}

/// ETC会员所属主体信息, as StartOrgAuth gave it.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct OrgInfo {
    pub name: String,
    pub id_number: String,
    /// `CRED_ORG_USCC` or `CRED_ORG_REGCODE`.
    pub id_type: String,
    pub legal_name: String,
    /// Stored in full (encrypted), answered masked.
    pub legal_id_number: String,
}

/// Identity numbers print masked, so a logged `OrgInfo` leaks neither of them.
impl std::fmt::Debug for OrgInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OrgInfo")
            .field("name", &self.name)
            .field("id_number", &mask_id(&self.id_number))
            .field("id_type", &self.id_type)
            .field("legal_name", &self.legal_name)
            .field("legal_id_number", &mask_id(&self.legal_id_number))
            .finish()
    }
}

/// 企业证件识别信息 as the caller declared it (StartOrgAuth's profile), already validated; an empty
/// field was not given. The contact mobile is stored encrypted and answered masked.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct OrgProfile {
    pub org_abbreviation: String,
    pub org_contact: String,
    pub location: String,
    pub address: String,
    /// `yyyy.MM.dd-yyyy.MM.dd` or `yyyy.MM.dd-长期`.
    pub valid_period: String,
    pub org_type: String,
    pub contact_name: String,
    pub contact_mobile: String,
}

impl std::fmt::Debug for OrgProfile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OrgProfile")
            .field("org_abbreviation", &self.org_abbreviation)
            .field("location", &self.location)
            .field("org_type", &self.org_type)
            .field("contact_mobile", &mask_id(&self.contact_mobile))
            .finish_non_exhaustive()
    }
}

/// A certificate of the detail (`certInfo`): the evidence record that proves the handler's or the
/// company's identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CertRef {
    pub cert_no: CertNo,
    pub created_at: DateTime<Utc>,
    /// Whether the record verifies now; `None` until checked (`Service::with_cert_status`): the
    /// store keeps only the reference.
    pub status: Option<EvidenceStatus>,
}
