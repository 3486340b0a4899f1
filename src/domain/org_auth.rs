//! Nodes ORG_AUTH and PUB_PAYMENT_AUTH: the company's verification by its legal person (e签宝's
//! 4-factor flow with `frAuthEnable`, esign.md §7) and its result however it arrives (a callback in
//! any form, the flow outline, the payment progress). The payment calls are in `org_payment`.
use super::error::DomainError;
use super::model::{
    IdentityResult, OrgFlow, OrgFlowStatus, OrgInfo, OrgProfile, PaymentProcess, PaymentProgress, Process,
    ProcessStatus, Source,
};
use super::ports::{ChangeSet, FourFactorsRequest, OrgAccountRequest, OutlineStatus, Refusal, UpstreamError};
use super::values::{AccountId, AccountKey, MemberNo, OrgIdNumber, OrgName, PersonName, ResidentId};
use tokio::time::Instant;

use super::service::HeldLease;
use super::{Applied, Service, chrono_dur};

/// What StartOrgAuth asks for, already parsed.
#[derive(Debug, Clone)]
pub struct StartOrgAuth {
    pub member_no: MemberNo,
    pub name: OrgName,
    pub id_number: OrgIdNumber,
    pub legal_name: PersonName,
    pub legal_id_number: ResidentId,
    pub profile: OrgProfile,
}

impl StartOrgAuth {
    fn info(&self) -> OrgInfo {
        OrgInfo {
            name: self.name.as_str().to_owned(),
            id_number: self.id_number.as_str().to_owned(),
            id_type: self.id_number.kind().as_str().to_owned(),
            legal_name: self.legal_name.as_str().to_owned(),
            legal_id_number: self.legal_id_number.expose().to_owned(),
        }
    }
}

/// What StartOrgAuth answers: the company's account, its flow and the process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgAuthOutcome {
    pub org_id: AccountId,
    pub flow: Option<OrgFlow>,
    pub process: Process,
}

impl Service {
    /// A start that waits for another start of the same member gives up before `deadline`, the
    /// caller's, with `Busy` (as StartFaceAuth does).
    pub async fn start_org_auth(
        &self,
        cmd: StartOrgAuth,
        by: &Source,
        deadline: Option<Instant>,
    ) -> Result<OrgAuthOutcome, DomainError> {
        if let Some(answer) = self.org_answer_without_upstream(&cmd, self.process(&cmd.member_no).await?).await? {
            return Ok(answer);
        }
        let member = cmd.member_no.clone();
        self.with_member_lease(&member, deadline, |process, lease| async move {
            // Whoever held the lease before us may have started the flow: look again, at the
            // process as the lease's statement read it (no read of its own).
            if let Some(answer) = self.org_answer_without_upstream(&cmd, process.clone()).await? {
                return Ok(answer);
            }
            self.start_new_org_flow(&cmd, process, &lease, by).await
        })
        .await
    }

    /// The answer when no upstream call is needed (the company verified, or its flow running), or
    /// the refusal of a step out of order; `process` is the member's as just read.
    async fn org_answer_without_upstream(
        &self,
        cmd: &StartOrgAuth,
        process: Process,
    ) -> Result<Option<OrgAuthOutcome>, DomainError> {
        if process.org_verified() {
            let flow = self.store.latest_org_flow(&cmd.member_no).await?;
            let org_id = process.org_account_id.clone().ok_or_else(|| precondition(&process, "no company account"))?;
            return Ok(Some(OrgAuthOutcome { org_id, flow, process }));
        }
        process.check_may_start_org().map_err(|e| DomainError::FailedPrecondition {
            status: e.current,
            message: format!(
                "StartOrgAuth needs HANDLER_AUTHED (or a failed company step); the process is {}",
                e.current.as_str()
            ),
        })?;
        if process.status() != ProcessStatus::OrgAuthing {
            return Ok(None);
        }
        let Some(flow) = self.store.latest_org_flow(&cmd.member_no).await? else { return Ok(None) };
        if flow.status.is_final() || flow.expires_at <= self.now() {
            return Ok(None);
        }
        if process.org.as_ref().is_some_and(|o| o.id_number != cmd.id_number.as_str()) {
            return Err(precondition(
                &process,
                &format!("the verification of another company runs until {}", flow.expires_at.to_rfc3339()),
            ));
        }
        Ok(Some(OrgAuthOutcome { org_id: flow.org_id.clone(), flow: Some(flow), process }))
    }

    /// Makes the company's account and flow and records them, freeing `lease` with the commit.
    /// `read` is the process as the lease read it: the commits start from it and read the process
    /// again only when a write (a callback) came between and their commit conflicted.
    async fn start_new_org_flow(
        &self,
        cmd: &StartOrgAuth,
        read: Process,
        lease: &HeldLease,
        by: &Source,
    ) -> Result<OrgAuthOutcome, DomainError> {
        let process = read.clone();
        let mut first = Some(read);
        let (Some(agent), Some(agent_flow), Some(handler)) =
            (process.esign_account_id.clone(), process.handler_flow_id.clone(), process.handler.clone())
        else {
            return Err(precondition(&process, "the handler's passed identity flow is not known; authenticate again"));
        };
        let account = self
            .esign
            .create_org_account(&OrgAccountRequest {
                third_party_user_id: AccountKey::new(cmd.member_no.clone(), process.generation),
                creator: agent.clone(),
                name: cmd.name.clone(),
                id_number: cmd.id_number.clone(),
                legal_name: cmd.legal_name.clone(),
                legal_id_number: cmd.legal_id_number.clone(),
            })
            .await?;
        if !account.id_number.eq_ignore_ascii_case(cmd.id_number.as_str()) {
            // The factors are read from the account, and e签宝 (esign.md §7) offers no way to change them.
            return Err(precondition(&process, "the member's e签宝 company account holds another company"));
        }
        let org_id = account.org_id;
        let info = cmd.info();
        let started = self
            .esign
            .start_org_four_factors(&FourFactorsRequest {
                org_id: org_id.clone(),
                agent_account_id: agent,
                agent_flow_id: agent_flow,
                context_id: cmd.member_no.as_str().to_owned(),
                notify_url: self.settings.notify_url.clone(),
            })
            .await;
        let flow_id = match started {
            Ok(flow_id) => flow_id,
            Err(error) => {
                // The account exists (ORG_NOT_AUTH); a mismatch fails the company's step.
                let reason = match &error {
                    UpstreamError::Refused { reason: Refusal::InfoMismatch, message, .. } => Some(message.clone()),
                    _ => None,
                };
                let (info, org_id, reason) = (&info, &org_id, &reason);
                self.retry_on_conflict(|| {
                    let first = first.take();
                    async move {
                        let mut process = self.kept_or_stored(first, &cmd.member_no).await?;
                        let now = self.now();
                        process.org_account_created(info.clone(), cmd.profile.clone(), org_id.clone(), now)?;
                        if reason.is_some() {
                            process.org_failed(reason.clone(), now)?;
                        }
                        let changes =
                            ChangeSet { process: Some(process), source: Some(by.clone()), ..Default::default() };
                        self.commit_freeing(changes, lease).await
                    }
                })
                .await?;
                return Err(error.into());
            }
        };
        // e签宝 ends the flow at once when the handler is the legal person; its outline says so. If
        // the outline cannot be read now, the service's own comparison decides the node list and the
        // callback or the reconciler brings the result.
        let handler_is_legal =
            handler.name.as_str() == cmd.legal_name.as_str() && handler.id_number == cmd.legal_id_number;
        let outline = self.esign.flow_outline(&flow_id).await.ok();
        let (status, needs_payment, fail_reason) = match outline.map(|o| (o.status, o.fail_reason)) {
            Some((OutlineStatus::Success, _)) => (OrgFlowStatus::Succeeded, false, None),
            Some((OutlineStatus::Fail, reason)) => (OrgFlowStatus::Failed, !handler_is_legal, reason),
            Some((OutlineStatus::Ing, _)) => (OrgFlowStatus::Running, true, None),
            _ => (OrgFlowStatus::Running, !handler_is_legal, None),
        };
        let now = self.now();
        let flow = OrgFlow {
            flow_id,
            member_no: cmd.member_no.clone(),
            org_id: org_id.clone(),
            needs_payment,
            created_at: now,
            expires_at: now + chrono_dur(self.settings.org_flow_life),
            status,
            fail_reason: fail_reason.clone(),
            finished_at: status.is_final().then_some(now),
            payment_process: if status == OrgFlowStatus::Succeeded && needs_payment {
                PaymentProcess::OrganFinished
            } else {
                PaymentProcess::Init
            },
            receiving: None,
            progress: PaymentProgress::default(),
            next_poll_at: self.next_poll_at(0),
            poll_attempts: 0,
        };
        let (info, flow_ref, fail_reason) = (&info, &flow, &fail_reason);
        let process = self
            .retry_on_conflict(|| {
                let first = first.take();
                async move {
                    let mut process = self.kept_or_stored(first, &cmd.member_no).await?;
                    process.org_account_created(info.clone(), cmd.profile.clone(), flow_ref.org_id.clone(), now)?;
                    process.org_flow_started(needs_payment, now)?;
                    let mut evidence = Vec::new();
                    match status {
                        OrgFlowStatus::Succeeded => {
                            process.org_passed(now)?;
                            let record = self.org_evidence(&process, flow_ref, now).await?;
                            process.evidence_written(&record)?;
                            evidence.push(record);
                        }
                        OrgFlowStatus::Failed => process.org_failed(fail_reason.clone(), now)?,
                        _ => {}
                    }
                    let changes = ChangeSet {
                        process: Some(process.clone()),
                        org_flows: vec![flow_ref.clone()],
                        evidence,
                        source: Some(by.clone()),
                        ..Default::default()
                    };
                    self.commit_freeing(changes, lease).await?;
                    Ok(process)
                }
            })
            .await?;
        tracing::info!(member = %cmd.member_no, flow_id = %flow.flow_id, needs_payment, "company flow started");
        Ok(OrgAuthOutcome { org_id, flow: Some(flow), process })
    }

    /// Applies a company flow's end exactly once; `inbox_id` is marked applied in the same commit.
    pub(crate) async fn apply_org_result(
        &self,
        result: &IdentityResult,
        inbox_id: Option<i64>,
        progress: Option<(PaymentProcess, PaymentProgress)>,
        by: &Source,
    ) -> Result<Applied, DomainError> {
        self.retry_on_conflict(|| async {
            let mut changes = ChangeSet { inbox_applied: inbox_id.into_iter().collect(), ..Default::default() };
            let Some(mut flow) = self.store.org_flow(&result.flow_id).await? else {
                tracing::warn!(flow_id = %result.flow_id, "result for a company flow this service never started");
                self.commit_if_any(changes).await?;
                return Ok(Applied::Unchanged);
            };
            super::record_member(&flow.member_no);
            if flow.status.is_final() && flow.status != OrgFlowStatus::Abandoned {
                self.commit_if_any(changes).await?;
                return Ok(Applied::Unchanged);
            }
            let now = self.now();
            flow.status = if result.success { OrgFlowStatus::Succeeded } else { OrgFlowStatus::Failed };
            flow.fail_reason = result.fail_reason.clone();
            flow.finished_at = Some(now);
            if let Some((process, progress)) = progress.clone() {
                flow.payment_process = process;
                flow.progress = progress;
            } else if result.success && flow.needs_payment {
                flow.payment_process = PaymentProcess::OrganFinished;
            }
            // Only the member's newest flow speaks for the process.
            let latest = self.store.latest_org_flow(&flow.member_no).await?;
            if latest.as_ref().is_some_and(|l| l.flow_id == flow.flow_id) {
                let mut process = self.process(&flow.member_no).await?;
                let moved =
                    if result.success { process.org_passed(now) } else { process.org_failed(result.fail_reason.clone(), now) };
                if moved.is_ok() {
                    if result.success {
                        let record = self.org_evidence(&process, &flow, now).await?;
                        process.evidence_written(&record)?;
                        changes.evidence.push(record);
                    }
                    changes.process = Some(process);
                    changes.source = Some(by.clone());
                }
            }
            changes.org_flows.push(flow.clone());
            self.store.commit(changes).await?;
            tracing::info!(member = %flow.member_no, flow_id = %flow.flow_id, success = result.success, "company result applied");
            Ok(Applied::Changed)
        })
        .await
    }

    /// The reconciler's poll of a running company flow: its payment progress, then its outline;
    /// a final answer is applied, otherwise the next poll is scheduled with backoff.
    pub async fn reconcile_org_flow(&self, flow: &OrgFlow, by: &Source) -> Result<Applied, DomainError> {
        self.check_org_flow(flow, true, by).await
    }

    pub(super) async fn check_org_flow(
        &self,
        flow: &OrgFlow,
        schedule: bool,
        by: &Source,
    ) -> Result<Applied, DomainError> {
        let back_off = || async {
            if schedule {
                let attempts = flow.poll_attempts + 1;
                self.store.reschedule_org_flow(&flow.flow_id, self.next_poll_at(attempts), attempts).await?;
            }
            Ok::<_, DomainError>(())
        };
        if flow.needs_payment && flow.receiving.is_some() {
            match self.esign.reverse_payment_progress(&flow.flow_id).await {
                Ok((PaymentProcess::OrganFinished, progress)) => {
                    let result = IdentityResult { flow_id: flow.flow_id.clone(), success: true, fail_reason: None };
                    return self
                        .apply_org_result(&result, None, Some((PaymentProcess::OrganFinished, progress)), by)
                        .await;
                }
                Ok((process, progress)) => self.record_progress(flow, process, progress).await?,
                Err(UpstreamError::Refused { reason: Refusal::FlowNotFound, .. }) => {
                    return self.abandon_org_flow(flow).await;
                }
                // The outline below still tells a final flow; a payment read failing is retried later.
                Err(error) => tracing::info!(flow_id = %flow.flow_id, %error, "payment progress unavailable"),
            }
        }
        let outline = match self.esign.flow_outline(&flow.flow_id).await {
            Ok(o) => o,
            Err(UpstreamError::Refused { reason: Refusal::FlowNotFound, .. }) => {
                return self.abandon_org_flow(flow).await;
            }
            Err(e) => {
                back_off().await?;
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
                self.apply_org_result(&result, None, None, by).await
            }
            OutlineStatus::Init | OutlineStatus::Ing => {
                if self.now() >= flow.expires_at {
                    return self.abandon_org_flow(flow).await;
                }
                back_off().await?;
                Ok(Applied::Unchanged)
            }
        }
    }

    /// Stores a payment's progress on its flow as it stands now (the store never lets a copy that
    /// says "running" overwrite a flow that has ended).
    pub(super) async fn record_progress(
        &self,
        flow: &OrgFlow,
        process: PaymentProcess,
        progress: PaymentProgress,
    ) -> Result<(), DomainError> {
        let Some(mut flow) = self.store.org_flow(&flow.flow_id).await? else { return Ok(()) };
        if flow.status == OrgFlowStatus::Abandoned || (flow.payment_process == process && flow.progress == progress) {
            return Ok(());
        }
        flow.payment_process = process;
        flow.progress = progress;
        self.store.commit(ChangeSet { org_flows: vec![flow], ..Default::default() }).await?;
        Ok(())
    }

    /// A flow e签宝 no longer knows or keeps: the member may start again.
    pub(super) async fn abandon_org_flow(&self, flow: &OrgFlow) -> Result<Applied, DomainError> {
        let mut flow = flow.clone();
        flow.status = OrgFlowStatus::Abandoned;
        flow.finished_at = Some(self.now());
        self.store.commit(ChangeSet { org_flows: vec![flow], ..Default::default() }).await?;
        Ok(Applied::Unchanged)
    }
}

pub(super) fn precondition(process: &Process, what: &str) -> DomainError {
    DomainError::FailedPrecondition {
        status: process.status(),
        message: format!("{what} (the process is {})", process.status().as_str()),
    }
}
