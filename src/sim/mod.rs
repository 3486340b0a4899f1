//! The e签宝 simulator, part of the product: it serves the same endpoints the client calls and
//! checks every request the way e签宝's gateway does (app id, auth mode, timestamp window,
//! Content-MD5 of the received bytes, signature over the reconstructed string to sign), keeps
//! accounts, face and SMS flows, companies (with a registry), company flows and their reverse
//! payments, and authorizations in memory, serves the face, payment and authorization pages a person
//! (or a test) completes, lists the SMS codes it sent, sends signed callbacks, and injects faults on
//! demand.
//!
//! It powers `dev` mode and the tests. Its control API (`/sim/control/...`) is unauthenticated:
//! bind it to a loopback or private address only.
mod control;
pub mod faults;
mod handle;
mod notify;
pub mod ocr;
mod org;
mod pages;
pub mod seal;
mod sms;
pub mod state;
mod upstream;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::AtomicU32;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use chrono::Utc;
use secrecy::SecretString;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

pub use faults::{CallbackFault, CallbackFaultRule, Chaos, Endpoint, EndpointFaultRule, FaultKind, FaultTrigger};
pub use handle::SimHandle;
pub use state::{
    CallCounts, CallbackRecord, DeliveryState, SimAccount, SimAuthorization, SimFlow, SimOrg, SimOrgFlow, SimPayment,
    SimSms,
};

use crate::esign::api::{FlowStatus, paths};
use crate::esign::codes::{AUTH_CANCELLED, AUTH_FAILED, AUTH_IN_PROGRESS, AUTH_SUCCEEDED};
use notify::Delivery;
use state::SimState;

/// How the simulator presents itself.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// The App ID it accepts (and puts on its callbacks).
    pub app_id: String,
    /// The App Secret it verifies requests and signs callbacks with.
    pub app_secret: SecretString,
    /// Where to listen; `127.0.0.1:0` in tests.
    pub bind: SocketAddr,
    /// Base of the links it hands out (face page, authorization page, files); default: the bound address.
    pub public_base_url: Option<String>,
}

/// What went wrong starting the simulator or acting on its state.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("could not bind the simulator to {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("could not build the simulator's callback client: {0}")]
    Client(String),
    #[error("no {what} with id {id}")]
    NotFound { what: &'static str, id: String },
    #[error("{what} {id} is already final ({status})")]
    AlreadyFinal { what: &'static str, id: String, status: String },
}

/// The simulator's own stand-ins for refusals whose real codes this service never matches on. The
/// codes it does match on are e签宝's, in [`crate::esign::codes`].
pub mod codes {
    /// A parameter is missing or invalid.
    pub const BAD_PARAM: i64 = 1435002;
    /// The face flow's account does not exist.
    pub const ACCOUNT_NOT_FOUND: i64 = 1435203;
    /// No authorization with this id.
    pub const AUTH_NOT_FOUND: i64 = 1436201;
}

/// e签宝's callback timeout: no answer within 5 seconds counts as a failed delivery.
const CALLBACK_TIMEOUT: Duration = Duration::from_secs(5);
/// Retries after a failed callback delivery (e签宝's identity products retry a few times over seconds).
const DEFAULT_CALLBACK_RETRIES: u32 = 3;

/// State shared by the HTTP handlers, the callback sender and the handle.
pub(crate) struct Shared {
    app_id: String,
    secret: SecretString,
    base_url: String,
    state: Mutex<SimState>,
    outbox: mpsc::UnboundedSender<Delivery>,
    http: reqwest::Client,
    cancel: CancellationToken,
    callback_retries: AtomicU32,
    callback_retry_delay: Mutex<Duration>,
}

impl Shared {
    /// The state lock. A panic elsewhere while holding it leaves plain data behind, still usable.
    pub(crate) fn lock(&self) -> MutexGuard<'_, SimState> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn now_ms() -> i64 {
        Utc::now().timestamp_millis()
    }

    fn not_found(what: &'static str, id: &str) -> SimError {
        SimError::NotFound { what, id: id.to_owned() }
    }

    /// The person opened the face page: INIT → ING, and e签宝 sends a notification with no result.
    pub(crate) fn open_face_page(&self, flow_id: &str) -> Result<SimFlow, SimError> {
        let flow = {
            let mut st = self.lock();
            let flow = st.flows.get_mut(flow_id).ok_or_else(|| Self::not_found("face flow", flow_id))?;
            if flow.status.is_final() {
                return Ok(flow.clone());
            }
            if flow.status == FlowStatus::Init {
                flow.status = FlowStatus::Ing;
                flow.modify_time = Self::now_ms();
            }
            flow.clone()
        };
        self.notify_face_page_opened(&flow);
        Ok(flow)
    }

    /// The face check passed or failed: the flow becomes final and a `FACE_AUTH_RESULT` is sent.
    pub(crate) fn finish_face(
        &self,
        flow_id: &str,
        success: bool,
        reason: Option<String>,
    ) -> Result<SimFlow, SimError> {
        let flow = {
            let mut st = self.lock();
            let flow = st.flows.get_mut(flow_id).ok_or_else(|| Self::not_found("face flow", flow_id))?;
            if flow.status.is_final() {
                return Err(SimError::AlreadyFinal {
                    what: "face flow",
                    id: flow_id.to_owned(),
                    status: flow.status.as_str().to_owned(),
                });
            }
            flow.status = if success { FlowStatus::Success } else { FlowStatus::Fail };
            flow.fail_reason =
                if success { None } else { Some(reason.unwrap_or_else(|| "人脸比对不通过".to_owned())) };
            flow.modify_time = Self::now_ms();
            flow.clone()
        };
        tracing::info!(flow_id, status = flow.status.as_str(), "simulator: face flow finished");
        self.notify_face_result(&flow);
        Ok(flow)
    }

    /// The letter was signed (2), refused (3) or the authorization cancelled (4); an
    /// `AUTHORIZATION_RESULT` is sent. Sign and refuse need status 1; cancel also applies to 2.
    pub(crate) fn finish_authorization(
        &self,
        auth_id: &str,
        status: i64,
        auth_des: Option<String>,
    ) -> Result<SimAuthorization, SimError> {
        let auth = {
            let mut st = self.lock();
            let auth = st.authorizations.get_mut(auth_id).ok_or_else(|| Self::not_found("authorization", auth_id))?;
            let allowed =
                auth.status == AUTH_IN_PROGRESS || (status == AUTH_CANCELLED && auth.status == AUTH_SUCCEEDED);
            if !allowed {
                return Err(SimError::AlreadyFinal {
                    what: "authorization",
                    id: auth_id.to_owned(),
                    status: auth.status.to_string(),
                });
            }
            let now = Self::now_ms();
            auth.status = status;
            auth.modify_time = now;
            auth.auth_des = auth_des.or_else(|| {
                Some(
                    match status {
                        AUTH_SUCCEEDED => "授权成功",
                        AUTH_FAILED => "用户拒绝签署授权书",
                        _ => "授权已取消",
                    }
                    .to_owned(),
                )
            });
            if status == AUTH_SUCCEEDED {
                auth.begin_date = Some(now);
                auth.end_date = Some(auth.valid_date);
            }
            auth.clone()
        };
        tracing::info!(auth_id, status = auth.status, "simulator: authorization finished");
        self.notify_authorization_result(&auth);
        Ok(auth)
    }

    /// The letter's download link, valid 60 minutes from now (as e签宝's).
    pub(crate) fn download_url(&self, auth_id: &str) -> String {
        let expires = Self::now_ms() + 60 * 60 * 1000;
        format!("{}/sim/files/{auth_id}.pdf?expires={expires}", self.base_url)
    }
}

/// Starts simulators.
pub struct Simulator;

impl Simulator {
    /// Binds, starts serving and starts the callback sender. Everything stops on `shutdown` (or
    /// when the handle is dropped).
    pub async fn start(config: SimConfig) -> Result<SimHandle, SimError> {
        let listener = tokio::net::TcpListener::bind(config.bind)
            .await
            .map_err(|source| SimError::Bind { addr: config.bind, source })?;
        let addr = listener.local_addr().map_err(|source| SimError::Bind { addr: config.bind, source })?;
        let base_url = match config.public_base_url.filter(|u| !u.trim().is_empty()) {
            Some(url) => url.trim().trim_end_matches('/').to_owned(),
            None => {
                // An unspecified bind address is no place to send a browser: use loopback.
                let ip = if addr.ip().is_unspecified() { IpAddr::V4(Ipv4Addr::LOCALHOST) } else { addr.ip() };
                format!("http://{}", SocketAddr::new(ip, addr.port()))
            }
        };
        crate::esign::ensure_crypto_provider();
        let http = reqwest::Client::builder()
            .timeout(CALLBACK_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| SimError::Client(e.to_string()))?;
        let (outbox, inbox) = mpsc::unbounded_channel();
        let cancel = CancellationToken::new();
        let shared = Arc::new(Shared {
            app_id: config.app_id,
            secret: config.app_secret,
            base_url: base_url.clone(),
            state: Mutex::new(SimState::default()),
            outbox,
            http,
            cancel: cancel.clone(),
            callback_retries: AtomicU32::new(DEFAULT_CALLBACK_RETRIES),
            callback_retry_delay: Mutex::new(Duration::from_millis(500)),
        });

        let sender = tokio::spawn(notify::run_sender(shared.clone(), inbox));
        let app = router(shared.clone());
        let stop = cancel.clone();
        let server = tokio::spawn(async move {
            let result = axum::serve(listener, app).with_graceful_shutdown(async move { stop.cancelled().await }).await;
            if let Err(error) = result {
                tracing::error!(%error, "simulator server stopped");
            }
        });
        tracing::info!(%addr, base_url, "e签宝 simulator listening");
        Ok(SimHandle { shared, addr, base_url, cancel, tasks: vec![server, sender] })
    }
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route(paths::CREATE_ACCOUNT, post(upstream::create_account))
        .route(paths::FACE_START, post(upstream::start_face))
        .route(paths::FLOW_OUTLINE, get(upstream::flow_outline))
        .route(paths::CREATE_AUTHORIZATION, post(upstream::create_authorization))
        .route(paths::QUERY_AUTHORIZATION, get(upstream::query_authorization))
        .route(paths::CREATE_ORG, post(org::create_org))
        .route(paths::ORG_BY_THIRD_ID, get(org::org_by_third_id))
        .route(paths::ORG_FOUR_FACTORS, post(org::four_factors))
        .route(paths::REVERSE_PAYMENT, post(org::reverse_payment))
        .route(paths::REVERSE_PAYMENT_PROCESS, get(org::payment_process))
        .route(paths::SMS_START, post(sms::start_sms))
        .route(paths::SMS_VERIFY, axum::routing::put(sms::verify_sms))
        .route(paths::SEAL_TEMPLATE, post(seal::create_template))
        .route(paths::SEALS, get(seal::list))
        .route(paths::SEAL_DEFAULT, axum::routing::put(seal::set_default))
        .route(paths::SEAL, axum::routing::delete(seal::delete))
        .route(paths::SEAL_IMAGE, post(seal::create_image))
        .route(paths::PERSON_SEALS, get(seal::list_person))
        .route("/sim/sms", get(sms::outbox))
        .route(paths::OCR_ID_CARD, post(ocr::id_card).layer(DefaultBodyLimit::max(ocr::BODY_LIMIT)))
        .route(paths::OCR_LICENSE, post(ocr::licence).layer(DefaultBodyLimit::max(ocr::BODY_LIMIT)))
        .route("/sim/control/ocr/{sha256}", post(ocr::control_set))
        .merge(pages::routes())
        .merge(control::routes())
        .with_state(shared)
}

#[cfg(test)]
pub(crate) mod testing;
#[cfg(test)]
mod tests;
