//! `spawn_app()`: the real service on port 0 with a fresh database (a SQLite file, or a new
//! PostgreSQL database when `ETC_ESIGN_TEST_PG` names a server) and its own e签宝 simulator.
#![allow(dead_code)]

use std::{future::Future, net::SocketAddr, time::Duration};

use etc_esign::app::{self, RunningApp};
use etc_esign::config::AppConfig;
use etc_esign::esign::EsignSettings;
use etc_esign::grpc::auth::CallerCredential;
use etc_esign::grpc::pb::{self, auth_service_client::AuthServiceClient};
use etc_esign::reconciler::ReconcilerSettings;
use etc_esign::sim::{SimConfig, SimHandle, Simulator};
use etc_esign::store::cipher::parse_keys;
use sea_orm::{ConnectionTrait, Database};
use tonic::{Request, transport::Channel};
use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient};

pub const APP_ID: &str = "7438000001";
pub const APP_SECRET: &str = "etc-esign-test-secret-not-real-01";
pub const SYS_ID: &str = "E02";
/// The test data key (32 bytes of 0x2a); tests that rotate keys add their own.
pub const DATA_KEYS: &str = "t1=KioqKioqKioqKioqKioqKioqKioqKioqKioqKioqKio=";
pub const TOKEN: &str = "test-token-0123456789";

pub const ID_NUMBER: &str = "11010519491231002X";
pub const MOBILE: &str = "13800138000";

/// Polls `check` until it answers `Some`, or panics after `within`. Tests wait this way, never by sleeping a fixed time.
pub async fn eventually<T, F, Fut>(within: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A database of the test's own.
pub enum TestDb {
    Sqlite { _dir: tempfile::TempDir, url: String },
    Postgres { admin_url: String, name: String, url: String },
}

impl TestDb {
    pub async fn fresh() -> Self {
        let _ = rustls::crypto::ring::default_provider().install_default();
        match std::env::var("ETC_ESIGN_TEST_PG") {
            Ok(admin_url) if !admin_url.is_empty() => {
                let prefix = std::env::var("ETC_ESIGN_TEST_DB_PREFIX").unwrap_or_else(|_| "etc_esign_test".into());
                let name = format!("{prefix}_{:016x}", rand::random::<u64>());
                let admin = Database::connect(&admin_url).await.expect("connect to PostgreSQL");
                admin.execute_unprepared(&format!("CREATE DATABASE \"{name}\"")).await.expect("create test database");
                let _ = admin.close().await;
                let base = admin_url.rsplit_once('/').map(|(b, _)| b.to_owned()).expect("admin url has a database");
                let url = format!("{base}/{name}");
                TestDb::Postgres { admin_url, name, url }
            }
            _ => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}/etc-esign.db", dir.path().display());
                TestDb::Sqlite { _dir: dir, url }
            }
        }
    }

    pub fn url(&self) -> &str {
        match self {
            TestDb::Sqlite { url, .. } | TestDb::Postgres { url, .. } => url,
        }
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self, TestDb::Postgres { .. })
    }

    pub async fn drop_db(self) {
        if let TestDb::Postgres { admin_url, name, .. } = self
            && let Ok(admin) = Database::connect(&admin_url).await
        {
            let _ = admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")).await;
            let _ = admin.close().await;
        }
    }
}

pub async fn start_sim() -> SimHandle {
    let _ = rustls::crypto::ring::default_provider().install_default();
    install_log_capture();
    Simulator::start(SimConfig {
        app_id: APP_ID.into(),
        app_secret: APP_SECRET.into(),
        bind: "127.0.0.1:0".parse().expect("addr"),
        public_base_url: None,
    })
    .await
    .expect("simulator starts")
}

/// Settings of a test app; tests tweak them before `spawn_app_with`.
pub fn test_config(database_url: &str, sim_base_url: &str) -> AppConfig {
    AppConfig {
        grpc_addr: "127.0.0.1:0".parse().expect("addr"),
        http_addr: "127.0.0.1:0".parse().expect("addr"),
        database_url: database_url.into(),
        database_max_connections: 8,
        esign: EsignSettings {
            base_url: sim_base_url.into(),
            app_id: APP_ID.into(),
            app_secret: APP_SECRET.into(),
            connect_timeout: Duration::from_secs(1),
            total_timeout: Duration::from_secs(3),
            read_retries: 2,
            retry_base_delay: Duration::from_millis(10),
        },
        callers: vec![CallerCredential { sys_id: SYS_ID.into(), token: TOKEN.into() }],
        data_keys: parse_keys(DATA_KEYS).expect("test data keys"),
        public_callback_base_url: None,
        replica_id: "test".into(),
        // The reconciler is slow by default so that tests of callbacks see callbacks do the work;
        // tests of reconciliation make it fast.
        poll_initial: Duration::from_secs(3600),
        poll_max: Duration::from_secs(3600),
        reconciler: ReconcilerSettings { interval: Duration::from_millis(50), ..Default::default() },
        shutdown_grace: Duration::from_secs(5),
        grpc_max_concurrent_rpcs: 64,
        grpc_default_timeout: Duration::from_secs(30),
        callback_rate_per_sec: 1000,
    }
}

pub struct TestApp {
    pub app: Option<RunningApp>,
    pub grpc_addr: SocketAddr,
    pub http_addr: SocketAddr,
    pub sim: SimHandle,
    pub db: Option<TestDb>,
    pub config: AppConfig,
    pub client: AuthServiceClient<Channel>,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(tweak: impl FnOnce(&mut AppConfig)) -> TestApp {
    let sim = start_sim().await;
    let db = TestDb::fresh().await;
    let mut config = test_config(db.url(), sim.base_url());
    tweak(&mut config);
    let app = start_and_wait(config.clone()).await;
    // A restart binds the same ports, so the notify URL given to e签宝 stays valid.
    config.grpc_addr = app.grpc_addr;
    config.http_addr = app.http_addr;
    let client = connect(app.grpc_addr).await;
    TestApp { grpc_addr: app.grpc_addr, http_addr: app.http_addr, app: Some(app), sim, db: Some(db), config, client }
}

pub async fn start_and_wait(config: AppConfig) -> RunningApp {
    let app = app::start(config).await.expect("app starts");
    wait_serving(app.grpc_addr).await;
    app
}

pub async fn connect(addr: SocketAddr) -> AuthServiceClient<Channel> {
    AuthServiceClient::new(channel(addr).await)
}

pub async fn channel(addr: SocketAddr) -> Channel {
    Channel::from_shared(format!("http://{addr}")).expect("uri").connect().await.expect("connect")
}

pub async fn health(addr: SocketAddr, service: &str) -> ServingStatus {
    let mut h = HealthClient::new(channel(addr).await);
    let r = h.check(HealthCheckRequest { service: service.into() }).await.expect("health answers");
    ServingStatus::try_from(r.into_inner().status).expect("known status")
}

pub async fn wait_serving(addr: SocketAddr) {
    eventually(Duration::from_secs(20), "SERVING", || async {
        (health(addr, "etc.esign.v1.AuthService").await == ServingStatus::Serving).then_some(())
    })
    .await;
}

/// A request with the test caller's metadata.
pub fn authed<T>(msg: T) -> Request<T> {
    let mut r = Request::new(msg);
    r.metadata_mut().insert("etc-sys-id", SYS_ID.parse().expect("ascii"));
    r.metadata_mut().insert("etc-token", TOKEN.parse().expect("ascii"));
    r
}

pub fn face_request(member: &str) -> pb::StartFaceAuthRequest {
    pb::StartFaceAuthRequest {
        etc_member_no: member.into(),
        name: "张三".into(),
        id_number: ID_NUMBER.into(),
        mobile: MOBILE.into(),
        valid_period: "2019.01.01-2039.01.01".into(),
        redirect_url: "https://etc.example.com/face/done".into(),
        face_auth_mode: 0,
    }
}

impl TestApp {
    pub async fn process(&self, member: &str) -> pb::AuthProcess {
        let mut c = self.client.clone();
        c.get_process_detail(authed(pb::GetProcessDetailRequest { etc_member_no: member.into(), refresh: false }))
            .await
            .expect("GetProcessDetail")
            .into_inner()
            .process
            .expect("process")
    }

    pub async fn status(&self, member: &str) -> pb::AuthProcessStatus {
        pb::AuthProcessStatus::try_from(self.process(member).await.status).expect("known status")
    }

    pub async fn wait_status(&self, member: &str, want: pb::AuthProcessStatus) -> pb::AuthProcess {
        eventually(Duration::from_secs(15), &format!("{member} to reach {want:?}"), || async {
            let p = self.process(member).await;
            (p.status == want as i32).then_some(p)
        })
        .await
    }

    /// The process finished with its signed letter. The callback finishes the process at once and the
    /// letter's URL is fetched just after (or by the reconciler when e签宝 cannot be reached), so a
    /// read in between sees the status without the URL.
    pub async fn wait_signed_file(&self, member: &str) -> pb::AuthProcess {
        eventually(Duration::from_secs(15), &format!("{member} finished with its signed file"), || async {
            let p = self.process(member).await;
            (p.status == pb::AuthProcessStatus::AuthorizeFinish as i32 && !p.signed_file_url.is_empty()).then_some(p)
        })
        .await
    }

    pub async fn start_face(&self, member: &str) -> pb::StartFaceAuthResponse {
        let mut c = self.client.clone();
        c.start_face_auth(authed(face_request(member))).await.expect("StartFaceAuth").into_inner()
    }

    /// A member whose handler passed face recognition.
    pub async fn authenticated_member(&self, member: &str) -> pb::StartFaceAuthResponse {
        let started = self.start_face(member).await;
        self.sim.pass_face(&started.flow_id).expect("pass");
        self.wait_status(member, pb::AuthProcessStatus::HandlerAuthed).await;
        started
    }

    /// The callback URL of this app.
    pub fn callback_url(&self) -> String {
        format!("http://{}/esign/callback", self.http_addr)
    }

    /// Stops the app, keeping the database and simulator (for restarts).
    pub async fn stop_app(&mut self) {
        if let Some(app) = self.app.take() {
            app.stop().await;
        }
    }

    /// Starts the app again on the same database and simulator.
    pub async fn restart(&mut self) {
        self.stop_app().await;
        let app = start_and_wait(self.config.clone()).await;
        self.grpc_addr = app.grpc_addr;
        self.http_addr = app.http_addr;
        self.client = connect(app.grpc_addr).await;
        self.app = Some(app);
    }

    pub async fn finish(mut self) {
        self.stop_app().await;
        if let Some(db) = self.db.take() {
            db.drop_db().await;
        }
    }
}

thread_local! {
    /// Where this thread's logs go while a test captures them (see `capture_logs`).
    static LOG_SINK: std::cell::RefCell<Option<LogSink>> = const { std::cell::RefCell::new(None) };
}

/// JSON log lines, as `serve` writes them, captured for one test.
#[derive(Clone, Default)]
pub struct LogSink(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl LogSink {
    pub fn lines(&self) -> Vec<serde_json::Value> {
        let bytes = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
        String::from_utf8_lossy(&bytes).lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
    }
}

impl std::io::Write for LogSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// One process-wide subscriber, installed before any app runs, that writes only on threads that
/// capture. A per-test `set_default` subscriber is not enough: a span first hit by another test's
/// thread can be cached as disabled for every thread.
fn install_log_capture() {
    use tracing_subscriber::{Layer, filter, layer::SubscriberExt};
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        // Dynamic: decided per call (on which thread), never cached per callsite as `filter_fn` is.
        let capturing = filter::dynamic_filter_fn(|meta, _| {
            meta.level() <= &tracing::Level::INFO && LOG_SINK.with(|s| s.borrow().is_some())
        });
        let writer = || LOG_SINK.with(|s| s.borrow().clone()).unwrap_or_default();
        let layer = etc_esign::logs::json_layer(writer).with_filter(capturing);
        let _ = tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer));
    });
}

/// Captures the logs of this thread (a `#[tokio::test]` runs its app's tasks on it) from now on.
pub fn capture_logs() -> LogSink {
    install_log_capture();
    let sink = LogSink::default();
    LOG_SINK.with(|s| *s.borrow_mut() = Some(sink.clone()));
    sink
}
