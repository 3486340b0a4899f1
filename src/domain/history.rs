//! Starting over (CancelProcess) and reading back every move the member's process made
//! (GetProcessHistory). The history itself is written by the store with each move.
use super::error::DomainError;
use super::model::{HistoryPage, Process, Source};
use super::ports::ChangeSet;
use super::values::MemberNo;
use super::{Applied, Service};

/// A page of history when the caller names no size, and the most one page holds.
pub const HISTORY_PAGE_DEFAULT: u32 = 50;
pub const HISTORY_PAGE_MAX: u32 = 500;

impl Service {
    /// Moves the member's process back to NOT_STARTED from any status, so that it can start over
    /// with another handler or company. Upstream flows still running are left to expire: their late
    /// results find a process that no longer waits for them and change nothing. History (and
    /// evidence) are kept. Idempotent: a member that has not started is answered as it is and
    /// nothing is written.
    pub async fn cancel_process(&self, member: &MemberNo, by: &Source) -> Result<(Process, Applied), DomainError> {
        self.retry_on_conflict(|| async {
            let mut process = self.process(member).await?;
            if !process.cancel(self.now()) {
                return Ok((process, Applied::Unchanged));
            }
            self.store
                .commit(ChangeSet { process: Some(process.clone()), source: Some(by.clone()), ..Default::default() })
                .await?;
            tracing::info!(member = %member, "process cancelled");
            Ok((process, Applied::Changed))
        })
        .await
    }

    /// Up to `page_size` (1 to [`HISTORY_PAGE_MAX`]) moves of the member's process after `after`
    /// (from the first when `None`), oldest first; a member with no history answers an empty page.
    pub async fn history(
        &self,
        member: &MemberNo,
        after: Option<i64>,
        page_size: u32,
    ) -> Result<HistoryPage, DomainError> {
        let size = u64::from(page_size.clamp(1, HISTORY_PAGE_MAX));
        // One more than asked tells whether another page follows, without a count.
        let mut entries = self.store.history(member, after, size + 1).await?;
        let more = entries.len() as u64 > size;
        entries.truncate(size as usize);
        let next_after = if more { entries.last().map(|e| e.seq) } else { None };
        Ok(HistoryPage { entries, next_after })
    }
}
