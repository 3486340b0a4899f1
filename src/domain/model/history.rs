//! The member's history: every move of its process, who made it, and the evidence record it wrote.
//! A move is recorded by the process itself ([`super::Process`]) and stored in the commit that
//! stores the process, so that no transition exists without its entry, nor an entry without it.
use chrono::{DateTime, Utc};

use super::evidence::CertNo;
use super::process::{Node, ProcessStatus};

/// Who made a change: a caller's RPC, e签宝's notification, or the reconciler's poll.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// `method`: the RPC's name (e.g. `StartFaceAuth`); `caller`: the calling system's `etc-sys-id`.
    Rpc {
        method: String,
        caller: String,
    },
    /// `action`: the notification's `action` (empty when e签宝 sent none).
    Callback {
        action: String,
    },
    Reconciler,
}

/// One status change, as the process made it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Move {
    pub from: ProcessStatus,
    pub to: ProcessStatus,
    pub at: DateTime<Utc>,
    /// The evidence record this move wrote (the handler's or the company's pass), if any.
    pub cert_no: Option<CertNo>,
}

impl Move {
    /// The node the move belongs to: the one it entered, or the one it left when it ended the
    /// process (a cancel back to NOT_STARTED).
    pub fn node(&self) -> Option<Node> {
        self.to.node().or(self.from.node())
    }
}

/// A stored move: its place in the member's history, and what made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    /// Increasing in the order the moves were committed; the page token is built from it.
    pub seq: i64,
    pub change: Move,
    pub source: Source,
    /// The evidence record the move wrote (its `cert_no`), if any.
    pub cert_no: Option<String>,
    /// A seal review, which this entry records instead of a move (`change.from == change.to`).
    pub review: Option<super::SealReview>,
}

/// One page of a member's history, oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryPage {
    pub entries: Vec<HistoryEntry>,
    /// Where the next page starts (after this `seq`), when there may be one.
    pub next_after: Option<i64>,
}
