//! Reading a member's process (GetProcessDetail), brought up to date with e签宝 when asked.
use super::Service;
use super::error::DomainError;
use super::model::{Process, ProcessStatus, Source};
use super::values::MemberNo;

impl Service {
    /// The member's process; a member with no record is NOT_STARTED and nothing is written.
    pub async fn process(&self, member: &MemberNo) -> Result<Process, DomainError> {
        Ok(self.store.process(member).await?.unwrap_or_else(|| Process::not_started(member.clone())))
    }

    /// The member's process, first brought up to date with e签宝 for a step still running.
    pub async fn refreshed_process(&self, member: &MemberNo, by: &Source) -> Result<Process, DomainError> {
        let process = self.process(member).await?;
        match process.status() {
            ProcessStatus::HandlerAuthing => {
                if let Some(flow) = self.store.latest_face_flow(member).await?
                    && !flow.status.is_final()
                {
                    self.reconcile_face_flow(&flow, by).await?;
                }
            }
            ProcessStatus::Authorizing | ProcessStatus::AuthorizeFinish => {
                if let Some(auth) = self.store.latest_authorization(member).await?
                    && auth.needs_refresh(self.now())
                {
                    self.refresh_authorization(&auth, by).await?;
                }
            }
            _ => return Ok(process),
        }
        self.process(member).await
    }
}
