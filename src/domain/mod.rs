//! The authentication process of ETC members: no transport, no SQL, no HTTP client here.
//!
//! `values` are parsed inputs, `model` the records and their statuses, `ports` what the process
//! needs from outside (a store and e签宝), `error` the one error type. The use cases are methods of
//! [`Service`], one file per node or concern: `detail` (reading a process), `face_auth`,
//! `sms_auth`, `org_auth`, `org_payment`, `evidence`, `seal`, `documents`, `authorization`,
//! `inbox`, `history` (starting over and the member's history); `read_cache` keeps processes
//! between reads.
mod authorization;
mod detail;
pub mod doc_ports;
mod documents;
pub mod error;
pub mod evidence;
mod face_auth;
mod history;
mod identity;
mod inbox;
pub mod model;
mod org_auth;
mod org_payment;
pub mod ports;
pub mod read_cache;
mod seal;
mod seals;
mod service;
mod sms_auth;
pub mod values;

pub use authorization::CreateAuthorization;
pub use documents::{RecognizeIdCard, RecognizeLicence, RecognizedCard, RecognizedLicence};
pub use error::DomainError;
pub use evidence::{DEV_EVIDENCE_KEYS, EvidenceKeys};
pub use face_auth::{FaceAuthOutcome, StartFaceAuth};
pub use history::{HISTORY_PAGE_DEFAULT, HISTORY_PAGE_MAX};
pub use identity::IdentityFlowKind;
pub use org_auth::{OrgAuthOutcome, StartOrgAuth};
pub use org_payment::PaymentView;
pub use seal::{CreateOrgSeal, SEAL_URL_TTL};
pub use seals::{CreateImageSeal, ManagedSeal, PageAsk, SEAL_PAGE_DEFAULT, SEAL_PAGE_MAX, SealPage};
pub use service::{
    Applied, Clock, DOWNLOAD_URL_TTL, FACE_LINK_TTL, ORG_FLOW_TTL, Service, Settings, SystemClock, chrono_dur,
    record_member,
};
pub use sms_auth::{StartSmsAuth, VerifySmsCode};
