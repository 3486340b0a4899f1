//! Node PUB_PAYMENT_AUTH: the company's reverse payment (esign.md §7): the account it pays 0.01
//! into (StartReversePayment, asked of e签宝 once per flow) and the payment's progress
//! (GetReversePayment). The result the payment brings is applied by `org_auth`.
use std::sync::Arc;

use tokio::time::Instant;

use super::Service;
use super::error::DomainError;
use super::model::{OrgFlow, OrgFlowStatus, PaymentProcess, Process, ProcessStatus, ReceivingAccount, Source};
use super::org_auth::precondition;
use super::ports::{ChangeSet, Refusal, UpstreamError};
use super::values::MemberNo;

/// A member's reverse payment as stored, with the process beside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentView {
    pub flow: OrgFlow,
    pub process: Arc<Process>,
}

impl Service {
    /// The member's company flow and process, for the payment calls; FAILED_PRECONDITION without one.
    async fn payment_view(&self, member: &MemberNo) -> Result<PaymentView, DomainError> {
        let process = Arc::new(self.process(member).await?);
        self.payment_view_of(member, process).await
    }

    /// `payment_view` beside `process`, the member's process as already read.
    async fn payment_view_of(&self, member: &MemberNo, process: Arc<Process>) -> Result<PaymentView, DomainError> {
        match self.store.latest_org_flow(member).await? {
            // The process's own company (a cancelled process forgot it, and its old flows with it).
            Some(flow) if flow.needs_payment && process.org_account_id.as_ref() == Some(&flow.org_id) => {
                Ok(PaymentView { flow, process })
            }
            _ => Err(precondition(&process, "no company verification with a payment; call StartOrgAuth first")),
        }
    }

    /// StartReversePayment: the account the company pays into, asked of e签宝 once per flow.
    ///
    /// A repeated call answers the recorded account from the process as GetProcessDetail reads it
    /// (usually in memory) and the member's newest company flow, without the lease. A first call
    /// takes the member's lease, looks again beside the process the lease's statement read, asks
    /// e签宝, and records the account in a commit that frees the lease: the company flow's upsert
    /// beside that process's conditional update (one statement on PostgreSQL, one script on SQLite).
    pub async fn start_reverse_payment(
        &self,
        member: &MemberNo,
        deadline: Option<Instant>,
    ) -> Result<(ReceivingAccount, PaymentView), DomainError> {
        let view = self.payment_view_of(member, self.process_detail(member).await?).await?;
        if let Some(account) = view.flow.receiving.clone() {
            return Ok((account, view));
        }
        self.with_member_lease(member, deadline, |process, lease| async move {
            // Whoever held the lease before us may have asked already.
            let view = self.payment_view_of(member, Arc::new(process)).await?;
            if let Some(account) = view.flow.receiving.clone() {
                return Ok((account, view));
            }
            if view.process.status() != ProcessStatus::OrgAuthing || view.flow.status.is_final() {
                return Err(precondition(&view.process, "the company's payment flow is not running"));
            }
            let account = match self.esign.start_reverse_payment(&view.flow.flow_id).await {
                Ok(account) => account,
                Err(error) => {
                    if let UpstreamError::Refused { reason: Refusal::FlowExpired | Refusal::FlowNotFound, .. } = &error
                    {
                        self.abandon_org_flow(&view.flow).await?;
                    }
                    return Err(error.into());
                }
            };
            let mut flow = view.flow.clone();
            flow.receiving = Some(account.clone());
            flow.payment_process = PaymentProcess::Created;
            // The process is not moved, only rewritten at its version, so that the flow's row and the
            // lease's release go in one call; a callback that moved it meanwhile makes the commit
            // conflict, and it is made again from the stored process.
            let mut first = Some(Process::clone(&view.process));
            let process = self
                .retry_on_conflict(|| {
                    let first = first.take();
                    let (flow, lease) = (&flow, &lease);
                    async move {
                        let process = self.kept_or_stored(first, member).await?;
                        let changes = ChangeSet {
                            process: Some(process.clone()),
                            org_flows: vec![flow.clone()],
                            ..Default::default()
                        };
                        self.commit_freeing(changes, lease).await?;
                        Ok(process)
                    }
                })
                .await?;
            tracing::info!(member = %member, flow_id = %flow.flow_id, "reverse payment account created");
            Ok((account, PaymentView { flow, process: Arc::new(process) }))
        })
        .await
    }

    /// GetReversePayment: the stored payment, or (with `refresh`) e签宝's progress applied first.
    pub async fn reverse_payment(
        &self,
        member: &MemberNo,
        refresh: bool,
        by: &Source,
    ) -> Result<PaymentView, DomainError> {
        // The process as GetProcessDetail reads it (the read cache, caught up with every write
        // committed before): the apps that poll the payment poll the detail too, so it is usually in
        // memory, and a poll makes one round trip (the company flow) instead of two.
        let view = self.payment_view_of(member, self.process_detail(member).await?).await?;
        if !refresh || view.flow.receiving.is_none() && view.flow.status.is_final() {
            return Ok(view);
        }
        if !view.flow.status.is_final() {
            self.check_org_flow(&view.flow, false, by).await?;
        } else if view.flow.status == OrgFlowStatus::Succeeded {
            // Ended by a callback, which carries no payment details: read them once.
            let (process, progress) = self.esign.reverse_payment_progress(&view.flow.flow_id).await?;
            self.record_progress(&view.flow, process, progress).await?;
        }
        self.payment_view(member).await
    }
}
