//! The control API (JSON under `/sim/control`): the same operations as [`super::SimHandle`]'s
//! methods, for tests and people driving a simulator in another process.
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::faults::{CallbackFault, CallbackFaultRule, Chaos, Endpoint, EndpointFaultRule, FaultKind, FaultTrigger};
use super::state::{CallCounts, SimAccount, SimAuthorization, SimFlow, SimOrg, SimOrgFlow};
use super::{Shared, SimError};
use crate::esign::codes::{AUTH_CANCELLED, AUTH_FAILED, AUTH_SUCCEEDED};

type Sim = State<Arc<Shared>>;

pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/sim/control/state", get(state))
        .route("/sim/control/accounts", get(accounts))
        .route("/sim/control/flows", get(flows))
        .route("/sim/control/flows/{flowId}", get(flow))
        .route("/sim/control/flows/{flowId}/pass", post(flow_pass))
        .route("/sim/control/flows/{flowId}/fail", post(flow_fail))
        .route("/sim/control/orgs", get(orgs))
        .route("/sim/control/org-flows", get(org_flows))
        .route("/sim/control/org-flows/{flowId}/pay-company", post(pay_company))
        .route("/sim/control/org-flows/{flowId}/pay-other", post(pay_other))
        .route("/sim/control/registry/mismatches", post(set_mismatch))
        .route("/sim/control/authorizations", get(authorizations))
        .route("/sim/control/authorizations/{authId}", get(authorization))
        .route("/sim/control/authorizations/{authId}/sign", post(auth_sign))
        .route("/sim/control/authorizations/{authId}/refuse", post(auth_refuse))
        .route("/sim/control/authorizations/{authId}/cancel", post(auth_cancel))
        .route("/sim/control/calls", get(calls).delete(reset_calls))
        .route("/sim/control/faults", get(faults).post(add_fault).delete(clear_faults))
        .route("/sim/control/callback-faults", post(add_callback_fault))
        .route("/sim/control/chaos", post(set_chaos).delete(clear_chaos))
        .route("/sim/control/callbacks", get(callbacks))
        .route("/sim/control/callbacks/release", post(release_callbacks))
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

fn sim_error(e: SimError) -> Response {
    let status = match e {
        SimError::NotFound { .. } => StatusCode::NOT_FOUND,
        SimError::AlreadyFinal { .. } => StatusCode::CONFLICT,
        SimError::Bind { .. } | SimError::Client(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    error(status, e.to_string())
}

fn answer<T: Serialize>(result: Result<T, SimError>) -> Response {
    match result {
        Ok(v) => Json(v).into_response(),
        Err(e) => sim_error(e),
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Snapshot {
    accounts: Vec<SimAccount>,
    flows: Vec<SimFlow>,
    authorizations: Vec<SimAuthorization>,
    calls: CallCounts,
}

async fn state(State(sim): Sim) -> Json<Snapshot> {
    let st = sim.lock();
    Json(Snapshot {
        accounts: st.accounts.values().cloned().collect(),
        flows: st.flows.values().cloned().collect(),
        authorizations: st.authorizations.values().cloned().collect(),
        calls: st.calls,
    })
}

async fn accounts(State(sim): Sim) -> Json<Vec<SimAccount>> {
    Json(sim.lock().accounts.values().cloned().collect())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FlowFilter {
    context_id: Option<String>,
    account_id: Option<String>,
}

async fn flows(State(sim): Sim, Query(filter): Query<FlowFilter>) -> Json<Vec<SimFlow>> {
    let st = sim.lock();
    Json(
        st.flows
            .values()
            .filter(|f| filter.context_id.as_ref().is_none_or(|c| &f.context_id == c))
            .filter(|f| filter.account_id.as_ref().is_none_or(|a| &f.account_id == a))
            .cloned()
            .collect(),
    )
}

async fn flow(State(sim): Sim, Path(flow_id): Path<String>) -> Response {
    answer(sim.lock().flows.get(&flow_id).cloned().ok_or(SimError::NotFound { what: "face flow", id: flow_id }))
}

/// An optional JSON body: absent or empty means `T::default()`.
fn optional_json<T: for<'de> Deserialize<'de> + Default>(body: &[u8]) -> Result<T, String> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|e| format!("invalid JSON body: {e}"))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Reason {
    fail_reason: Option<String>,
    auth_des: Option<String>,
}

async fn flow_pass(State(sim): Sim, Path(flow_id): Path<String>) -> Response {
    answer(sim.finish_face(&flow_id, true, None))
}

async fn flow_fail(State(sim): Sim, Path(flow_id): Path<String>, body: Bytes) -> Response {
    match optional_json::<Reason>(&body) {
        Ok(r) => answer(sim.finish_face(&flow_id, false, r.fail_reason)),
        Err(e) => error(StatusCode::BAD_REQUEST, e),
    }
}

async fn orgs(State(sim): Sim) -> Json<Vec<SimOrg>> {
    Json(sim.lock().orgs.values().cloned().collect())
}

async fn org_flows(State(sim): Sim) -> Json<Vec<SimOrgFlow>> {
    Json(sim.lock().org_flows.values().cloned().collect())
}

async fn pay_company(State(sim): Sim, Path(flow_id): Path<String>) -> Response {
    answer(sim.pay(&flow_id, true))
}

async fn pay_other(State(sim): Sim, Path(flow_id): Path<String>) -> Response {
    answer(sim.pay(&flow_id, false))
}

/// `{"idNumber": "...", "mismatch": true}`: the registry's answer for that company from now on.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MismatchRequest {
    id_number: String,
    #[serde(default = "yes")]
    mismatch: bool,
}

fn yes() -> bool {
    true
}

async fn set_mismatch(State(sim): Sim, Json(req): Json<MismatchRequest>) -> StatusCode {
    sim.set_company_mismatch(&req.id_number, req.mismatch);
    StatusCode::NO_CONTENT
}

async fn authorizations(State(sim): Sim) -> Json<Vec<SimAuthorization>> {
    Json(sim.lock().authorizations.values().cloned().collect())
}

async fn authorization(State(sim): Sim, Path(auth_id): Path<String>) -> Response {
    answer(
        sim.lock()
            .authorizations
            .get(&auth_id)
            .cloned()
            .ok_or(SimError::NotFound { what: "authorization", id: auth_id }),
    )
}

async fn auth_sign(State(sim): Sim, Path(auth_id): Path<String>) -> Response {
    answer(sim.finish_authorization(&auth_id, AUTH_SUCCEEDED, None))
}

async fn auth_refuse(State(sim): Sim, Path(auth_id): Path<String>, body: Bytes) -> Response {
    match optional_json::<Reason>(&body) {
        Ok(r) => answer(sim.finish_authorization(&auth_id, AUTH_FAILED, r.auth_des)),
        Err(e) => error(StatusCode::BAD_REQUEST, e),
    }
}

async fn auth_cancel(State(sim): Sim, Path(auth_id): Path<String>) -> Response {
    answer(sim.finish_authorization(&auth_id, AUTH_CANCELLED, None))
}

async fn calls(State(sim): Sim) -> Json<CallCounts> {
    Json(sim.lock().calls)
}

async fn reset_calls(State(sim): Sim) -> StatusCode {
    sim.lock().calls = CallCounts::default();
    StatusCode::NO_CONTENT
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Faults {
    endpoints: Vec<EndpointFaultRule>,
    callbacks: Vec<CallbackFaultRule>,
    chaos: Option<Chaos>,
}

async fn faults(State(sim): Sim) -> Json<Faults> {
    let st = sim.lock();
    Json(Faults {
        endpoints: st.faults.endpoint_rules().to_vec(),
        callbacks: st.faults.callback_rules().to_vec(),
        chaos: st.faults.chaos(),
    })
}

/// `times` (default 1) or `probability`, not both.
fn trigger(times: Option<u32>, probability: Option<f64>) -> Result<FaultTrigger, &'static str> {
    match (times, probability) {
        (Some(_), Some(_)) => Err("give times or probability, not both"),
        (Some(0), None) => Err("times must be at least 1"),
        (Some(n), None) => Ok(FaultTrigger::Times(n)),
        (None, Some(p)) if (0.0..=1.0).contains(&p) => Ok(FaultTrigger::Probability(p)),
        (None, Some(_)) => Err("probability must be within 0..=1"),
        (None, None) => Ok(FaultTrigger::Times(1)),
    }
}

#[derive(Deserialize)]
struct FaultRequest {
    endpoint: Endpoint,
    fault: FaultKind,
    times: Option<u32>,
    probability: Option<f64>,
}

/// `{"endpoint":"outline","fault":{"kind":"status","status":503},"times":2}`
async fn add_fault(State(sim): Sim, Json(req): Json<FaultRequest>) -> Response {
    let trigger = match trigger(req.times, req.probability) {
        Ok(t) => t,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    if let FaultKind::Status(s) = req.fault
        && StatusCode::from_u16(s).is_err()
    {
        return error(StatusCode::BAD_REQUEST, "status must be an HTTP status code");
    }
    sim.lock().faults.add_endpoint_rule(EndpointFaultRule { endpoint: req.endpoint, fault: req.fault, trigger });
    StatusCode::NO_CONTENT.into_response()
}

async fn clear_faults(State(sim): Sim) -> StatusCode {
    sim.lock().faults.clear();
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct CallbackFaultRequest {
    fault: CallbackFault,
    times: Option<u32>,
    probability: Option<f64>,
}

/// `{"fault":"drop","times":1}`, `{"fault":"reorder","probability":0.3}`
async fn add_callback_fault(State(sim): Sim, Json(req): Json<CallbackFaultRequest>) -> Response {
    match trigger(req.times, req.probability) {
        Ok(trigger) => {
            sim.lock().faults.add_callback_rule(CallbackFaultRule { fault: req.fault, trigger });
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => error(StatusCode::BAD_REQUEST, e),
    }
}

/// `{"probability":0.2,"seed":42,"maxDelayMs":50}`
async fn set_chaos(State(sim): Sim, Json(chaos): Json<Chaos>) -> Response {
    if !(0.0..=1.0).contains(&chaos.probability) {
        return error(StatusCode::BAD_REQUEST, "probability must be within 0..=1");
    }
    sim.lock().faults.set_chaos(Some(chaos));
    StatusCode::NO_CONTENT.into_response()
}

async fn clear_chaos(State(sim): Sim) -> StatusCode {
    sim.lock().faults.set_chaos(None);
    StatusCode::NO_CONTENT
}

async fn callbacks(State(sim): Sim) -> Json<Vec<super::CallbackRecord>> {
    Json(sim.lock().callbacks.clone())
}

async fn release_callbacks(State(sim): Sim) -> StatusCode {
    sim.release_held(&mut sim.lock());
    StatusCode::NO_CONTENT
}
