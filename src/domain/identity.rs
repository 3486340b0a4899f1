//! The end of any identity flow — the handler's face (and, as they come, SMS) or the company's —
//! applied by flow id to the kind of flow that knows it, whichever way it arrived: a callback in any
//! of e签宝's forms (esign.md §5, §11) or the flow outline polled by the reconciler.
use super::error::DomainError;
use super::model::{IdentityResult, Source};
use super::ports::ChangeSet;
use super::values::FlowId;
use super::{Applied, Service};

/// The kinds of identity flow the service starts, each kept in a table of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentityFlowKind {
    /// The handler's face recognition (node HANDLER_AUTH).
    Face,
}

impl Service {
    /// Which kind of flow `flow_id` is, if this service started it.
    pub async fn identity_flow_kind(&self, flow_id: &FlowId) -> Result<Option<IdentityFlowKind>, DomainError> {
        // One lookup per kind, each by primary key; a new kind adds its own here.
        if self.store.face_flow(flow_id).await?.is_some() {
            return Ok(Some(IdentityFlowKind::Face));
        }
        Ok(None)
    }

    /// Applies an identity flow's end exactly once to the flow and, if it is the member's current
    /// one, to the process; `inbox_id` is marked applied in the same commit.
    pub async fn apply_identity_result(
        &self,
        result: &IdentityResult,
        inbox_id: Option<i64>,
        by: &Source,
    ) -> Result<Applied, DomainError> {
        match self.identity_flow_kind(&result.flow_id).await? {
            Some(IdentityFlowKind::Face) => self.apply_face_result(result, inbox_id, by).await,
            None => {
                tracing::warn!(flow_id = %result.flow_id, "result for a flow this service never started; ignored");
                self.commit_if_any(ChangeSet { inbox_applied: inbox_id.into_iter().collect(), ..Default::default() })
                    .await?;
                Ok(Applied::Unchanged)
            }
        }
    }
}
