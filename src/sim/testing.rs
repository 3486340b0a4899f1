//! Fixtures for the crate's unit tests that talk to the simulator (its own tests and the e签宝
//! client's): a simulator on port 0, a client configured for it, valid upstream requests, and a
//! callback receiver that records what it is sent. Test-only (`cfg(test)`): the e2e binary links
//! the crate as `cargo build` builds it, and has its own helpers in `tests/e2e/helpers/`.
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::IntoResponse;
use chrono::Utc;
use secrecy::SecretString;
use tokio_util::sync::CancellationToken;

use super::*;
use crate::domain::model::AuthType;
use crate::domain::ports::{CreateAuthorizationRequest, FaceAuthMode, FaceAuthRequest, PersonAccountRequest};
use crate::domain::values::{AccountId, AccountKey, MemberNo, Mobile, PersonName, ResidentId};
use crate::esign::{EsignClient, EsignSettings};

pub(crate) use crate::config::DEV_APP_ID as APP_ID;
pub(crate) const SECRET: &str = "etc-esign-demo-secret-not-real-01";

pub(crate) async fn start_sim() -> SimHandle {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let sim = Simulator::start(SimConfig {
        app_id: APP_ID.into(),
        app_secret: SecretString::from(SECRET),
        bind: "127.0.0.1:0".parse().unwrap(),
        public_base_url: None,
    })
    .await
    .unwrap();
    // Failed deliveries are retried quickly in tests.
    sim.set_callback_retries(2, Duration::from_millis(20));
    sim
}

pub(crate) fn settings(base_url: &str) -> EsignSettings {
    EsignSettings {
        base_url: base_url.into(),
        app_id: APP_ID.into(),
        app_secret: SecretString::from(SECRET),
        connect_timeout: Duration::from_millis(500),
        total_timeout: Duration::from_secs(2),
        read_retries: 0,
        retry_base_delay: Duration::from_millis(5),
    }
}

pub(crate) fn client(sim: &SimHandle) -> EsignClient {
    EsignClient::new(settings(sim.base_url())).unwrap()
}

/// Polls `probe` until it yields a value or two seconds pass.
pub(crate) async fn eventually<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    loop {
        if let Some(v) = probe() {
            return v;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

pub(crate) fn account_request(member: &str) -> PersonAccountRequest {
    PersonAccountRequest {
        third_party_user_id: AccountKey::new(MemberNo::parse(member).unwrap(), 0),
        name: PersonName::parse("name", "张三").unwrap(),
        id_number: ResidentId::parse("id_number", "11010519491231002X").unwrap(),
        mobile: Mobile::parse("mobile", "13800138000").unwrap(),
    }
}

pub(crate) fn face_request(account_id: &AccountId, notify_url: &str) -> FaceAuthRequest {
    FaceAuthRequest {
        account_id: account_id.clone(),
        mode: FaceAuthMode::ZhimaCredit,
        repetition: true,
        redirect_url: Some("https://etc.example.com/face/done".into()),
        context_id: "ETC000123456".into(),
        notify_url: notify_url.into(),
    }
}

pub(crate) fn authorization_request(notify_url: &str) -> CreateAuthorizationRequest {
    CreateAuthorizationRequest {
        organize_id: AccountId::parse("organize_id", "CE6E87D111114C81A786CF615E63BFD9").unwrap(),
        contact: "15300001111".into(),
        send_notice: true,
        auth_type: AuthType::Platform,
        person_id: None,
        valid_date: Utc::now() + chrono::Duration::days(365),
        seal_scope: Some("合同专用章".into()),
        file_type: None,
        notify_url: notify_url.into(),
        redirect_url: None,
    }
}

/// One request the test receiver got.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// A callback receiver on port 0 that records every request and answers `status`.
pub(crate) struct Receiver {
    pub addr: SocketAddr,
    pub received: Arc<Mutex<Vec<Received>>>,
    pub status: Arc<AtomicU16>,
    cancel: CancellationToken,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

type ReceiverState = (Arc<Mutex<Vec<Received>>>, Arc<AtomicU16>);

async fn record(
    State((received, status)): State<ReceiverState>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    received.lock().unwrap().push(Received { query: uri.query().map(str::to_owned), headers, body });
    let status = StatusCode::from_u16(status.load(Ordering::Relaxed)).unwrap();
    (status, r#"{"code":"200","msg":"success"}"#)
}

impl Receiver {
    pub(crate) async fn start() -> Self {
        let received = Arc::new(Mutex::new(Vec::new()));
        let status = Arc::new(AtomicU16::new(200));
        let app = Router::new().fallback(record).with_state((received.clone(), status.clone()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let cancel = CancellationToken::new();
        let stop = cancel.clone();
        tokio::spawn(async move {
            axum::serve(listener, app).with_graceful_shutdown(async move { stop.cancelled().await }).await.unwrap();
        });
        Self { addr, received, status, cancel }
    }

    pub(crate) fn url(&self, path_and_query: &str) -> String {
        format!("http://{}{path_and_query}", self.addr)
    }

    pub(crate) fn all(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// The first `n` requests, waiting for them.
    pub(crate) async fn wait_for(&self, n: usize) -> Vec<Received> {
        eventually(&format!("{n} callbacks"), || {
            let all = self.all();
            (all.len() >= n).then_some(all)
        })
        .await
    }

    pub(crate) fn actions(&self) -> Vec<String> {
        self.all()
            .iter()
            .map(|r| {
                let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
                v["action"].as_str().unwrap().to_owned()
            })
            .collect()
    }
}
