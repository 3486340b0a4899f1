//! The benchmark of issue 9, one command: `cargo run --release --example bench`.
//!
//! In one run it builds the release `etc-esign` binary (a no-op when fresh), then measures three
//! servers, each a child process of its own so that its RSS and start-up are its own:
//! - `baseline`: this program re-executed with `--baseline`, a bare tonic server (same release
//!   profile, same tokio runtime) whose `GetProcessDetail` answers a canned response of the same
//!   size as the real one, and whose health says SERVING at once;
//! - `etc-esign serve` on SQLite, then on PostgreSQL, each seeded with 10,000 members.
//!
//! The load generator is a Rust tonic client in this process (not h2load): no extra package, the
//! same HTTP/2 stack callers use, and latency measured per call without parsing another tool's
//! output. It shares the 2 cores with the server, equally for every server measured.
//! Every loop is bounded in time and in count; every address is loopback.
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use etc_esign::config::DEV_APP_ID as APP_ID;
use etc_esign::domain::model::{Handler, Process, ProcessStatus};
use etc_esign::domain::ports::{ChangeSet, ESign, FaceAuthMode, FaceAuthRequest, PersonAccountRequest, Store};
use etc_esign::domain::values::{AccountId, MemberNo, Mobile, PersonName, ResidentId, ValidPeriod};
use etc_esign::esign::{EsignClient, EsignSettings};
use etc_esign::grpc::pb::{self, auth_service_client::AuthServiceClient};
use etc_esign::sim::{Endpoint, FaultKind, FaultTrigger, SimConfig, SimHandle, Simulator};
use etc_esign::store::SeaStore;
use etc_esign::store::cipher::{Cipher, parse_keys};
use futures::StreamExt;
use sea_orm::{ConnectionTrait, Database};
use tonic::metadata::MetadataValue;
use tonic::transport::{Channel, Endpoint as GrpcEndpoint};
use tonic::{Request, Response, Status as GrpcStatus};
use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient};

const MEMBERS: usize = 10_000;
/// The throughput run: CONNECTIONS × IN_FLIGHT calls always outstanding.
const CONNECTIONS: usize = 4;
const IN_FLIGHT: usize = 8;
const WARMUP: Duration = Duration::from_secs(2);
const MEASURE: Duration = Duration::from_secs(10);
/// The memory run: 1,000 concurrent streams (hyper's server allows 200 per connection).
const FLOOD_CONNECTIONS: usize = 8;
const FLOOD_IN_FLIGHT: usize = 125;
const FLOOD: Duration = Duration::from_secs(5);
/// Raised from the default 64 so that the 1,000 streams are served, not shed.
const MAX_CONCURRENT_RPCS: usize = 1024;
/// Upper bound of calls per task in one run, whatever the clock says.
const MAX_CALLS_PER_TASK: usize = 5_000_000;
/// StartFaceAuth: each upstream call (account, face start) waits this long in the simulator.
const UPSTREAM_DELAY: Duration = Duration::from_millis(20);
const FACE_WARMUP_CALLS: usize = 10;
const FACE_CALLS: usize = 100;
const START_DEADLINE: Duration = Duration::from_secs(30);
const RSS_SETTLE: Duration = Duration::from_secs(1);

const APP_SECRET: &str = "etc-esign-bench-secret-not-real-1";
const SYS_ID: &str = "BENCH";
const TOKEN: &str = "bench-token-0123456789";
const DATA_KEYS: &str = "b1=KioqKioqKioqKioqKioqKioqKioqKioqKioqKioqKio=";
const ID_NUMBER: &str = "11010519491231002X";
const MOBILE: &str = "13800138000";
const DEFAULT_PG: &str = "postgres://postgres@127.0.0.1:5432/postgres";

fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args: Vec<String> = std::env::args().collect();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    if args.get(1).map(String::as_str) == Some("--baseline") {
        let addr = args.get(2).and_then(|a| a.parse().ok()).expect("--baseline ADDR");
        runtime.block_on(baseline::serve(addr));
    } else if args.get(1).map(String::as_str) == Some("--load") {
        // For profiling a server started by hand: `--load ADDR SECONDS` drives GetProcessDetail alone.
        let addr = args.get(2).and_then(|a| a.parse().ok()).expect("--load ADDR SECONDS");
        let secs = args.get(3).and_then(|a| a.parse().ok()).expect("--load ADDR SECONDS");
        let load = runtime.block_on(drive(addr, CONNECTIONS, IN_FLIGHT, WARMUP, Duration::from_secs(secs)));
        println!(
            "{:.0} req/s, p50 {:.2} ms, p99 {:.2} ms, {} errors",
            load.rps(),
            load.pct_ms(0.5),
            load.pct_ms(0.99),
            load.errors
        );
    } else {
        runtime.block_on(run());
    }
}

fn member(i: usize) -> String {
    format!("ETC{i:09}")
}

/// The seeded member: the handler passed face recognition, so every column (the encrypted ones too)
/// is filled and the answer has the full member info.
fn seeded_process(member_no: &str) -> Process {
    let today = chrono::Utc::now().date_naive();
    let mut p = Process::restore(MemberNo::parse(member_no).expect("member no"), ProcessStatus::HandlerAuthed, 0);
    p.handler = Some(Handler {
        name: PersonName::parse("name", "张三").expect("name"),
        id_number: ResidentId::parse("id_number", ID_NUMBER).expect("id number"),
        mobile: Mobile::parse("mobile", MOBILE).expect("mobile"),
        valid_period: ValidPeriod::parse("valid_period", "2019.01.01-2039.01.01", today).expect("period"),
    });
    p.esign_account_id = Some(AccountId::parse("account", "a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5").expect("account id"));
    p.updated_at = Some(chrono::Utc::now());
    p
}

mod baseline {
    use super::*;
    use etc_esign::grpc::pb::auth_service_server::{AuthService, AuthServiceServer};

    /// A trivial handler: the canned answer of a seeded member with the caller's member number.
    struct Canned(pb::AuthProcess);

    #[tonic::async_trait]
    impl AuthService for Canned {
        async fn get_process_detail(
            &self,
            req: Request<pb::GetProcessDetailRequest>,
        ) -> Result<Response<pb::GetProcessDetailResponse>, GrpcStatus> {
            let mut process = self.0.clone();
            process.etc_member_no = req.into_inner().etc_member_no;
            Ok(Response::new(pb::GetProcessDetailResponse { process: Some(process) }))
        }
        async fn start_face_auth(
            &self,
            _: Request<pb::StartFaceAuthRequest>,
        ) -> Result<Response<pb::StartFaceAuthResponse>, GrpcStatus> {
            Err(GrpcStatus::unimplemented("baseline"))
        }
        async fn start_sms_auth(
            &self,
            _: Request<pb::StartSmsAuthRequest>,
        ) -> Result<Response<pb::StartSmsAuthResponse>, GrpcStatus> {
            Err(GrpcStatus::unimplemented("baseline"))
        }
        async fn verify_sms_code(
            &self,
            _: Request<pb::VerifySmsCodeRequest>,
        ) -> Result<Response<pb::VerifySmsCodeResponse>, GrpcStatus> {
            Err(GrpcStatus::unimplemented("baseline"))
        }
        async fn create_org_authorization(
            &self,
            _: Request<pb::CreateOrgAuthorizationRequest>,
        ) -> Result<Response<pb::CreateOrgAuthorizationResponse>, GrpcStatus> {
            Err(GrpcStatus::unimplemented("baseline"))
        }
        async fn query_authorization(
            &self,
            _: Request<pb::QueryAuthorizationRequest>,
        ) -> Result<Response<pb::QueryAuthorizationResponse>, GrpcStatus> {
            Err(GrpcStatus::unimplemented("baseline"))
        }
        async fn start_org_auth(
            &self,
            _: Request<pb::StartOrgAuthRequest>,
        ) -> Result<Response<pb::StartOrgAuthResponse>, GrpcStatus> {
            Err(GrpcStatus::unimplemented("baseline"))
        }
        async fn create_org_seal(
            &self,
            _: Request<pb::CreateOrgSealRequest>,
        ) -> Result<Response<pb::CreateOrgSealResponse>, GrpcStatus> {
            Err(GrpcStatus::unimplemented("baseline"))
        }
        async fn start_reverse_payment(
            &self,
            _: Request<pb::StartReversePaymentRequest>,
        ) -> Result<Response<pb::StartReversePaymentResponse>, GrpcStatus> {
            Err(GrpcStatus::unimplemented("baseline"))
        }
        async fn get_reverse_payment(
            &self,
            _: Request<pb::GetReversePaymentRequest>,
        ) -> Result<Response<pb::GetReversePaymentResponse>, GrpcStatus> {
            Err(GrpcStatus::unimplemented("baseline"))
        }
        async fn cancel_process(
            &self,
            _: Request<pb::CancelProcessRequest>,
        ) -> Result<Response<pb::CancelProcessResponse>, GrpcStatus> {
            Err(GrpcStatus::unimplemented("baseline"))
        }
        async fn get_process_history(
            &self,
            _: Request<pb::GetProcessHistoryRequest>,
        ) -> Result<Response<pb::GetProcessHistoryResponse>, GrpcStatus> {
            Err(GrpcStatus::unimplemented("baseline"))
        }
        async fn recognize_id_card(
            &self,
            _: Request<pb::RecognizeIdCardRequest>,
        ) -> Result<Response<pb::RecognizeIdCardResponse>, GrpcStatus> {
            Err(GrpcStatus::unimplemented("baseline"))
        }
        async fn recognize_business_license(
            &self,
            _: Request<pb::RecognizeBusinessLicenseRequest>,
        ) -> Result<Response<pb::RecognizeBusinessLicenseResponse>, GrpcStatus> {
            Err(GrpcStatus::unimplemented("baseline"))
        }
        async fn confirm_evidence(
            &self,
            _: Request<pb::ConfirmEvidenceRequest>,
        ) -> Result<Response<pb::ConfirmEvidenceResponse>, GrpcStatus> {
            Err(GrpcStatus::unimplemented("baseline"))
        }
        async fn get_evidence(
            &self,
            _: Request<pb::GetEvidenceRequest>,
        ) -> Result<Response<pb::GetEvidenceResponse>, GrpcStatus> {
            Err(GrpcStatus::unimplemented("baseline"))
        }
        async fn list_org_seals(
            &self,
            _: Request<pb::ListOrgSealsRequest>,
        ) -> Result<Response<pb::ListOrgSealsResponse>, GrpcStatus> {
            Err(GrpcStatus::unimplemented("baseline"))
        }
        async fn list_person_seals(
            &self,
            _: Request<pb::ListPersonSealsRequest>,
        ) -> Result<Response<pb::ListPersonSealsResponse>, GrpcStatus> {
            Err(GrpcStatus::unimplemented("baseline"))
        }
        async fn create_org_template_seal(
            &self,
            _: Request<pb::CreateOrgTemplateSealRequest>,
        ) -> Result<Response<pb::CreateOrgTemplateSealResponse>, GrpcStatus> {
            Err(GrpcStatus::unimplemented("baseline"))
        }
        async fn create_org_image_seal(
            &self,
            _: Request<pb::CreateOrgImageSealRequest>,
        ) -> Result<Response<pb::CreateOrgImageSealResponse>, GrpcStatus> {
            Err(GrpcStatus::unimplemented("baseline"))
        }
        async fn save_org_seal(
            &self,
            _: Request<pb::SaveOrgSealRequest>,
        ) -> Result<Response<pb::SaveOrgSealResponse>, GrpcStatus> {
            Err(GrpcStatus::unimplemented("baseline"))
        }
        async fn set_default_org_seal(
            &self,
            _: Request<pb::SetDefaultOrgSealRequest>,
        ) -> Result<Response<pb::SetDefaultOrgSealResponse>, GrpcStatus> {
            Err(GrpcStatus::unimplemented("baseline"))
        }
        async fn delete_org_seal(
            &self,
            _: Request<pb::DeleteOrgSealRequest>,
        ) -> Result<Response<pb::DeleteOrgSealResponse>, GrpcStatus> {
            Err(GrpcStatus::unimplemented("baseline"))
        }
        async fn list_seals_to_review(
            &self,
            _: Request<pb::ListSealsToReviewRequest>,
        ) -> Result<Response<pb::ListSealsToReviewResponse>, GrpcStatus> {
            Err(GrpcStatus::unimplemented("baseline"))
        }
        async fn review_org_seal(
            &self,
            _: Request<pb::ReviewOrgSealRequest>,
        ) -> Result<Response<pb::ReviewOrgSealResponse>, GrpcStatus> {
            Err(GrpcStatus::unimplemented("baseline"))
        }
    }

    pub async fn serve(addr: SocketAddr) {
        let canned = etc_esign::grpc::convert::process(&seeded_process(&member(0)), chrono::Utc::now());
        let (health, health_service) = tonic_health::server::health_reporter();
        health.set_service_status(etc_esign::grpc::SERVICE_NAME, tonic_health::ServingStatus::Serving).await;
        tonic::transport::Server::builder()
            .tcp_nodelay(true)
            .add_service(health_service)
            .add_service(AuthServiceServer::new(Canned(canned)))
            .serve(addr)
            .await
            .expect("baseline server");
    }
}

// ------------------------------------------------------------------ child processes

/// A loopback port free right now (the child binds it a moment later).
fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free loopback port")
}

struct Server {
    name: &'static str,
    child: Child,
    addr: SocketAddr,
    started: Instant,
    stderr: PathBuf,
}

impl Server {
    fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// (VmRSS, VmHWM) in MiB.
    fn rss(&self) -> (f64, f64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
                .map_or(f64::NAN, |kb| kb / 1024.0)
        };
        (field("VmRSS:"), field("VmHWM:"))
    }

    /// Milliseconds from spawn until health answers SERVING for AuthService.
    async fn wait_serving(&mut self) -> f64 {
        let deadline = self.started + START_DEADLINE;
        while Instant::now() < deadline {
            if let Ok(Some(code)) = self.child.try_wait() {
                let log = std::fs::read_to_string(&self.stderr).unwrap_or_default();
                panic!("{} exited with {code} before serving:\n{log}", self.name);
            }
            if health_serving(self.addr).await {
                return self.started.elapsed().as_secs_f64() * 1000.0;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        panic!("{} did not say SERVING within {START_DEADLINE:?}", self.name);
    }
}

async fn health_serving(addr: SocketAddr) -> bool {
    let Ok(endpoint) = GrpcEndpoint::from_shared(format!("http://{addr}")) else { return false };
    let Ok(channel) = endpoint.connect_timeout(Duration::from_millis(200)).connect().await else { return false };
    let req = HealthCheckRequest { service: etc_esign::grpc::SERVICE_NAME.into() };
    matches!(
        HealthClient::new(channel).check(req).await,
        Ok(r) if r.get_ref().status == ServingStatus::Serving as i32
    )
}

fn spawn_baseline(dir: &Path) -> Server {
    let addr = free_port();
    let stderr = dir.join("baseline.stderr");
    let started = Instant::now();
    // /proc/self/exe, not current_exe(): the build at the start may have replaced the file.
    let child = Command::new("/proc/self/exe")
        .arg("--baseline")
        .arg(addr.to_string())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&stderr).expect("stderr file"))
        .spawn()
        .expect("spawn the baseline");
    Server { name: "baseline", child, addr, started, stderr }
}

fn spawn_service(name: &'static str, binary: &Path, database_url: &str, sim: &SimHandle, dir: &Path) -> Server {
    let addr = free_port();
    let http = free_port();
    let stderr = dir.join(format!("{name}.stderr"));
    let started = Instant::now();
    // The JSON log (one line per call at the default level) goes to /dev/null: formatted and
    // written as in production, without a collector to slow it down or speed it up.
    let child = Command::new(binary)
        .arg("serve")
        .env_clear()
        .env("DATABASE_URL", database_url)
        .env("ESIGN_BASE_URL", sim.base_url())
        .env("ESIGN_APP_ID", APP_ID)
        .env("ESIGN_APP_SECRET", APP_SECRET)
        .env("ETC_CALLERS", format!("{SYS_ID}={TOKEN}"))
        .env("DATA_KEYS", DATA_KEYS)
        .env("GRPC_ADDR", addr.to_string())
        .env("HTTP_ADDR", http.to_string())
        .env("PUBLIC_CALLBACK_BASE_URL", format!("http://{http}"))
        .env("OBJECT_STORE_URL", format!("file://{}", dir.join(format!("{name}-objects")).display()))
        .env("FILE_LINK_KEY", "bench-file-link-key-not-real-0123456789")
        .env("PUBLIC_FILES_BASE_URL", format!("http://{http}"))
        .env("REPLICA_ID", "bench")
        .env("GRPC_MAX_CONCURRENT_RPCS", MAX_CONCURRENT_RPCS.to_string())
        // Passed through for experiments (pool size against memory); unset: the service's default.
        .envs(std::env::var("DATABASE_MAX_CONNECTIONS").map(|v| ("DATABASE_MAX_CONNECTIONS", v)))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&stderr).expect("stderr file"))
        .spawn()
        .expect("spawn etc-esign");
    Server { name, child, addr, started, stderr }
}

/// Builds the release `etc-esign` so that the one command measures the current code. Naming the
/// example too keeps the features the example was built with (dev-dependencies unify features):
/// the bin alone would rebuild the whole library with other features, minutes on 2 cores.
fn build_service() -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut build = Command::new(cargo);
    // `cargo run` gave this process CARGO_PKG_NAME and the like; build scripts (ring's) watch them,
    // so the nested cargo would see them changed and rebuild most of the tree, twice a run.
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        if (key.starts_with("CARGO_") && !matches!(&*key, "CARGO_HOME" | "CARGO_TARGET_DIR")) || key == "OUT_DIR" {
            build.env_remove(&*key);
        }
    }
    let ok = build
        .args(["build", "--release", "--bin", "etc-esign", "--example", "bench"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .expect("run cargo build");
    assert!(ok.success(), "cargo build --release --bin etc-esign failed");
    let exe = std::env::current_exe().expect("own path");
    // target/release/examples/bench → target/release/etc-esign
    let bin = exe.parent().and_then(Path::parent).expect("target/release").join("etc-esign");
    assert!(bin.exists(), "{} is missing", bin.display());
    bin
}

// ------------------------------------------------------------------ databases

async fn seed(url: &str) {
    let cipher = Cipher::new(&parse_keys(DATA_KEYS).expect("keys")).expect("cipher");
    let store = SeaStore::connect(url, 8, cipher).await.expect("connect to the database");
    store.migrate().await.expect("migrate");
    let store = &store;
    let seeded = futures::stream::iter(0..MEMBERS)
        .map(|i| async move {
            let changes = ChangeSet { process: Some(seeded_process(&member(i))), ..Default::default() };
            store.commit(changes).await.expect("seed a member");
        })
        .buffer_unordered(8)
        .count()
        .await;
    assert_eq!(seeded, MEMBERS);
    store.clone().close().await;
}

struct PgDb {
    admin: String,
    name: String,
    url: String,
}

async fn create_pg() -> Option<PgDb> {
    let admin = std::env::var("BENCH_PG_URL").unwrap_or_else(|_| DEFAULT_PG.into());
    let conn = match Database::connect(&admin).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("PostgreSQL at {admin} unreachable ({e}); its rows are skipped");
            return None;
        }
    };
    let name = format!("etc_esign_bench_{:08x}", rand::random::<u32>());
    conn.execute_unprepared(&format!("CREATE DATABASE \"{name}\"")).await.expect("create the bench database");
    let _ = conn.close().await;
    let base = admin.rsplit_once('/').map(|(b, _)| b.to_owned()).expect("admin URL names a database");
    let url = format!("{base}/{name}");
    Some(PgDb { admin, name, url })
}

async fn drop_pg(db: PgDb) {
    if let Ok(conn) = Database::connect(&db.admin).await {
        let _ = conn.execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", db.name)).await;
        let _ = conn.close().await;
    }
}

// ------------------------------------------------------------------ load

#[derive(Default)]
struct Load {
    /// Latencies of successful calls inside the measured window, µs, sorted.
    latencies: Vec<u32>,
    errors: u64,
    seconds: f64,
}

impl Load {
    fn rps(&self) -> f64 {
        self.latencies.len() as f64 / self.seconds
    }

    fn pct_ms(&self, p: f64) -> f64 {
        if self.latencies.is_empty() {
            return f64::NAN;
        }
        let i = ((self.latencies.len() - 1) as f64 * p).round() as usize;
        f64::from(self.latencies[i]) / 1000.0
    }
}

fn authed<T>(msg: T) -> Request<T> {
    let mut r = Request::new(msg);
    r.metadata_mut().insert("etc-sys-id", MetadataValue::from_static(SYS_ID));
    r.metadata_mut().insert("etc-token", MetadataValue::from_static(TOKEN));
    r.set_timeout(Duration::from_secs(10));
    r
}

async fn channel(addr: SocketAddr) -> Channel {
    GrpcEndpoint::from_shared(format!("http://{addr}"))
        .expect("uri")
        .tcp_nodelay(true)
        .connect()
        .await
        .expect("connect")
}

/// `connections` × `in_flight` tasks call GetProcessDetail back to back on seeded members for
/// `warmup` + `measure`; only calls that start and end inside the measured window count.
async fn drive(addr: SocketAddr, connections: usize, in_flight: usize, warmup: Duration, measure: Duration) -> Load {
    let members: Arc<Vec<String>> = Arc::new((0..MEMBERS).map(member).collect());
    let t0 = Instant::now();
    let (from, until) = (t0 + warmup, t0 + warmup + measure);
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..connections {
        let client = AuthServiceClient::new(channel(addr).await);
        for t in 0..in_flight {
            let (mut client, members) = (client.clone(), members.clone());
            let mut next = (c * in_flight + t) * 7919;
            tasks.spawn(async move {
                let (mut lat, mut errors) = (Vec::with_capacity(1 << 16), 0u64);
                for _ in 0..MAX_CALLS_PER_TASK {
                    let start = Instant::now();
                    if start >= until {
                        break;
                    }
                    next = (next + 1) % MEMBERS;
                    let req = pb::GetProcessDetailRequest { etc_member_no: members[next].clone(), refresh: false };
                    let ok = client.get_process_detail(authed(req)).await.is_ok();
                    let end = Instant::now();
                    if start >= from && end <= until {
                        if ok {
                            lat.push(u32::try_from(end.duration_since(start).as_micros()).unwrap_or(u32::MAX));
                        } else {
                            errors += 1;
                        }
                    }
                }
                (lat, errors)
            });
        }
    }
    let mut load = Load { seconds: measure.as_secs_f64(), ..Load::default() };
    while let Some(done) = tasks.join_next().await {
        let (lat, errors) = done.expect("load task");
        load.latencies.extend(lat);
        load.errors += errors;
    }
    load.latencies.sort_unstable();
    load
}

// ------------------------------------------------------------------ StartFaceAuth

fn sorted_ms(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(f64::total_cmp);
    v
}

fn median(v: &[f64]) -> f64 {
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

async fn start_sim() -> SimHandle {
    let sim = Simulator::start(SimConfig {
        app_id: APP_ID.into(),
        app_secret: APP_SECRET.into(),
        bind: "127.0.0.1:0".parse().expect("addr"),
        public_base_url: None,
    })
    .await
    .expect("the simulator starts");
    for endpoint in [Endpoint::Account, Endpoint::Face] {
        sim.inject_fault(endpoint, FaultKind::Delay(UPSTREAM_DELAY), FaultTrigger::Probability(1.0));
    }
    sim
}

/// p50 of the upstream's own time for what StartFaceAuth asks of it (account, then face start),
/// called from here with the service's own e签宝 client: the delay plus the simulator's work.
async fn upstream_p50(sim: &SimHandle) -> f64 {
    let client = EsignClient::new(EsignSettings {
        base_url: sim.base_url().into(),
        app_id: APP_ID.into(),
        app_secret: APP_SECRET.into(),
        connect_timeout: Duration::from_secs(1),
        total_timeout: Duration::from_secs(5),
        read_retries: 0,
        retry_base_delay: Duration::from_millis(10),
    })
    .expect("e签宝 client");
    let mut times = Vec::new();
    for i in 0..FACE_WARMUP_CALLS + FACE_CALLS {
        let member = MemberNo::parse(&format!("UP{i:09}")).expect("member");
        let start = Instant::now();
        let account = client
            .create_person_account(&PersonAccountRequest {
                third_party_user_id: etc_esign::domain::values::AccountKey::new(member.clone(), 0),
                name: PersonName::parse("name", "张三").expect("name"),
                id_number: ResidentId::parse("id", ID_NUMBER).expect("id"),
                mobile: Mobile::parse("mobile", MOBILE).expect("mobile"),
            })
            .await
            .expect("account");
        client
            .start_face_auth(&FaceAuthRequest {
                account_id: account,
                mode: FaceAuthMode::default(),
                repetition: true,
                redirect_url: Some("https://etc.example.com/face/done".into()),
                context_id: member.as_str().into(),
                notify_url: "http://127.0.0.1:9/esign/callback".into(),
            })
            .await
            .expect("face start");
        if i >= FACE_WARMUP_CALLS {
            times.push(start.elapsed().as_secs_f64() * 1000.0);
        }
    }
    median(&sorted_ms(times))
}

/// p50 of StartFaceAuth through the service, one call at a time, each for a member never seen.
async fn face_p50(addr: SocketAddr, tag: &str) -> f64 {
    let mut client = AuthServiceClient::new(channel(addr).await);
    let mut times = Vec::new();
    for i in 0..FACE_WARMUP_CALLS + FACE_CALLS {
        let req = pb::StartFaceAuthRequest {
            etc_member_no: format!("F{tag}{i:09}"),
            name: "张三".into(),
            id_number: ID_NUMBER.into(),
            mobile: MOBILE.into(),
            valid_period: "2019.01.01-2039.01.01".into(),
            redirect_url: "https://etc.example.com/face/done".into(),
            face_auth_mode: 0,
        };
        let start = Instant::now();
        client.start_face_auth(authed(req)).await.expect("StartFaceAuth");
        if i >= FACE_WARMUP_CALLS {
            times.push(start.elapsed().as_secs_f64() * 1000.0);
        }
    }
    median(&sorted_ms(times))
}

// ------------------------------------------------------------------ the run

struct Row {
    name: &'static str,
    start_ms: f64,
    idle_mib: f64,
    load: Load,
    flood: Load,
    peak_mib: f64,
    face_p50: Option<f64>,
}

async fn measure(mut server: Server, face_tag: Option<&str>) -> Row {
    let start_ms = server.wait_serving().await;
    tokio::time::sleep(RSS_SETTLE).await;
    let (idle_mib, _) = server.rss();
    eprintln!("{}: SERVING after {start_ms:.0} ms; load …", server.name);
    let load = drive(server.addr, CONNECTIONS, IN_FLIGHT, WARMUP, MEASURE).await;
    eprintln!("{}: 1,000 streams …", server.name);
    let flood = drive(server.addr, FLOOD_CONNECTIONS, FLOOD_IN_FLIGHT, Duration::from_secs(1), FLOOD).await;
    let (_, peak_mib) = server.rss();
    let face_p50 = match face_tag {
        Some(tag) => Some(face_p50(server.addr, tag).await),
        None => None,
    };
    let row = Row { name: server.name, start_ms, idle_mib, load, flood, peak_mib, face_p50 };
    server.stop();
    row
}

async fn run() {
    eprintln!("building the release etc-esign …");
    let binary = build_service();
    let dir = tempfile::tempdir().expect("temp dir");
    let sim = start_sim().await;
    let upstream = upstream_p50(&sim).await;
    eprintln!("upstream alone (account + face start, {UPSTREAM_DELAY:?} each): p50 {upstream:.2} ms");

    let mut rows = vec![measure(spawn_baseline(dir.path()), None).await];

    let sqlite_url = format!("sqlite://{}/bench.db", dir.path().display());
    eprintln!("seeding SQLite with {MEMBERS} members …");
    seed(&sqlite_url).await;
    let sqlite = spawn_service("etc-esign SQLite", &binary, &sqlite_url, &sim, dir.path());
    rows.push(measure(sqlite, Some("S")).await);

    if let Some(pg) = create_pg().await {
        eprintln!("seeding PostgreSQL with {MEMBERS} members …");
        seed(&pg.url).await;
        let server = spawn_service("etc-esign PostgreSQL", &binary, &pg.url, &sim, dir.path());
        rows.push(measure(server, Some("P")).await);
        drop_pg(pg).await;
    }
    sim.shutdown().await;
    print_table(&rows, upstream);
}

fn pass(ok: bool) -> &'static str {
    if ok { "PASS" } else { "MISS" }
}

fn print_table(rows: &[Row], upstream: f64) {
    let base = &rows[0];
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    println!();
    println!(
        "GetProcessDetail: {CONNECTIONS} connections × {IN_FLIGHT} in flight, warm-up {WARMUP:?}, measured {MEASURE:?}; \
         {MEMBERS} seeded members; {cores} cores"
    );
    println!(
        "| server | req/s | p50 ms | p99 ms | req/s ÷ base | p99 ÷ base | errors | 1k streams req/s | 1k p99 ms | 1k errors | RSS idle MiB | RSS peak MiB | start→SERVING ms |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in rows {
        println!(
            "| {} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} | {} | {:.0} | {:.1} | {} | {:.1} | {:.1} | {:.0} |",
            r.name,
            r.load.rps(),
            r.load.pct_ms(0.5),
            r.load.pct_ms(0.99),
            r.load.rps() / base.load.rps(),
            r.load.pct_ms(0.99) / base.load.pct_ms(0.99),
            r.load.errors,
            r.flood.rps(),
            r.flood.pct_ms(0.99),
            r.flood.errors,
            r.idle_mib,
            r.peak_mib,
            r.start_ms,
        );
    }
    println!();
    println!(
        "StartFaceAuth: one call at a time, {FACE_CALLS} fresh members, simulator delay {UPSTREAM_DELAY:?} on each of \
         its 2 upstream calls; upstream alone p50 {upstream:.2} ms"
    );
    println!("| server | p50 ms | added over upstream ms | added over the bare delays ms |");
    println!("|---|---:|---:|---:|");
    for r in rows {
        if let Some(p50) = r.face_p50 {
            let delays = 2.0 * UPSTREAM_DELAY.as_secs_f64() * 1000.0;
            println!("| {} | {p50:.2} | {:.2} | {:.2} |", r.name, p50 - upstream, p50 - delays);
        }
    }
    println!();
    println!("| target | figure | verdict |");
    println!("|---|---|---|");
    for r in &rows[1..] {
        let (want, db) = if r.name.contains("SQLite") { (0.5, "SQLite") } else { (0.35, "PostgreSQL") };
        let ratio = r.load.rps() / base.load.rps();
        println!("| req/s ≥ {want}× base ({db}) | {ratio:.2}× | {} |", pass(ratio >= want));
        let p99 = r.load.pct_ms(0.99) / base.load.pct_ms(0.99);
        println!("| p99 ≤ 2× base ({db}) | {p99:.2}× | {} |", pass(p99 <= 2.0));
        if let Some(p50) = r.face_p50 {
            println!(
                "| StartFaceAuth adds ≤ 1 ms at p50 ({db}) | {:.2} ms | {} |",
                p50 - upstream,
                pass(p50 - upstream <= 1.0)
            );
        }
        println!("| RSS idle ≤ 25 MiB ({db}) | {:.1} MiB | {} |", r.idle_mib, pass(r.idle_mib <= 25.0));
        println!("| RSS peak ≤ 80 MiB, 1,000 streams ({db}) | {:.1} MiB | {} |", r.peak_mib, pass(r.peak_mib <= 80.0));
        if db == "SQLite" {
            println!("| SERVING ≤ 300 ms, migrated SQLite | {:.0} ms | {} |", r.start_ms, pass(r.start_ms <= 300.0));
        }
    }
}
