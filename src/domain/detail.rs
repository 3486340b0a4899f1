//! Reading a member's process, and bringing it up to date with e签宝 when GetProcessDetail asks.
use super::Service;
use super::error::DomainError;
use super::model::{Process, ProcessStatus, Source};
use super::values::MemberNo;

impl Service {
    /// The member's process; a member with no record is NOT_STARTED and nothing is written.
    pub async fn process(&self, member: &MemberNo) -> Result<Process, DomainError> {
        Ok(self.store.process(member).await?.unwrap_or_else(|| Process::not_started(member.clone())))
    }

    /// Brings the member's process up to date with e签宝 for a step still running (GetProcessDetail
    /// with `refresh`; the detail is read after it, `Service::process_detail`).
    pub async fn refresh_process(&self, member: &MemberNo, by: &Source) -> Result<(), DomainError> {
        let process = self.process(member).await?;
        match process.status() {
            ProcessStatus::HandlerAuthing => {
                if let Some(flow) = self.store.latest_face_flow(member).await?
                    && !flow.status.is_final()
                {
                    self.reconcile_face_flow(&flow, by).await?;
                }
            }
            ProcessStatus::OrgAuthing => {
                if let Some(flow) = self.store.latest_org_flow(member).await?
                    && !flow.status.is_final()
                {
                    self.reconcile_org_flow(&flow, by).await?;
                }
            }
            ProcessStatus::Authorizing | ProcessStatus::AuthorizeFinish => {
                if let Some(auth) = self.store.latest_authorization(member).await?
                    && auth.needs_refresh(self.now())
                {
                    self.refresh_authorization(&auth, by).await?;
                }
            }
            _ => {}
        }
        Ok(())
    }
}
