//! `process_history`: one row per move of a member's process, written in the commit that writes
//! the process, with what made it. Statuses are stored in the seed's spelling.
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::entity::prelude::*;

use crate::domain::model::{CertNo, HistoryEntry, Move, ProcessStatus, SealReview, Source};
use crate::domain::ports::StoreError;
use crate::domain::values::MemberNo;
use crate::store::columns::{from_ms, ms};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "process_history")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub member_no: String,
    pub at: i64,
    pub from_status: String,
    pub to_status: String,
    /// `RPC`, `CALLBACK` or `RECONCILER`.
    pub source: String,
    /// The RPC's method or the notification's action; empty for the reconciler.
    pub source_detail: String,
    /// The calling system of an RPC.
    pub caller: Option<String>,
    pub cert_no: Option<String>,
    /// `SEAL_REVIEWED` for a review; `NULL` for a status move.
    pub kind: Option<String>,
    /// A review's seal.
    pub seal_id: Option<String>,
    /// A review's decision.
    pub approved: Option<bool>,
    /// A rejection's reason.
    pub reason: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

const RPC: &str = "RPC";
const CALLBACK: &str = "CALLBACK";
const RECONCILER: &str = "RECONCILER";
const SEAL_REVIEWED: &str = "SEAL_REVIEWED";

impl ActiveModel {
    /// The row recording `change` of `member`'s process, made by `source`.
    pub fn recorded(member: &MemberNo, change: &Move, source: &Source) -> Self {
        let (kind, detail, caller) = match source {
            Source::Rpc { method, caller } => (RPC, method.clone(), Some(caller.clone())),
            Source::Callback { action } => (CALLBACK, action.clone(), None),
            Source::Reconciler => (RECONCILER, String::new(), None),
        };
        Self {
            id: NotSet,
            member_no: Set(member.as_str().to_owned()),
            at: Set(ms(change.at)),
            from_status: Set(change.from.as_str().to_owned()),
            to_status: Set(change.to.as_str().to_owned()),
            source: Set(kind.to_owned()),
            source_detail: Set(detail),
            caller: Set(caller),
            cert_no: Set(change.cert_no.map(|c| c.to_string())),
            kind: Set(None),
            seal_id: Set(None),
            approved: Set(None),
            reason: Set(None),
        }
    }

    /// The row recording a review of a seal of `member`'s company, made while the process was at
    /// `status` (`from == to`: a review moves nothing).
    pub fn reviewed(
        member: &MemberNo,
        status: ProcessStatus,
        at: chrono::DateTime<chrono::Utc>,
        review: &SealReview,
        source: &Source,
    ) -> Self {
        let change = Move { from: status, to: status, at, cert_no: None };
        Self {
            kind: Set(Some(SEAL_REVIEWED.to_owned())),
            seal_id: Set(Some(review.seal_id.clone())),
            approved: Set(Some(review.approved)),
            reason: Set(review.reason.clone()),
            ..Self::recorded(member, &change, source)
        }
    }
}

fn status(s: &str) -> Result<ProcessStatus, StoreError> {
    ProcessStatus::parse(s).ok_or_else(|| StoreError::Corrupt(format!("history status {s}")))
}

impl TryFrom<Model> for HistoryEntry {
    type Error = StoreError;

    fn try_from(m: Model) -> Result<Self, StoreError> {
        let source = match m.source.as_str() {
            RPC => Source::Rpc { method: m.source_detail, caller: m.caller.unwrap_or_default() },
            CALLBACK => Source::Callback { action: m.source_detail },
            RECONCILER => Source::Reconciler,
            other => return Err(StoreError::Corrupt(format!("history source {other}"))),
        };
        let cert_no = m.cert_no.as_deref().map(|c| CertNo::parse("cert_no", c)).transpose()?;
        let review = match m.kind.as_deref() {
            None => None,
            Some(SEAL_REVIEWED) => Some(SealReview {
                seal_id: m.seal_id.unwrap_or_default(),
                approved: m.approved.unwrap_or_default(),
                reason: m.reason,
            }),
            Some(other) => return Err(StoreError::Corrupt(format!("history kind {other}"))),
        };
        Ok(HistoryEntry {
            seq: m.id,
            change: Move { from: status(&m.from_status)?, to: status(&m.to_status)?, at: from_ms(m.at)?, cert_no },
            source,
            cert_no: m.cert_no,
            review,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_source_reads_back_as_written() {
        let member = MemberNo::parse("ETC000123456").unwrap();
        let change = Move {
            from: ProcessStatus::HandlerAuthing,
            to: ProcessStatus::HandlerAuthed,
            at: chrono::DateTime::from_timestamp_millis(1_700_000_000_123).unwrap(),
            cert_no: Some(CertNo::random()),
        };
        for source in [
            Source::Rpc { method: "StartFaceAuth".into(), caller: "E02".into() },
            Source::Callback { action: "identity_psn_end".into() },
            Source::Reconciler,
        ] {
            let row = ActiveModel::recorded(&member, &change, &source);
            let model = Model {
                id: 9,
                member_no: row.member_no.unwrap(),
                at: row.at.unwrap(),
                from_status: row.from_status.unwrap(),
                to_status: row.to_status.unwrap(),
                source: row.source.unwrap(),
                source_detail: row.source_detail.unwrap(),
                caller: row.caller.unwrap(),
                cert_no: row.cert_no.unwrap(),
                kind: row.kind.unwrap(),
                seal_id: row.seal_id.unwrap(),
                approved: row.approved.unwrap(),
                reason: row.reason.unwrap(),
            };
            let entry = HistoryEntry::try_from(model).unwrap();
            assert_eq!((entry.seq, entry.change, entry.source), (9, change, source));
        }
    }
}
