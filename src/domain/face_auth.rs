//! Node HANDLER_AUTH: the handler's face recognition (seed 003), its result (callback or flow
//! outline, seed 001) and its reconciliation.
use tokio::time::Instant;

use super::error::DomainError;
use super::model::{FaceFlow, FaceFlowStatus, Handler, IdentityResult, Process, ProcessStatus, Source};
use super::ports::{
    ChangeSet, FaceAuthMode, FaceAuthRequest, OutlineStatus, PersonAccountRequest, Refusal, StoreError, UpstreamError,
};
use super::values::{AccountId, MemberNo};
use super::{Applied, FACE_LINK_TTL, Service, chrono_dur};

/// What StartFaceAuth asks for, already parsed.
#[derive(Debug, Clone)]
pub struct StartFaceAuth {
    pub member_no: MemberNo,
    pub handler: Handler,
    pub redirect_url: Option<String>,
    pub mode: FaceAuthMode,
}

/// What StartFaceAuth answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaceAuthOutcome {
    /// The handler passed before: no link, no upstream call.
    AlreadyAuthenticated { account_id: Option<AccountId>, process: Process },
    /// A link to open: new, or the running one again.
    Link { flow: FaceFlow, process: Process },
}

impl Service {
    /// Starts (or answers the running) face flow. A wait for another start of the same member ends
    /// before `deadline`, the caller's, with `Busy`.
    pub async fn start_face_auth(
        &self,
        cmd: StartFaceAuth,
        by: &Source,
        deadline: Option<Instant>,
    ) -> Result<FaceAuthOutcome, DomainError> {
        // Fast path without the lease: most repeated calls find a final answer or a live link.
        if let Some(answer) = self.face_answer_without_upstream(&cmd).await? {
            return Ok(answer);
        }
        let member = cmd.member_no.clone();
        self.with_member_lease(&member, deadline, || async {
            // Whoever held the lease before us may have started the flow: look again.
            if let Some(answer) = self.face_answer_without_upstream(&cmd).await? {
                return Ok(answer);
            }
            self.start_new_face_flow(&cmd, by).await
        })
        .await
    }

    /// The answer when no upstream call is needed: already authenticated, or a live link.
    async fn face_answer_without_upstream(&self, cmd: &StartFaceAuth) -> Result<Option<FaceAuthOutcome>, DomainError> {
        let process = self.process(&cmd.member_no).await?;
        if process.status().handler_authenticated() {
            return Ok(Some(FaceAuthOutcome::AlreadyAuthenticated {
                account_id: process.esign_account_id.clone(),
                process,
            }));
        }
        if process.status() != ProcessStatus::HandlerAuthing {
            return Ok(None);
        }
        let Some(flow) = self.store.latest_face_flow(&cmd.member_no).await? else { return Ok(None) };
        let live = flow.status == FaceFlowStatus::Running && flow.expires_at > self.now();
        if !live {
            return Ok(None);
        }
        if process.handler.as_ref().is_some_and(|h| h.id_number != cmd.handler.id_number) {
            return Err(DomainError::FailedPrecondition {
                status: process.status(),
                message: format!(
                    "a face flow for another identity runs until {}; retry after it expires",
                    flow.expires_at.to_rfc3339()
                ),
            });
        }
        Ok(Some(FaceAuthOutcome::Link { flow, process }))
    }

    async fn start_new_face_flow(&self, cmd: &StartFaceAuth, by: &Source) -> Result<FaceAuthOutcome, DomainError> {
        let account_id = self
            .esign
            .create_person_account(&PersonAccountRequest {
                third_party_user_id: cmd.member_no.clone(),
                name: cmd.handler.name.clone(),
                id_number: cmd.handler.id_number.clone(),
                mobile: cmd.handler.mobile.clone(),
            })
            .await?;
        let started = self
            .esign
            .start_face_auth(&FaceAuthRequest {
                account_id: account_id.clone(),
                mode: cmd.mode,
                repetition: true,
                redirect_url: cmd.redirect_url.clone(),
                context_id: cmd.member_no.as_str().to_owned(),
                notify_url: self.settings.notify_url.clone(),
            })
            .await?;
        let now = self.now();
        let flow = FaceFlow {
            flow_id: started.flow_id,
            member_no: cmd.member_no.clone(),
            account_id: account_id.clone(),
            auth_url: started.auth_url,
            original_url: started.original_url,
            created_at: now,
            expires_at: now + chrono_dur(FACE_LINK_TTL),
            status: FaceFlowStatus::Running,
            fail_reason: None,
            finished_at: None,
            next_poll_at: self.next_poll_at(0),
            poll_attempts: 0,
        };
        // The upstream flow exists now: record it even if a callback raced us to the process row.
        let process = self
            .retry_on_conflict(|| async {
                let mut process = self.process(&cmd.member_no).await?;
                process.handler_flow_started(cmd.handler.clone(), account_id.clone(), now)?;
                self.store
                    .commit(ChangeSet {
                        process: Some(process.clone()),
                        face_flows: vec![flow.clone()],
                        source: Some(by.clone()),
                        ..Default::default()
                    })
                    .await?;
                Ok(process)
            })
            .await?;
        tracing::info!(member = %cmd.member_no, flow_id = %flow.flow_id, "face flow started");
        Ok(FaceAuthOutcome::Link { flow, process })
    }

    /// Applies a face flow's end exactly once; `inbox_id` is marked applied in the same commit.
    pub(crate) async fn apply_face_result(
        &self,
        result: &IdentityResult,
        inbox_id: Option<i64>,
        by: &Source,
    ) -> Result<Applied, DomainError> {
        self.retry_on_conflict(|| async {
            let mark = |changes: &mut ChangeSet| changes.inbox_applied.extend(inbox_id);
            let Some(mut flow) = self.store.face_flow(&result.flow_id).await? else {
                tracing::warn!(flow_id = %result.flow_id, "result for a flow this service never started; ignored");
                let mut changes = ChangeSet::default();
                mark(&mut changes);
                self.commit_if_any(changes).await?;
                return Ok(Applied::Unchanged);
            };
            super::record_member(&flow.member_no);
            let mut changes = ChangeSet::default();
            mark(&mut changes);
            if flow.status.is_final() && flow.status != FaceFlowStatus::Abandoned {
                self.commit_if_any(changes).await?;
                return Ok(Applied::Unchanged);
            }
            let now = self.now();
            flow.status = if result.success { FaceFlowStatus::Succeeded } else { FaceFlowStatus::Failed };
            flow.fail_reason = result.fail_reason.clone();
            flow.finished_at = Some(now);
            // Only the member's newest flow speaks for the process: a late result of an older flow
            // must not undo what a newer one did.
            let latest = self.store.latest_face_flow(&flow.member_no).await?;
            if latest.as_ref().is_some_and(|l| l.flow_id == flow.flow_id) {
                let mut process = self.process(&flow.member_no).await?;
                let moved = if result.success {
                    process.handler_passed(flow.flow_id.clone(), now)
                } else {
                    process.handler_failed(result.fail_reason.clone(), now)
                };
                if moved.is_ok() {
                    changes.process = Some(process);
                    changes.source = Some(by.clone());
                }
            }
            changes.face_flows.push(flow.clone());
            self.store.commit(changes).await?;
            tracing::info!(member = %flow.member_no, flow_id = %flow.flow_id, success = result.success, "face result applied");
            Ok(Applied::Changed)
        })
        .await
    }

    /// Asks e签宝 for a running flow's outline and applies a final answer; otherwise schedules the
    /// next poll (with backoff), or gives up on a flow that never ends.
    pub async fn reconcile_face_flow(&self, flow: &FaceFlow, by: &Source) -> Result<Applied, DomainError> {
        let outline = match self.esign.flow_outline(&flow.flow_id).await {
            Ok(o) => o,
            Err(UpstreamError::Refused { reason: Refusal::FlowNotFound, .. }) => {
                // e签宝 does not know the flow: nothing will ever finish it.
                return self.abandon_face_flow(flow).await;
            }
            Err(e) => {
                self.back_off_face_flow(flow).await?;
                return Err(e.into());
            }
        };
        match outline.status {
            OutlineStatus::Success | OutlineStatus::Fail => {
                let result = IdentityResult {
                    flow_id: flow.flow_id.clone(),
                    success: outline.status == OutlineStatus::Success,
                    fail_reason: outline.fail_reason,
                };
                self.apply_face_result(&result, None, by).await
            }
            OutlineStatus::Init | OutlineStatus::Ing => {
                let give_up_at = flow.expires_at + chrono_dur(self.settings.face_flow_give_up_after);
                if self.now() >= give_up_at {
                    return self.abandon_face_flow(flow).await;
                }
                self.back_off_face_flow(flow).await?;
                Ok(Applied::Unchanged)
            }
        }
    }

    /// Schedules a flow's next poll one backoff step later, releasing its poll lease.
    async fn back_off_face_flow(&self, flow: &FaceFlow) -> Result<(), StoreError> {
        let attempts = flow.poll_attempts + 1;
        self.store.reschedule_face_flow(&flow.flow_id, self.next_poll_at(attempts), attempts).await
    }

    async fn abandon_face_flow(&self, flow: &FaceFlow) -> Result<Applied, DomainError> {
        let mut flow = flow.clone();
        flow.status = FaceFlowStatus::Abandoned;
        flow.finished_at = Some(self.now());
        self.store.commit(ChangeSet { face_flows: vec![flow], ..Default::default() }).await?;
        Ok(Applied::Unchanged)
    }
}
