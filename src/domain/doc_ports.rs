//! What the documents use cases need from outside: e签宝's OCR (two methods of [`super::ports::ESign`],
//! typed here) and a place to keep pictures ([`Documents`]), which keeps them encrypted.
use async_trait::async_trait;

/// `POST /v2/identity/auth/api/ocr/idcard`: both sides of a card, as uploaded.
#[derive(Clone)]
pub struct IdCardOcrRequest {
    pub info_img: Vec<u8>,
    pub emblem_img: Vec<u8>,
}

/// What e签宝 read on a card. The number is personal data: it prints masked.
#[derive(Clone, PartialEq, Eq)]
pub struct IdCardReading {
    pub verify_id: String,
    pub name: String,
    pub id_no: String,
    /// `2010.09.02-2020.09.01` or `2010.09.02-长期`, as e签宝 writes it.
    pub validity_period: String,
    pub issued_by: String,
}

impl std::fmt::Debug for IdCardReading {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdCardReading")
            .field("verify_id", &self.verify_id)
            .field("id_no", &super::values::mask_id(&self.id_no))
            .field("validity_period", &self.validity_period)
            .finish_non_exhaustive()
    }
}

/// `POST /v2/identity/auth/api/ocr/license`: the licence, as uploaded.
#[derive(Clone)]
pub struct LicenceOcrRequest {
    pub img: Vec<u8>,
}

/// What e签宝 read on a licence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LicenceReading {
    pub verify_id: String,
    pub name: String,
    pub cert_no: String,
    pub address: String,
    pub legal_rep_name: String,
    pub establish_date: String,
    /// `2010年09月02日至2020年09月01日` or `长期`, as e签宝 writes it.
    pub valid_term: String,
}

/// The object store failed, or an object could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum DocumentError {
    #[error("the object store failed: {0}")]
    Unavailable(String),
    #[error("object not found")]
    NotFound,
    /// Its key is not configured, or it was altered or moved.
    #[error("the object cannot be decrypted: {0}")]
    Unreadable(String),
}

/// Where pictures are kept. Every object is encrypted before it leaves the process.
#[async_trait]
pub trait Documents: Send + Sync + 'static {
    /// Keeps `bytes` under `key` (never overwritten: keys are fresh).
    async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<(), DocumentError>;
    /// The decrypted object.
    async fn get(&self, key: &str) -> Result<Vec<u8>, DocumentError>;
}
