//! `spawn_app()`: the real service in-process on port 0, with a fresh database and its own e签宝
//! simulator; `TestApp` walks a member through it. Also the gRPC client side: `connect`, `health`,
//! `authed` (the test caller's metadata).
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::{net::SocketAddr, time::Duration};

use etc_esign::app::{self, RunningApp};
use etc_esign::config::{AppConfig, FilesConfig};
use etc_esign::domain::{Clock, EvidenceKeys, SystemClock};
use etc_esign::esign::EsignSettings;
use etc_esign::grpc::SERVICE_NAME;
use etc_esign::grpc::auth::CallerCredential;
use etc_esign::grpc::pb::{self, auth_service_client::AuthServiceClient};
use etc_esign::http::CALLBACK_PATH;
use etc_esign::reconciler::ReconcilerSettings;
use etc_esign::sim::SimHandle;
use etc_esign::store::cipher::parse_keys;
use tonic::{Request, transport::Channel};
use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient};

use super::{
    APP_ID, APP_SECRET, DATA_KEYS, EVIDENCE_KEYS, FILE_LINK_KEY, REVIEWER_ID, REVIEWER_TOKEN, SYS_ID, TOKEN, TestDb,
    eventually, face_request, free_addr, legal_person_request, start_sim,
};

/// Settings of a test app; tests tweak them before `spawn_app_with`.
pub fn test_config(database_url: &str, sim_base_url: &str) -> AppConfig {
    AppConfig {
        grpc_addr: "127.0.0.1:0".parse().expect("addr"),
        http_addr: "127.0.0.1:0".parse().expect("addr"),
        database_url: database_url.into(),
        database_max_connections: 8,
        read_cache_entries: etc_esign::domain::read_cache::READ_CACHE_DEFAULT_ENTRIES,
        esign: EsignSettings {
            base_url: sim_base_url.into(),
            app_id: APP_ID.into(),
            app_secret: APP_SECRET.into(),
            connect_timeout: Duration::from_secs(1),
            total_timeout: Duration::from_secs(3),
            read_retries: 2,
            retry_base_delay: Duration::from_millis(10),
        },
        callers: vec![
            CallerCredential { sys_id: SYS_ID.into(), token: TOKEN.into() },
            CallerCredential { sys_id: REVIEWER_ID.into(), token: REVIEWER_TOKEN.into() },
        ],
        seal_reviewers: vec![REVIEWER_ID.into()],
        data_keys: parse_keys(DATA_KEYS).expect("test data keys"),
        evidence_keys: EvidenceKeys::parse(EVIDENCE_KEYS).expect("test evidence keys"),
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
        // A directory of its own under the temp dir; `spawn_app_with` gives each app a fresh one.
        files: FilesConfig {
            object_store_url: format!(
                "file://{}",
                std::env::temp_dir().join(format!("etc-esign-objects-{:016x}", rand::random::<u64>())).display()
            ),
            link_key: FILE_LINK_KEY.into(),
            public_base_url: None,
            link_ttl: Duration::from_secs(900),
            s3: Default::default(),
        },
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
    /// Where the app keeps pictures when its object store is a directory (the default).
    pub objects: tempfile::TempDir,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(tweak: impl FnOnce(&mut AppConfig)) -> TestApp {
    spawn_app_with_clock(tweak, Arc::new(SystemClock)).await
}

/// A clock that runs with the system's, ahead by what the test moved it.
#[derive(Debug, Default)]
pub struct ShiftedClock {
    ahead_ms: AtomicI64,
}

impl ShiftedClock {
    pub fn advance(&self, by: Duration) {
        self.ahead_ms.fetch_add(by.as_millis() as i64, Ordering::SeqCst);
    }
}

impl Clock for ShiftedClock {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        chrono::Utc::now() + chrono::Duration::milliseconds(self.ahead_ms.load(Ordering::SeqCst))
    }
}

/// `spawn_app_with`, the service's "now" read from `clock`.
pub async fn spawn_app_with_clock(tweak: impl FnOnce(&mut AppConfig), clock: Arc<dyn Clock>) -> TestApp {
    let sim = start_sim().await;
    let db = TestDb::fresh().await;
    let mut config = test_config(db.url(), sim.base_url());
    let objects = tempfile::tempdir().expect("objects dir");
    config.files.object_store_url = format!("file://{}", objects.path().display());
    tweak(&mut config);
    // Ports a restart can bind again (`free_addr`), so the notify URL given to e签宝 stays valid;
    // picked anew when another test took one between its probe and this bind (or both picks drew
    // the same port). `config` keeps them for the restart.
    let mut attempts = 0;
    let app = loop {
        (config.grpc_addr, config.http_addr) = (free_addr(), free_addr());
        match app::start_with_clock(config.clone(), clock.clone()).await {
            Ok(app) => break app,
            Err(app::AppError::Bind { .. }) if attempts < 20 => attempts += 1,
            Err(e) => panic!("app starts: {e:?}"),
        }
    };
    wait_serving(app.grpc_addr).await;
    let client = connect(app.grpc_addr).await;
    TestApp {
        grpc_addr: app.grpc_addr,
        http_addr: app.http_addr,
        app: Some(app),
        sim,
        db: Some(db),
        config,
        client,
        objects,
    }
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
        (health(addr, SERVICE_NAME).await == ServingStatus::Serving).then_some(())
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

/// The member's process, as `client`'s server answers it (without refresh).
/// The platform confirms the member's evidence (CERT_UNCONFIRMED → CERT_CONFIRMED), as ops would.
pub async fn confirm_evidence(client: &AuthServiceClient<Channel>, member: &str) {
    let mut c = client.clone();
    let req = pb::ConfirmEvidenceRequest { etc_member_no: member.into(), confirmer: "platform-ops".into() };
    let answer = c.confirm_evidence(authed(req)).await.expect("ConfirmEvidence").into_inner();
    assert_eq!(answer.process.map(|p| p.status), Some(pb::AuthProcessStatus::CertConfirmed as i32), "{member}");
}

pub async fn process_of(client: &AuthServiceClient<Channel>, member: &str) -> pb::AuthProcess {
    let mut c = client.clone();
    c.get_process_detail(authed(pb::GetProcessDetailRequest { etc_member_no: member.into(), refresh: false }))
        .await
        .expect("GetProcessDetail")
        .into_inner()
        .process
        .expect("process")
}

/// Waits until `client`'s server answers the member's process in `want`.
pub async fn wait_status_of(
    client: &AuthServiceClient<Channel>,
    member: &str,
    want: pb::AuthProcessStatus,
) -> pb::AuthProcess {
    eventually(Duration::from_secs(15), &format!("{member} to reach {want:?}"), || async {
        let p = process_of(client, member).await;
        (p.status == want as i32).then_some(p)
    })
    .await
}

impl TestApp {
    pub async fn process(&self, member: &str) -> pb::AuthProcess {
        process_of(&self.client, member).await
    }

    pub async fn status(&self, member: &str) -> pb::AuthProcessStatus {
        pb::AuthProcessStatus::try_from(self.process(member).await.status).expect("known status")
    }

    pub async fn wait_status(&self, member: &str, want: pb::AuthProcessStatus) -> pb::AuthProcess {
        wait_status_of(&self.client, member, want).await
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

    /// A member whose handler passed face recognition, whose company (the handler is its legal
    /// person) is verified and whose evidence is confirmed: CERT_CONFIRMED, ready for the seal.
    pub async fn verified_member(&self, member: &str) -> pb::StartFaceAuthResponse {
        let started = self.authenticated_member(member).await;
        let mut c = self.client.clone();
        c.start_org_auth(authed(legal_person_request(member))).await.expect("StartOrgAuth");
        // ORG_AUTHED is followed at once by CERT_UNCONFIRMED (the evidence record); the platform confirms.
        self.wait_status(member, pb::AuthProcessStatus::CertUnconfirmed).await;
        confirm_evidence(&self.client, member).await;
        started
    }

    /// CreateOrgSeal for the member.
    pub async fn create_seal(&self, req: pb::CreateOrgSealRequest) -> Result<pb::CreateOrgSealResponse, tonic::Status> {
        let mut c = self.client.clone();
        c.create_org_seal(authed(req)).await.map(tonic::Response::into_inner)
    }

    /// A member walked to ORG_SEAL_SAVED (handler, company by its legal person, e签宝's default seal
    /// kept): ready for CreateOrgAuthorization.
    pub async fn sealed_member(&self, member: &str) -> pb::StartFaceAuthResponse {
        let started = self.verified_member(member).await;
        let req = pb::CreateOrgSealRequest { etc_member_no: member.into(), template: None };
        let saved = self.create_seal(req).await.expect("CreateOrgSeal");
        let status = saved.process.map(|p| p.status);
        assert_eq!(status, Some(pb::AuthProcessStatus::OrgSealSaved as i32), "{member} saved its seal");
        started
    }

    /// The callback URL of this app.
    pub fn callback_url(&self) -> String {
        format!("http://{}{CALLBACK_PATH}", self.http_addr)
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
        // Another test may have probed the freed port the moment it was free (`free_addr`).
        let app = eventually(Duration::from_secs(20), "the app bound its ports again", || async {
            match app::start(self.config.clone()).await {
                Ok(app) => Some(app),
                Err(app::AppError::Bind { .. }) => None,
                Err(e) => panic!("app starts again: {e:?}"),
            }
        })
        .await;
        wait_serving(app.grpc_addr).await;
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
