//! proto ⇄ domain for CancelProcess and GetProcessHistory, and the history's page token: opaque to
//! callers (URL-safe base64 of a version tag and the last `seq` answered), so that its spelling can
//! change without breaking them.
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as TOKEN;

use super::convert::{node, status, ts};
use super::pb;
use crate::domain::error::AllValid;
use crate::domain::model::{HistoryEntry, HistoryPage, Source};
use crate::domain::values::{FieldViolation, MemberNo};
use crate::domain::{DomainError, HISTORY_PAGE_DEFAULT, HISTORY_PAGE_MAX};

const TOKEN_TAG: &str = "h1:";

pub fn cancel_query(req: pb::CancelProcessRequest) -> Result<MemberNo, DomainError> {
    let pb::CancelProcessRequest { etc_member_no } = req;
    Ok(MemberNo::parse(&etc_member_no)?)
}

/// What `GetProcessHistory` asks.
pub struct HistoryQuery {
    pub member_no: MemberNo,
    /// Answer the moves after this `seq`.
    pub after: Option<i64>,
    pub page_size: u32,
}

pub fn history_query(req: pb::GetProcessHistoryRequest) -> Result<HistoryQuery, DomainError> {
    let pb::GetProcessHistoryRequest { etc_member_no, page_size, page_token } = req;
    let (member_no, page_size, after) =
        (MemberNo::parse(&etc_member_no), page_size_of(page_size), after_of(&page_token)).all_valid()?;
    Ok(HistoryQuery { member_no, after, page_size })
}

/// 0 is the default; more than the maximum is read as the maximum (AIP-158).
fn page_size_of(n: i32) -> Result<u32, FieldViolation> {
    match u32::try_from(n) {
        Ok(0) => Ok(HISTORY_PAGE_DEFAULT),
        Ok(n) => Ok(n.min(HISTORY_PAGE_MAX)),
        Err(_) => Err(FieldViolation::new("page_size", "must not be negative")),
    }
}

fn after_of(token: &str) -> Result<Option<i64>, FieldViolation> {
    if token.is_empty() {
        return Ok(None);
    }
    let bad = || FieldViolation::new("page_token", "is not a token this service gave; start again without one");
    let raw = TOKEN.decode(token).map_err(|_| bad())?;
    let text = std::str::from_utf8(&raw).map_err(|_| bad())?;
    let seq = text.strip_prefix(TOKEN_TAG).and_then(|n| n.parse::<i64>().ok()).filter(|n| *n > 0).ok_or_else(bad)?;
    Ok(Some(seq))
}

fn token(after: i64) -> String {
    TOKEN.encode(format!("{TOKEN_TAG}{after}"))
}

pub fn history_page(page: &HistoryPage) -> pb::GetProcessHistoryResponse {
    let HistoryPage { entries, next_after } = page;
    pb::GetProcessHistoryResponse {
        transitions: entries.iter().map(transition).collect(),
        next_page_token: next_after.map(token).unwrap_or_default(),
    }
}

fn transition(e: &HistoryEntry) -> pb::ProcessTransition {
    let HistoryEntry { seq: _, change, source, cert_no, review } = e;
    let (kind, method, caller, action) = match source {
        Source::Rpc { method, caller } => (pb::TransitionSource::Rpc, method.clone(), caller.clone(), String::new()),
        Source::Callback { action } => (pb::TransitionSource::Callback, String::new(), String::new(), action.clone()),
        Source::Reconciler => (pb::TransitionSource::Reconciler, String::new(), String::new(), String::new()),
    };
    pb::ProcessTransition {
        time: Some(ts(change.at)),
        from_status: status(change.from) as i32,
        to_status: status(change.to) as i32,
        node: node(change.node()) as i32,
        source: kind as i32,
        method,
        caller,
        action,
        cert_no: cert_no.clone().unwrap_or_default(),
        // Status moves keep the answer they always had: no kind, no review.
        kind: if review.is_some() { pb::TransitionKind::SealReviewed as i32 } else { 0 },
        seal_review: review.as_ref().map(|r| pb::SealReview {
            seal_id: r.seal_id.clone(),
            approved: r.approved,
            reason: r.reason.clone().unwrap_or_default(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_token_reads_back_and_anything_else_is_named() {
        assert_eq!(after_of(&token(42)), Ok(Some(42)));
        assert_eq!(after_of(""), Ok(None));
        for bad in ["42", "!!", &TOKEN.encode("h1:-3"), &TOKEN.encode("x:5")] {
            assert_eq!(after_of(bad).map_err(|v| v.field), Err("page_token"), "{bad}");
        }
    }

    #[test]
    fn page_sizes_default_cap_and_refuse_negatives() {
        assert_eq!(page_size_of(0), Ok(50));
        assert_eq!(page_size_of(7), Ok(7));
        assert_eq!(page_size_of(100_000), Ok(500));
        assert!(page_size_of(-1).is_err());
    }
}
