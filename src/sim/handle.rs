//! [`SimHandle`], a running simulator as its owner holds it: its address, what a person does on
//! its pages, its state, its faults and callbacks, and its shutdown.
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::faults::{CallbackFault, CallbackFaultRule, Chaos, Endpoint, EndpointFaultRule, FaultKind, FaultTrigger};
use super::state::{CallCounts, CallbackRecord, SimAccount, SimAuthorization, SimFlow, SimOrg, SimOrgFlow};
use super::{Shared, SimError};
use crate::esign::codes::{AUTH_CANCELLED, AUTH_FAILED, AUTH_SUCCEEDED};

/// A running simulator: its address, its control methods, and its shutdown.
pub struct SimHandle {
    pub(super) shared: Arc<Shared>,
    pub(super) addr: SocketAddr,
    pub(super) base_url: String,
    pub(super) cancel: CancellationToken,
    pub(super) tasks: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for SimHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimHandle").field("addr", &self.addr).field("base_url", &self.base_url).finish_non_exhaustive()
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

impl SimHandle {
    /// What the client's `base_url` should be.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn app_id(&self) -> &str {
        &self.shared.app_id
    }

    /// Cancelling it stops the server and the callback sender.
    pub fn cancel_token(&self) -> CancellationToken {
        self.cancel.clone()
    }

    /// Stops serving (in-flight requests finish) and waits for the tasks, at most 5 seconds.
    pub async fn shutdown(mut self) {
        self.cancel.cancel();
        let tasks = std::mem::take(&mut self.tasks);
        let _ = tokio::time::timeout(Duration::from_secs(5), futures::future::join_all(tasks)).await;
    }

    // ------------------------------------------------------------ the person's actions

    /// What opening the face page does: INIT → ING and a `FACE_AUTH_PAGE_OPENED` notification.
    pub fn open_face_page(&self, flow_id: &str) -> Result<SimFlow, SimError> {
        self.shared.open_face_page(flow_id)
    }

    /// The person passes the face check: SUCCESS and a signed `FACE_AUTH_RESULT` callback.
    pub fn pass_face(&self, flow_id: &str) -> Result<SimFlow, SimError> {
        self.shared.finish_face(flow_id, true, None)
    }

    /// The person fails the face check: FAIL with `reason` (or a default) and a callback.
    pub fn fail_face(&self, flow_id: &str, reason: Option<&str>) -> Result<SimFlow, SimError> {
        self.shared.finish_face(flow_id, false, reason.map(str::to_owned))
    }

    /// The letter is signed: status 2, a download URL, begin/end dates, and a callback.
    pub fn sign_authorization(&self, auth_id: &str) -> Result<SimAuthorization, SimError> {
        self.shared.finish_authorization(auth_id, AUTH_SUCCEEDED, None)
    }

    /// The letter is refused: status 3 and a callback.
    pub fn refuse_authorization(&self, auth_id: &str, reason: Option<&str>) -> Result<SimAuthorization, SimError> {
        self.shared.finish_authorization(auth_id, AUTH_FAILED, reason.map(str::to_owned))
    }

    /// The authorization is cancelled (from 1 or 2): status 4 and a callback.
    pub fn cancel_authorization(&self, auth_id: &str) -> Result<SimAuthorization, SimError> {
        self.shared.finish_authorization(auth_id, AUTH_CANCELLED, None)
    }

    /// The company pays 0.01 from its own account: ORGANFINISHED, the flow SUCCESS, and an
    /// `identity_org_end` callback.
    pub fn pay_from_company(&self, flow_id: &str) -> Result<SimOrgFlow, SimError> {
        self.shared.pay(flow_id, true)
    }

    /// Someone pays from another account: PAY_FAILED; the flow keeps running.
    pub fn pay_from_other_account(&self, flow_id: &str) -> Result<SimOrgFlow, SimError> {
        self.shared.pay(flow_id, false)
    }

    /// The company registry: `mismatch` makes the 4 factors of the company with this document
    /// number fail (30504001) from now on; `false` makes them match again.
    pub fn set_company_mismatch(&self, id_number: &str, mismatch: bool) {
        self.shared.set_company_mismatch(id_number, mismatch);
    }

    /// Moves a company flow's creation back by `by`, so that tests see it outlive e签宝's 30 days.
    pub fn age_org_flow(&self, flow_id: &str, by: Duration) -> Result<SimOrgFlow, SimError> {
        let mut st = self.shared.lock();
        let flow = st
            .org_flows
            .get_mut(flow_id)
            .ok_or_else(|| SimError::NotFound { what: "company flow", id: flow_id.into() })?;
        flow.create_time -= i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        Ok(flow.clone())
    }

    /// What the OCR reads on `picture` (for a card: its portrait side) from now on.
    pub fn set_ocr(&self, picture: &[u8], reading: crate::sim::ocr::SimOcr) {
        self.shared.set_ocr(crate::sim::ocr::picture_key(picture), reading);
    }

    // ------------------------------------------------------------ state

    pub fn accounts(&self) -> Vec<SimAccount> {
        self.shared.lock().accounts.values().cloned().collect()
    }

    pub fn flows(&self) -> Vec<SimFlow> {
        self.shared.lock().flows.values().cloned().collect()
    }

    pub fn flow(&self, flow_id: &str) -> Option<SimFlow> {
        self.shared.lock().flows.get(flow_id).cloned()
    }

    /// The SMS code a telecom 3-factor flow sent, as the handler reads it on the phone.
    pub fn sms_code(&self, flow_id: &str) -> Option<String> {
        self.shared.lock().flows.get(flow_id).and_then(|f| f.sms.as_ref()).map(|s| s.code.clone())
    }

    pub fn flows_for_context(&self, context_id: &str) -> Vec<SimFlow> {
        self.shared.lock().flows.values().filter(|f| f.context_id == context_id).cloned().collect()
    }

    pub fn flows_for_account(&self, account_id: &str) -> Vec<SimFlow> {
        self.shared.lock().flows.values().filter(|f| f.account_id == account_id).cloned().collect()
    }

    pub fn orgs(&self) -> Vec<SimOrg> {
        self.shared.lock().orgs.values().cloned().collect()
    }

    /// The seals of the company `org_id`, oldest first.
    pub fn seals(&self, org_id: &str) -> Vec<super::seal::SimSeal> {
        self.shared.lock().seals.get(org_id).cloned().unwrap_or_default()
    }

    pub fn org_flows(&self) -> Vec<SimOrgFlow> {
        self.shared.lock().org_flows.values().cloned().collect()
    }

    pub fn org_flow(&self, flow_id: &str) -> Option<SimOrgFlow> {
        self.shared.lock().org_flows.get(flow_id).cloned()
    }

    pub fn authorizations(&self) -> Vec<SimAuthorization> {
        self.shared.lock().authorizations.values().cloned().collect()
    }

    pub fn authorization(&self, auth_id: &str) -> Option<SimAuthorization> {
        self.shared.lock().authorizations.get(auth_id).cloned()
    }

    /// Requests received per endpoint since start (or the last `reset_calls`).
    pub fn calls(&self) -> CallCounts {
        self.shared.lock().calls
    }

    pub fn reset_calls(&self) {
        self.shared.lock().calls = CallCounts::default();
    }

    // ------------------------------------------------------------ faults

    /// Arms a fault on one endpoint. Rules apply in arming order, after the signature checks.
    pub fn inject_fault(&self, endpoint: Endpoint, fault: FaultKind, trigger: FaultTrigger) {
        self.shared.lock().faults.add_endpoint_rule(EndpointFaultRule { endpoint, fault, trigger });
    }

    /// Arms a fault on the callbacks sent from now on.
    pub fn inject_callback_fault(&self, fault: CallbackFault, trigger: FaultTrigger) {
        self.shared.lock().faults.add_callback_rule(CallbackFaultRule { fault, trigger });
    }

    /// Random faults across all kinds (`None` turns chaos off); reseeds the simulator's RNG.
    pub fn set_chaos(&self, chaos: Option<Chaos>) {
        self.shared.lock().faults.set_chaos(chaos);
    }

    /// Disarms every fault and chaos. Held callbacks stay held (see `release_held_callbacks`).
    pub fn clear_faults(&self) {
        self.shared.lock().faults.clear();
    }

    pub fn endpoint_faults(&self) -> Vec<EndpointFaultRule> {
        self.shared.lock().faults.endpoint_rules().to_vec()
    }

    // ------------------------------------------------------------ callbacks

    /// Every callback so far, oldest first (bodies included, signatures not).
    pub fn callbacks(&self) -> Vec<CallbackRecord> {
        self.shared.lock().callbacks.clone()
    }

    /// Sends the callbacks a `reorder` fault is holding back.
    pub fn release_held_callbacks(&self) {
        self.shared.release_held(&mut self.shared.lock());
    }

    /// How many times a failed delivery is retried, and the first gap (doubling).
    pub fn set_callback_retries(&self, retries: u32, first_gap: Duration) {
        self.shared.callback_retries.store(retries, Ordering::Relaxed);
        *self.shared.callback_retry_delay.lock().unwrap_or_else(|p| p.into_inner()) = first_gap;
    }
}
