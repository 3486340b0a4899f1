//! The 18 statuses and 5 nodes of seed 000, which node each status belongs to, from which statuses
//! each step may start, and the error of a move the status does not allow.
macro_rules! str_enum {
    ($(#[$m:meta])* $name:ident { $($variant:ident = $s:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The seed's spelling, which messages, error details and the store use.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $s),+ }
            }

            pub fn parse(s: &str) -> Option<Self> {
                match s { $($s => Some($name::$variant),)+ _ => None }
            }
        }
    };
}

str_enum!(
    /// The 18 statuses of seed 000 `authProcessStatus`, in process order.
    ProcessStatus {
        NotStarted = "NOT_STARTED",
        HandlerNotAuth = "HANDLER_NOT_AUTH",
        HandlerAuthing = "HANDLER_AUTHING",
        HandlerAuthed = "HANDLER_AUTHED",
        HandlerAuthFailed = "HANDLER_AUTH_FAILED",
        OrgNotAuth = "ORG_NOT_AUTH",
        OrgAuthing = "ORG_AUTHING",
        OrgAuthed = "ORG_AUTHED",
        OrgAuthFailed = "ORG_AUTH_FAILED",
        CertUnconfirmed = "CERT_UNCONFIRMED",
        CertConfirmed = "CERT_CONFIRMED",
        OrgSealUnsave = "ORG_SEAL_UNSAVE",
        OrgSealSaved = "ORG_SEAL_SAVED",
        OrgSealSaveFailed = "ORG_SEAL_SAVE_FAILED",
        Unauthorized = "UNAUTHORIZED",
        Authorizing = "AUTHORIZING",
        AuthorizeFailed = "AUTHORIZE_FAILED",
        AuthorizeFinish = "AUTHORIZE_FINISH",
    }
);

str_enum!(
    /// The nodes of seed 000 `authProcessNode`.
    Node {
        HandlerAuth = "HANDLER_AUTH",
        OrgAuth = "ORG_AUTH",
        PubPaymentAuth = "PUB_PAYMENT_AUTH",
        SaveOrgSeal = "SAVE_ORG_SEAL",
        Authorized = "AUTHORIZED",
    }
);

impl ProcessStatus {
    /// The node a status belongs to; `None` before the process started.
    pub fn node(self) -> Option<Node> {
        use ProcessStatus::*;
        Some(match self {
            NotStarted => return None,
            HandlerNotAuth | HandlerAuthing | HandlerAuthed | HandlerAuthFailed => Node::HandlerAuth,
            // Certificates are issued once the company is verified: part of the company's node.
            OrgNotAuth | OrgAuthing | OrgAuthed | OrgAuthFailed | CertUnconfirmed | CertConfirmed => Node::OrgAuth,
            OrgSealUnsave | OrgSealSaved | OrgSealSaveFailed => Node::SaveOrgSeal,
            Unauthorized | Authorizing | AuthorizeFailed | AuthorizeFinish => Node::Authorized,
        })
    }

    /// Statuses from which the company may sign its authorization letter (process.md §1): its seal
    /// is saved, or an earlier authorization was asked for or failed.
    pub(super) fn may_start_authorization(self) -> bool {
        use ProcessStatus::*;
        matches!(self, OrgSealSaved | Unauthorized | AuthorizeFailed)
    }

    /// Statuses from which the company seal may be saved (process.md §1): the evidence is confirmed,
    /// or an earlier save failed or was interrupted (ORG_SEAL_UNSAVE: e签宝 did not answer).
    pub(super) fn may_save_seal(self) -> bool {
        use ProcessStatus::*;
        matches!(self, CertConfirmed | OrgSealUnsave | OrgSealSaveFailed)
    }

    /// Statuses from which the company's verification may (re)start: the handler is authenticated and
    /// the company is not verified yet. From ORG_AUTHING only once its flow is dead (the use case checks).
    pub(super) fn may_start_org(self) -> bool {
        use ProcessStatus::*;
        matches!(self, HandlerAuthed | OrgNotAuth | OrgAuthFailed | OrgAuthing)
    }

    /// Whether the company has been verified (every status from ORG_AUTHED on, for a process whose
    /// company was verified: see `Process::org_verified`).
    pub(super) fn after_org_auth(self) -> bool {
        use ProcessStatus::*;
        matches!(
            self,
            OrgAuthed
                | CertUnconfirmed
                | CertConfirmed
                | OrgSealUnsave
                | OrgSealSaved
                | OrgSealSaveFailed
                | Unauthorized
                | Authorizing
                | AuthorizeFailed
                | AuthorizeFinish
        )
    }

    pub(super) fn may_start_face(self) -> bool {
        use ProcessStatus::*;
        matches!(self, NotStarted | HandlerNotAuth | HandlerAuthFailed | HandlerAuthing)
    }

    /// Whether the handler has passed face recognition (every status from HANDLER_AUTHED on).
    pub fn handler_authenticated(self) -> bool {
        !matches!(
            self,
            ProcessStatus::NotStarted
                | ProcessStatus::HandlerNotAuth
                | ProcessStatus::HandlerAuthing
                | ProcessStatus::HandlerAuthFailed
        )
    }
}

/// The member's nodes in order: the pay-in check only when the company needs it (seed 000's sample
/// list leaves it out).
pub fn node_list(needs_pub_payment: bool) -> Vec<Node> {
    let mut nodes = vec![Node::HandlerAuth, Node::OrgAuth];
    if needs_pub_payment {
        nodes.push(Node::PubPaymentAuth);
    }
    nodes.extend([Node::SaveOrgSeal, Node::Authorized]);
    nodes
}

/// A move the current status does not allow; carries the status for the caller's message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not allowed while the process is {}", current.as_str())]
pub struct IllegalTransition {
    pub current: ProcessStatus,
}
