//! The e签宝 endpoints of face flows, outlines, accounts and authorizations (SMS: `sms.rs`; the
//! company's: `org.rs`). Every request passes the gateway checks first, computed from what was
//! actually received (never from what the client claims): a body altered after signing fails the
//! Content-MD5 check, a header or path altered after signing fails the signature check.
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use secrecy::ExposeSecret;
use serde::Serialize;
use subtle::ConstantTimeEq;

use super::faults::{Endpoint, FaultKind};
use super::sms::SMS_SUB_FLOW_TYPE;
use super::state::{SimAccount, SimAuthorization, SimFlow};
use super::{Shared, codes};
use crate::domain::ports::FaceAuthMode;
use crate::domain::values::{Mobile, ResidentId, mask_mobile};
use crate::esign::api::{
    AccountData, AuthIdData, AuthorizationData, CreateAccountBody, CreateAuthorizationBody, Envelope, FaceStartBody,
    FaceStartData, FlowStatus, ID_TYPE_RESIDENT_CARD, OutlineData, SubFlow,
};
use crate::esign::codes::{
    ACCOUNT_EXISTS, AUTH_IN_PROGRESS, AUTH_SUCCEEDED, AUTH_TYPE_HANDLER, AUTH_TYPE_PLATFORM, AUTHORIZER_COMPANY,
    FLOW_NOT_FOUND, face_auth_mode,
};
use crate::esign::sign::{
    AUTH_MODE, HEADER_APP_ID, HEADER_AUTH_MODE, HEADER_CONTENT_MD5, HEADER_REQUEST_SIGNATURE, HEADER_REQUEST_TIMESTAMP,
    TIMESTAMP_WINDOW_MS, content_md5, signature, string_to_sign,
};

pub(crate) type Sim = State<Arc<Shared>>;

/// The gateway's checks, in e签宝's order; the error names the check that failed.
pub(crate) fn check_request(
    app_id: &str,
    secret: &[u8],
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    now_ms: i64,
) -> Result<(), &'static str> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if header(HEADER_APP_ID) != Some(app_id) {
        return Err("X-Tsign-Open-App-Id is missing or unknown");
    }
    if header(HEADER_AUTH_MODE) != Some(AUTH_MODE) {
        return Err("X-Tsign-Open-Auth-Mode must be Signature");
    }
    let timestamp = header(HEADER_REQUEST_TIMESTAMP)
        .and_then(|t| t.parse::<i64>().ok())
        .ok_or("X-Tsign-Open-Ca-Timestamp is missing or not milliseconds")?;
    if (i128::from(now_ms) - i128::from(timestamp)).abs() > i128::from(TIMESTAMP_WINDOW_MS) {
        return Err("X-Tsign-Open-Ca-Timestamp is more than 15 minutes away");
    }
    // No header counts as the empty string, which is right only for an empty body.
    let md5_header = header(HEADER_CONTENT_MD5).unwrap_or("");
    if md5_header != content_md5(body) {
        return Err("Content-MD5 does not match the body");
    }
    let path_and_query = uri.path_and_query().map_or_else(|| uri.path(), |pq| pq.as_str());
    let sts = string_to_sign(
        method.as_str(),
        header(header::ACCEPT.as_str()).unwrap_or(""),
        md5_header,
        header(header::CONTENT_TYPE.as_str()).unwrap_or(""),
        path_and_query,
    );
    let expected = signature(secret, &sts);
    let given = header(HEADER_REQUEST_SIGNATURE).ok_or("X-Tsign-Open-Ca-Signature is missing")?;
    if !bool::from(given.as_bytes().ct_eq(expected.as_bytes())) {
        return Err("X-Tsign-Open-Ca-Signature does not match");
    }
    Ok(())
}

pub(crate) fn envelope<T: Serialize>(status: StatusCode, env: Envelope<T>) -> Response {
    (status, Json(env)).into_response()
}

pub(crate) fn ok<T: Serialize>(data: T) -> Response {
    envelope(StatusCode::OK, Envelope::ok(data))
}

pub(crate) fn refuse(code: i64, message: impl Into<String>) -> Response {
    envelope(StatusCode::OK, Envelope::<()>::refused(code, message))
}

pub(crate) fn bad_param(what: &str) -> Response {
    refuse(codes::BAD_PARAM, format!("参数错误: {what}"))
}

impl Shared {
    /// The gateway's checks and the armed fault ([`Self::gate`]), then the body as `T`: what every
    /// endpoint with a JSON body does first. A body that is not a `T` is e签宝's parameter error.
    pub(crate) async fn accept<T: serde::de::DeserializeOwned>(
        &self,
        endpoint: Endpoint,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<T, Response> {
        self.gate(endpoint, method, uri, headers, body).await?;
        serde_json::from_slice(body).map_err(|_| bad_param("body"))
    }

    /// Counts the call, runs the gateway checks (401), then the armed fault, if any.
    pub(crate) async fn gate(
        &self,
        endpoint: Endpoint,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<(), Response> {
        self.lock().calls.bump(endpoint);
        let checked = check_request(
            &self.app_id,
            self.secret.expose_secret().as_bytes(),
            method,
            uri,
            headers,
            body,
            Self::now_ms(),
        );
        if let Err(which) = checked {
            self.lock().calls.rejected += 1;
            tracing::info!(endpoint = endpoint.as_str(), check = which, "simulator: request refused");
            return Err(envelope(StatusCode::UNAUTHORIZED, Envelope::<()>::refused(401, which)));
        }
        let fault = {
            let mut st = self.lock();
            let fault = st.faults.next_endpoint_fault(endpoint);
            st.calls.faulted += u64::from(fault.is_some());
            fault
        };
        let Some(fault) = fault else {
            return Ok(());
        };
        tracing::info!(endpoint = endpoint.as_str(), ?fault, "simulator: injecting a fault");
        match fault {
            FaultKind::Delay(delay) => {
                tokio::select! {
                    () = self.cancel.cancelled() => {}
                    () = sleep_precisely(delay) => {}
                }
                Ok(())
            }
            FaultKind::Status(status) => {
                let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                Err((status, [(header::CONTENT_TYPE, "text/html")], "<html><body>upstream error</body></html>")
                    .into_response())
            }
            FaultKind::Malformed => Err((
                StatusCode::OK,
                [(header::CONTENT_TYPE, "text/html")],
                "<html><body>502 Bad Gateway</body></html>",
            )
                .into_response()),
            FaultKind::Business { code, message } => Err(refuse(code, message)),
        }
    }
}

/// The part of an injected delay left to a thread's own sleep rather than tokio's timer.
const FINE_SLEEP: Duration = Duration::from_millis(2);

/// Waits `delay`, to within the kernel's timer slack (tens of µs). tokio's timer ends a sleep on
/// the first whole millisecond after its deadline, so a chain of injected delays would end on the
/// same millisecond ticks whatever the caller did between them: work under a millisecond would
/// vanish from a timing through the simulator and work just over it count as a whole one. The last
/// `FINE_SLEEP` is slept on a blocking thread instead, which wakes when asked.
async fn sleep_precisely(delay: Duration) {
    let deadline = std::time::Instant::now() + delay;
    if let Some(coarse) = delay.checked_sub(FINE_SLEEP) {
        tokio::time::sleep(coarse).await;
    }
    let rest = deadline.saturating_duration_since(std::time::Instant::now());
    if !rest.is_zero() {
        // A blocking pool that cannot take the sleep (runtime shutting down) ends the delay early:
        // a simulator stopping has no one left to delay.
        let _ = tokio::task::spawn_blocking(move || std::thread::sleep(rest)).await;
    }
}

pub(crate) async fn create_account(
    State(sim): Sim,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let req = match sim.accept::<CreateAccountBody>(Endpoint::Account, &method, &uri, &headers, &body).await {
        Ok(req) => req,
        Err(answer) => return answer,
    };
    if req.third_party_user_id.is_empty() || req.name.is_empty() {
        return bad_param("thirdPartyUserId and name are required");
    }
    if req.id_type != ID_TYPE_RESIDENT_CARD {
        return bad_param("idType");
    }
    // e签宝 checks the identity number's form; so does the simulator (with the domain's own rule).
    let Ok(id_number) = ResidentId::parse("idNumber", &req.id_number) else {
        return bad_param("idNumber");
    };
    if !req.mobile.is_empty() && Mobile::parse("mobile", &req.mobile).is_err() {
        return bad_param("mobile");
    }
    let mut st = sim.lock();
    if let Some(existing) = st.accounts.get(&req.third_party_user_id) {
        // e签宝's answer to a second create: a refusal that carries the existing account.
        return envelope(
            StatusCode::OK,
            Envelope {
                code: ACCOUNT_EXISTS,
                message: Some("账号已存在".to_owned()),
                data: Some(AccountData { account_id: existing.account_id.clone() }),
            },
        );
    }
    let account_id = st.new_account_id();
    st.accounts.insert(
        req.third_party_user_id.clone(),
        SimAccount {
            account_id: account_id.clone(),
            third_party_user_id: req.third_party_user_id,
            name: req.name,
            id_number: id_number.masked(),
            mobile: mask_mobile(&req.mobile),
            create_time: Shared::now_ms(),
            id_hash: super::org::id_hash(id_number.expose()),
        },
    );
    ok(AccountData { account_id })
}

pub(crate) async fn start_face(
    State(sim): Sim,
    Path(account_id): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let req = match sim.accept::<FaceStartBody>(Endpoint::Face, &method, &uri, &headers, &body).await {
        Ok(req) => req,
        Err(answer) => return answer,
    };
    if face_auth_mode(&req.faceauth_mode).is_none() {
        return bad_param("faceauthMode");
    }
    let mut st = sim.lock();
    if !st.accounts.values().any(|a| a.account_id == account_id) {
        return refuse(codes::ACCOUNT_NOT_FOUND, "账号不存在");
    }
    let flow_id = st.new_flow_id();
    let now = Shared::now_ms();
    st.flows.insert(
        flow_id.clone(),
        SimFlow {
            flow_id: flow_id.clone(),
            account_id: account_id.clone(),
            context_id: req.context_id,
            faceauth_mode: req.faceauth_mode,
            notify_url: req.notify_url,
            callback_url: req.callback_url,
            status: FlowStatus::Init,
            fail_reason: None,
            create_time: now,
            modify_time: now,
            sms: None,
        },
    );
    let auth_url = format!("{}/sim/face/{flow_id}", sim.base_url);
    let original_url = format!("{auth_url}?accountId={account_id}&from=original");
    ok(FaceStartData { flow_id, auth_url, original_url })
}

fn sub_flow_type(mode: &str) -> &'static str {
    match face_auth_mode(mode) {
        Some(FaceAuthMode::Tencent) => "FACEAUTH_TECENT_CLOUD",
        Some(FaceAuthMode::Esign) => "FACEAUTH_ESIGN",
        Some(FaceAuthMode::WeChat) => "FACEAUTH_WE_CHAT_FACE",
        _ => "FACEAUTH_ZMXY",
    }
}

pub(crate) async fn flow_outline(
    State(sim): Sim,
    Path(flow_id): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = sim.gate(Endpoint::Outline, &method, &uri, &headers, &body).await {
        return r;
    }
    let (flow, org_flow) = {
        let st = sim.lock();
        (st.flows.get(&flow_id).cloned(), st.org_flows.get(&flow_id).cloned())
    };
    if let Some(org_flow) = org_flow {
        return ok(super::org::outline(org_flow));
    }
    let Some(flow) = flow else {
        return refuse(FLOW_NOT_FOUND, "认证流程不存在");
    };
    // A sub-flow exists once the person reached the face check (or the SMS was sent).
    let kind = if flow.sms.is_some() { SMS_SUB_FLOW_TYPE } else { sub_flow_type(&flow.faceauth_mode) };
    let sub_flows = match flow.status {
        FlowStatus::Init => Vec::new(),
        status => vec![SubFlow {
            sub_flow_id: Some(format!("{}-1", flow.flow_id)),
            sub_flow_type: Some(kind.to_owned()),
            status: Some(status.as_str().to_owned()),
        }],
    };
    ok(OutlineData {
        flow_id: flow.flow_id,
        flow_status: flow.status.as_str().to_owned(),
        object_type: Some("INDIVIDUAL".to_owned()),
        context_id: Some(flow.context_id),
        fail_reason: flow.fail_reason,
        create_time: Some(flow.create_time),
        modify_time: Some(flow.modify_time),
        sub_flows,
        related_flows: Vec::new(),
    })
}

pub(crate) async fn create_authorization(
    State(sim): Sim,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let req = match sim.accept::<CreateAuthorizationBody>(Endpoint::AuthCreate, &method, &uri, &headers, &body).await {
        Ok(req) => req,
        Err(answer) => return answer,
    };
    if req.organize_id.is_empty() || req.contact.is_empty() {
        return bad_param("organizeId and contact are required");
    }
    let person_id = match (req.auth_type, req.person_id) {
        (AUTH_TYPE_PLATFORM, _) => None,
        (AUTH_TYPE_HANDLER, Some(p)) if !p.is_empty() => Some(p),
        (AUTH_TYPE_HANDLER, _) => return bad_param("personId is required when authType is 2"),
        _ => return bad_param("authType"),
    };
    let now = Shared::now_ms();
    if req.valid_date <= now {
        return bad_param("validDate must be in the future");
    }
    let mut st = sim.lock();
    let auth_id = st.new_auth_id();
    st.authorizations.insert(
        auth_id.clone(),
        SimAuthorization {
            auth_id: auth_id.clone(),
            organize_id: req.organize_id,
            contact: mask_mobile(&req.contact),
            send_notice: req.send_notice,
            auth_type: req.auth_type,
            person_id,
            status: AUTH_IN_PROGRESS,
            auth_des: None,
            valid_date: req.valid_date,
            begin_date: None,
            end_date: None,
            seal_scope: req.seal_scope,
            file_type: req.file_type,
            notify_url: req.notify_url,
            redirect_url: req.redirect_url,
            create_time: now,
            modify_time: now,
        },
    );
    ok(AuthIdData { auth_id })
}

pub(crate) async fn query_authorization(
    State(sim): Sim,
    Path(auth_id): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = sim.gate(Endpoint::AuthQuery, &method, &uri, &headers, &body).await {
        return r;
    }
    let Some(auth) = sim.lock().authorizations.get(&auth_id).cloned() else {
        return refuse(codes::AUTH_NOT_FOUND, "授权记录不存在");
    };
    // A fresh 60-minute link on every answer, and only for a signed letter (seed 002).
    let auth_download_url = (auth.status == AUTH_SUCCEEDED).then(|| sim.download_url(&auth.auth_id));
    ok(AuthorizationData {
        auth_id: auth.auth_id,
        authorizer_type: Some(AUTHORIZER_COMPANY),
        organize_id: Some(auth.organize_id),
        legal_rep_id: None,
        auth_type: Some(auth.auth_type),
        person_id: auth.person_id,
        auth_download_url,
        status: auth.status,
        auth_des: auth.auth_des,
        begin_date: auth.begin_date,
        end_date: auth.end_date,
    })
}
