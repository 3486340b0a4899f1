//! Node HANDLER_AUTH: the handler's identity flow — face recognition (seed 003) here, the SMS check
//! in `sms_auth` on the same start — its result (callback or flow outline, seed 001) and its
//! reconciliation.
use tokio::time::Instant;

use super::error::DomainError;
use super::model::{FaceFlow, FaceFlowStatus, Handler, HandlerMethod, IdentityResult, Process, ProcessStatus, Source};
use super::ports::{
    ChangeSet, FaceAuthMode, FaceAuthRequest, OutlineStatus, PersonAccountRequest, Refusal, SmsAuthRequest, StoreError,
    UpstreamError,
};
use super::service::HeldLease;
use super::values::{AccountId, AccountKey, MemberNo};
use super::{Applied, FACE_LINK_TTL, Service, chrono_dur};

/// What StartFaceAuth asks for, already parsed.
#[derive(Debug, Clone)]
pub struct StartFaceAuth {
    pub member_no: MemberNo,
    pub handler: Handler,
    pub redirect_url: Option<String>,
    pub mode: FaceAuthMode,
}

/// What StartFaceAuth (and StartSmsAuth) answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaceAuthOutcome {
    /// The handler passed before: no link, no upstream call.
    AlreadyAuthenticated { account_id: Option<AccountId>, process: Process },
    /// A flow under way: new, or the running one again (a link to open, or an SMS sent).
    Link { flow: FaceFlow, process: Process },
}

/// How a new identity flow of the handler is started at e签宝.
pub(super) enum FlowStart<'a> {
    Face { mode: FaceAuthMode, redirect_url: &'a Option<String> },
    Sms,
}

impl FlowStart<'_> {
    fn method(&self) -> HandlerMethod {
        match self {
            FlowStart::Face { .. } => HandlerMethod::Face,
            FlowStart::Sms => HandlerMethod::Sms,
        }
    }
}

/// How long an SMS code may be filled back (esign.md §10).
pub const SMS_CODE_TTL: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// What `answer_from` found: the answer, or the process to start a flow from.
enum Found {
    Answer(FaceAuthOutcome),
    Start(Process),
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
        let start = FlowStart::Face { mode: cmd.mode, redirect_url: &cmd.redirect_url };
        self.start_handler_flow(&cmd.member_no, &cmd.handler, start, by, deadline).await
    }

    /// Starts an identity flow of the handler, or answers the one under way (of the same kind) or the
    /// passed one. Concurrent starts for one member make one upstream flow (the member's lease); a
    /// wait for another start ends before `deadline`, the caller's, with `Busy`.
    ///
    /// Every call takes the lease first, even one that is answered without e签宝: the statement
    /// that takes it reads the process too, so a start reads nothing else before its upstream calls
    /// (a read without the lease first, to spare repeated calls the lease, cost every start a round
    /// trip: 0.25 ms on SQLite, 0.5 ms on PostgreSQL). A repeated call pays a write instead of a
    /// read, committed without waiting for the WAL flush on PostgreSQL.
    pub(super) async fn start_handler_flow(
        &self,
        member: &MemberNo,
        handler: &Handler,
        start: FlowStart<'_>,
        by: &Source,
        deadline: Option<Instant>,
    ) -> Result<FaceAuthOutcome, DomainError> {
        let method = start.method();
        self.with_member_lease(member, deadline, |process, lease| async move {
            match self.answer_from(process, handler, method).await? {
                Found::Answer(answer) => Ok(answer),
                Found::Start(process) => self.start_new_flow(process, handler, &start, by, &lease).await,
            }
        })
        .await
    }

    /// The answer when no upstream call is needed: already authenticated, or a live flow of the
    /// same kind (a flow of the other kind is left to expire: the newest flow speaks). Otherwise the
    /// process, which the start goes on from without reading it again.
    async fn answer_from(
        &self,
        process: Process,
        handler: &Handler,
        method: HandlerMethod,
    ) -> Result<Found, DomainError> {
        let member = process.member_no();
        if process.status().handler_authenticated() {
            return Ok(Found::Answer(FaceAuthOutcome::AlreadyAuthenticated {
                account_id: process.esign_account_id.clone(),
                process,
            }));
        }
        if process.status() != ProcessStatus::HandlerAuthing {
            return Ok(Found::Start(process));
        }
        let Some(flow) = self.store.latest_face_flow(member).await? else { return Ok(Found::Start(process)) };
        let live = flow.status == FaceFlowStatus::Running && flow.expires_at > self.now() && flow.method == method;
        if !live {
            return Ok(Found::Start(process));
        }
        if process.handler.as_ref().is_some_and(|h| h.id_number != handler.id_number) {
            return Err(DomainError::FailedPrecondition {
                status: process.status(),
                message: format!(
                    "an identity flow for another identity runs until {}; retry after it expires",
                    flow.expires_at.to_rfc3339()
                ),
            });
        }
        Ok(Found::Answer(FaceAuthOutcome::Link { flow, process }))
    }

    /// Starts the flow for `read`, the process as read under the member's lease; the commit that
    /// records the flow frees the lease.
    async fn start_new_flow(
        &self,
        read: Process,
        handler: &Handler,
        start: &FlowStart<'_>,
        by: &Source,
        lease: &HeldLease,
    ) -> Result<FaceAuthOutcome, DomainError> {
        let member = &read.member_no().clone();
        // The person account of this life of the process (a cancel starts accounts anew).
        let generation = read.generation;
        let account_id = self
            .esign
            .create_person_account(&PersonAccountRequest {
                third_party_user_id: AccountKey::new(member.clone(), generation),
                name: handler.name.clone(),
                id_number: handler.id_number.clone(),
                mobile: handler.mobile.clone(),
            })
            .await?;
        let context_id = member.as_str().to_owned();
        let notify_url = self.settings.notify_url.clone();
        let (flow_id, auth_url, original_url, ttl) = match start {
            FlowStart::Face { mode, redirect_url } => {
                let started = self
                    .esign
                    .start_face_auth(&FaceAuthRequest {
                        account_id: account_id.clone(),
                        mode: *mode,
                        repetition: true,
                        redirect_url: (*redirect_url).clone(),
                        context_id,
                        notify_url,
                    })
                    .await?;
                (started.flow_id, started.auth_url, started.original_url, FACE_LINK_TTL)
            }
            FlowStart::Sms => {
                let req = SmsAuthRequest {
                    account_id: account_id.clone(),
                    mobile: handler.mobile.clone(),
                    context_id,
                    notify_url,
                };
                let flow_id = self.esign.start_sms_auth(&req).await?;
                (flow_id, String::new(), String::new(), SMS_CODE_TTL)
            }
        };
        let now = self.now();
        let flow = FaceFlow {
            flow_id,
            method: start.method(),
            member_no: member.clone(),
            account_id: account_id.clone(),
            auth_url,
            original_url,
            created_at: now,
            expires_at: now + chrono_dur(ttl),
            status: FaceFlowStatus::Running,
            fail_reason: None,
            finished_at: None,
            next_poll_at: self.next_poll_at(0),
            poll_attempts: 0,
        };
        // The upstream flow exists now: record it even if a callback raced us to the process row
        // (its commit conflicts, and the retry reads the process again; the first attempt goes on
        // from the process read under the lease).
        let (flow_ref, account_id) = (&flow, &account_id);
        let mut first = Some(read);
        let process = self
            .retry_on_conflict(|| {
                let first = first.take();
                async move {
                    let mut process = self.kept_or_stored(first, member).await?;
                    process.handler_flow_started(handler.clone(), account_id.clone(), now)?;
                    let changes = ChangeSet {
                        process: Some(process.clone()),
                        face_flows: vec![flow_ref.clone()],
                        source: Some(by.clone()),
                        ..Default::default()
                    };
                    self.commit_freeing(changes, lease).await?;
                    Ok(process)
                }
            })
            .await?;
        tracing::info!(member = %member, flow_id = %flow.flow_id, method = ?flow.method, "identity flow started");
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
                    if result.success {
                        let record = self.handler_evidence(&process, &flow, now).await?;
                        process.evidence_written(&record)?;
                        changes.evidence.push(record);
                    }
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
