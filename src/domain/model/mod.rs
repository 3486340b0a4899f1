//! The records the process keeps, each in its own file with its statuses: the member's process,
//! its face flows, its history, its evidence records, the end of any identity flow, its authorizations, and e签宝's verified notifications (the inbox). Records
//! import values only; the use cases and the ports import them.
pub mod authorization;
pub mod documents;
pub mod evidence;
pub mod face_flow;
pub mod history;
pub mod identity;
pub mod inbox;
pub mod member;
pub mod org_flow;
pub mod process;
pub mod seal;
pub mod seal_review;
pub mod status;

pub use authorization::{AuthType, Authorization, AuthorizationStatus, AuthorizerType};
pub use documents::{IdCardDocs, KeptPicture, LicenceDocs};
pub use evidence::{
    CertNo, CheckedEvidence, Evidence, EvidenceKind, EvidenceMethod, EvidenceStatus, id_digest, mask_name,
};
pub use face_flow::{FaceFlow, FaceFlowStatus, HandlerMethod};
pub use history::{HistoryEntry, HistoryPage, Move, Source};
pub use identity::IdentityResult;
pub use inbox::{InboxEvent, StoredEvent};
pub use org_flow::{OrgFlow, OrgFlowStatus, PaymentProcess, PaymentProgress, ReceivingAccount};
pub use process::{CertRef, Handler, IllegalTransition, Node, OrgInfo, OrgProfile, Process, ProcessStatus};
pub use seal::{
    OrgSeal, SEAL_DEFAULT_SIZE, SEAL_HTEXT_MAX_CHARS, SEAL_QTEXT_MAX_CHARS, SEAL_TEXT_MAX_NAME_CHARS, SealCentral,
    SealColor, SealTemplate, SealType, UpstreamSeal,
};
pub use seal_review::{SealRecord, SealReview, SealReviewStatus};
