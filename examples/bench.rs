//! The benchmark of issue 9, one command: `cargo run --release --example bench`.
//!
//! In one run it builds the release `etc-esign` binary (a no-op when fresh), then measures three
//! servers, each a child process of its own so that its RSS and start-up are its own:
//! - `baseline`: this program re-executed with `--baseline`, a bare tonic server (same release
//!   profile, same tokio runtime) whose `GetProcessDetail` answers a canned response of the same
//!   size as the real one, whose `StartFaceAuth` makes the service's two upstream calls and answers
//!   the link, and whose health says SERVING at once;
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
use etc_esign::domain::EvidenceKeys;
use etc_esign::domain::model::{
    CertNo, Evidence, EvidenceKind, EvidenceMethod, Handler, IdCardDocs, KeptPicture, LicenceDocs, OrgFlow,
    OrgFlowStatus, OrgInfo, OrgProfile, OrgSeal, PaymentProcess, PaymentProgress, Process, ReceivingAccount, Source,
    id_digest, mask_name,
};
use etc_esign::domain::ports::{
    ChangeSet, ESign, FaceAuthMode, FaceAuthRequest, FaceAuthStarted, PersonAccountRequest, Store,
};
use etc_esign::domain::values::{AccountId, FlowId, MemberNo, Mobile, PersonName, ResidentId, ValidPeriod};
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
/// Idle round trips measured per database, after a few not counted.
const ROUND_TRIP_WARMUP: usize = 5;
const ROUND_TRIPS: usize = 50;
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
        let addr = args.get(2).and_then(|a| a.parse().ok()).expect("--baseline ADDR UPSTREAM_URL");
        let upstream = args.get(3).expect("--baseline ADDR UPSTREAM_URL");
        runtime.block_on(baseline::serve(addr, upstream));
    } else if args.get(1).map(String::as_str) == Some("--seed") {
        // For profiling: `--seed DATABASE_URL` leaves a database seeded as the bench's own.
        let url = args.get(2).expect("--seed DATABASE_URL");
        runtime.block_on(seed(url));
    } else if args.get(1).map(String::as_str) == Some("--sim") {
        // For profiling starts: `--sim [DELAY_MS]` runs the bench's simulator (20 ms per upstream
        // call unless given) until killed, printing its URL for the server's ESIGN_BASE_URL.
        let delay = args.get(2).map(|d| d.parse().map(Duration::from_millis).expect("--sim [DELAY_MS]"));
        runtime.block_on(async {
            let sim = start_sim(delay.unwrap_or(UPSTREAM_DELAY)).await;
            println!("{}", sim.base_url());
            std::future::pending::<()>().await
        });
    } else if args.get(1).map(String::as_str) == Some("--starts") {
        // `--starts ADDR TAG SIM_URL`: the bench's StartFaceAuth run against a server started by
        // hand (TAG names its fresh members: a new one for each run on one database), alternated
        // with the upstream alone on the simulator the server calls.
        let usage = "--starts ADDR TAG SIM_URL";
        let addr = args.get(2).and_then(|a| a.parse().ok()).expect(usage);
        let (tag, sim_url) = (args.get(3).expect(usage), args.get(4).expect(usage));
        let starts = runtime.block_on(start_p50s(addr, tag, sim_url));
        println!(
            "StartFaceAuth p50 {:.2} ms, upstream alone p50 {:.2} ms: added {:.2} ms",
            starts.service,
            starts.upstream,
            starts.service - starts.upstream
        );
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

/// The evidence key the bench signs its seeded records with and gives the server (not the dev key,
/// which `serve` refuses).
const EVIDENCE_KEYS: &str = "bench=YmVuY2gtZXZpZGVuY2Uta2V5LW5vdC1yZWFsLTAxMjM=";

/// What one seeded member holds: the process, its two evidence records and its company flow.
struct Seeded {
    process: Process,
    evidence: Vec<Evidence>,
    org_flow: OrgFlow,
}

/// The seeded member, walked through the real state machine so that every column the detail reads
/// is filled (the encrypted ones too): the handler passed face recognition and the company a reverse
/// payment (two signed evidence records, confirmed), the seal saved, the card and licence pictures
/// kept; its history has the moves of that walk. The seal's URL stays fresh for the whole run, so no
/// read asks e签宝.
fn seeded(member_no: &str, keys: &EvidenceKeys) -> Seeded {
    let now = chrono::Utc::now();
    let today = now.date_naive();
    let member = MemberNo::parse(member_no).expect("member no");
    let handler = Handler {
        name: PersonName::parse("name", "张三").expect("name"),
        id_number: ResidentId::parse("id_number", ID_NUMBER).expect("id number"),
        mobile: Mobile::parse("mobile", MOBILE).expect("mobile"),
        valid_period: ValidPeriod::parse("valid_period", "2019.01.01-2039.01.01", today).expect("period"),
    };
    let account = AccountId::parse("account", "a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5").expect("account id");
    let org_id = AccountId::parse("org", "0f1e2d3c4b5a69788796a5b4c3d2e1f0").expect("org id");
    let face_flow = FlowId::parse("flow", &format!("face-{member_no}")).expect("flow id");
    let org_flow_id = FlowId::parse("flow", &format!("org-{member_no}")).expect("flow id");
    let mut p = Process::not_started(member.clone());
    p.handler_flow_started(handler, account.clone(), now).expect("face start");
    p.handler_passed(face_flow.clone(), now).expect("handler passed");
    let record = |position: i64, prev: &str, kind, method, name: &str, account: &str, flow: &str| {
        let cert_no = CertNo::random();
        let mut r = Evidence {
            cert_no,
            member_no: member.clone(),
            position,
            kind,
            masked_name: mask_name(name),
            id_digest: id_digest(&cert_no, ID_NUMBER),
            account_id: account.into(),
            flow_id: flow.into(),
            method,
            at: now,
            prev_digest: prev.into(),
            key_id: String::new(),
            signature: Vec::new(),
        };
        keys.sign(&mut r);
        r
    };
    let handler_record =
        record(0, "", EvidenceKind::Handler, EvidenceMethod::Face, "张三", account.as_str(), face_flow.as_str());
    p.evidence_written(&handler_record).expect("handler evidence");
    let org = OrgInfo {
        name: "房友科技有限公司".into(),
        id_number: "91350100M000100Y43".into(),
        id_type: "CRED_ORG_USCC".into(),
        legal_name: "李四".into(),
        legal_id_number: "11010519491231002X".into(),
    };
    let profile = OrgProfile {
        org_abbreviation: "房友".into(),
        org_contact: "李四".into(),
        location: "上海市".into(),
        address: "静安区广中路888号".into(),
        valid_period: "2020.01.01-2035.01.01".into(),
        org_type: "1".into(),
        contact_name: "李四".into(),
        contact_mobile: "13021221998".into(),
    };
    p.org_account_created(org, profile, org_id.clone(), now).expect("org account");
    p.org_flow_started(true, now).expect("org flow");
    p.org_passed(now).expect("org passed");
    let org_record = record(
        1,
        &handler_record.digest(),
        EvidenceKind::Org,
        EvidenceMethod::ReversePayment,
        "房友科技有限公司",
        org_id.as_str(),
        org_flow_id.as_str(),
    );
    p.evidence_written(&org_record).expect("org evidence");
    p.evidence_confirmed("bench-platform".into(), now).expect("confirmed");
    p.seal_started(now).expect("seal start");
    let seal = OrgSeal {
        seal_id: format!("seal-{member_no}"),
        alias: Some("房友公章".into()),
        file_key: Some(format!("$seal-file-key-{member_no}")),
        url: Some(format!("https://esign.example.com/seals/{member_no}.png?sig=0123456789abcdef")),
        // Fresh for longer than the run: the reads answer it and ask e签宝 nothing.
        url_expires_at: Some(now + chrono::Duration::hours(6)),
        created_at: Some(now),
    };
    p.seal_saved(seal, now).expect("seal saved");
    p.id_card = Some(IdCardDocs {
        front: KeptPicture::fresh(&member, "id-front"),
        back: KeptPicture::fresh(&member, "id-back"),
    });
    p.licence = Some(LicenceDocs {
        picture: KeptPicture::fresh(&member, "licence"),
        credit_code: "91350100M000100Y43".into(),
        address: Some("上海市静安区广中路888号".into()),
        valid_period: Some("2020.01.01-2035.01.01".into()),
    });
    let org_flow = OrgFlow {
        flow_id: org_flow_id,
        member_no: member,
        org_id,
        needs_payment: true,
        created_at: now,
        expires_at: now + chrono::Duration::days(30),
        status: OrgFlowStatus::Succeeded,
        fail_reason: None,
        finished_at: Some(now),
        payment_process: PaymentProcess::OrganFinished,
        receiving: Some(ReceivingAccount {
            main_account_name: "e签宝收款账户".into(),
            sub_account_no: "6222020200112233445".into(),
            main_account_bank: "中国工商银行".into(),
            payment_amount: "0.01".into(),
        }),
        progress: PaymentProgress {
            message: Some("打款成功".into()),
            sub_account: Some("6222020200112233445".into()),
            sub_account_channel_name: Some("工商银行".into()),
            main_account_name: Some("e签宝收款账户".into()),
            opp_account_no: Some("6217000010001234567".into()),
            opp_account_name: Some("房友科技有限公司".into()),
            opp_bank_name: Some("中国建设银行".into()),
            pay_amount: Some("0.01".into()),
            trade_time: Some(now),
            create_time: Some(now),
            modify_time: Some(now),
            biz_flow_no: Some(format!("biz-{member_no}")),
        },
        next_poll_at: now + chrono::Duration::days(30),
        poll_attempts: 0,
    };
    Seeded { process: p, evidence: vec![handler_record, org_record], org_flow }
}

fn bench_keys() -> EvidenceKeys {
    EvidenceKeys::parse(EVIDENCE_KEYS).expect("bench evidence keys")
}

mod baseline {
    use super::*;
    use etc_esign::grpc::pb::auth_service_server::{AuthService, AuthServiceServer};

    /// A trivial handler: the canned answer of a seeded member with the caller's member number;
    /// its StartFaceAuth makes the service's two upstream calls (account, face start) and answers
    /// the link, with nothing else: no validation, database, lease or log.
    struct Canned(pb::AuthProcess, EsignClient);

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
            req: Request<pb::StartFaceAuthRequest>,
        ) -> Result<Response<pb::StartFaceAuthResponse>, GrpcStatus> {
            let member =
                MemberNo::parse(&req.into_inner().etc_member_no).map_err(|_| GrpcStatus::invalid_argument("member"))?;
            let (account, started) = upstream_start(&self.1, &member).await;
            Ok(Response::new(pb::StartFaceAuthResponse {
                auth_url: started.auth_url,
                original_url: started.original_url,
                esign_account_id: account.as_str().into(),
                message: "success".into(),
                flow_id: started.flow_id.as_str().into(),
                ..Default::default()
            }))
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

    pub async fn serve(addr: SocketAddr, upstream: &str) {
        let canned = etc_esign::grpc::convert::process(&seeded(&member(0), &bench_keys()).process, chrono::Utc::now());
        let (health, health_service) = tonic_health::server::health_reporter();
        health.set_service_status(etc_esign::grpc::SERVICE_NAME, tonic_health::ServingStatus::Serving).await;
        tonic::transport::Server::builder()
            .tcp_nodelay(true)
            .add_service(health_service)
            .add_service(AuthServiceServer::new(Canned(canned, upstream_client(upstream))))
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
    /// The HTTP listener (`/metrics`); none for the baseline.
    http: Option<SocketAddr>,
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

fn spawn_baseline(dir: &Path, sim: &SimHandle) -> Server {
    let addr = free_port();
    let stderr = dir.join("baseline.stderr");
    let started = Instant::now();
    // /proc/self/exe, not current_exe(): the build at the start may have replaced the file.
    let child = Command::new("/proc/self/exe")
        .arg("--baseline")
        .arg(addr.to_string())
        .arg(sim.base_url())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&stderr).expect("stderr file"))
        .spawn()
        .expect("spawn the baseline");
    Server { name: "baseline", child, addr, http: None, started, stderr }
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
        .env("EVIDENCE_KEYS", EVIDENCE_KEYS)
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
    Server { name, child, addr, http: Some(http), started, stderr }
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
    let (store, keys) = (&store, &bench_keys());
    let seeded = futures::stream::iter(0..MEMBERS)
        .map(|i| async move {
            let Seeded { process, evidence, org_flow } = seeded(&member(i), keys);
            let changes = ChangeSet {
                process: Some(process),
                evidence,
                org_flows: vec![org_flow],
                source: Some(Source::Rpc { caller: SYS_ID.into(), method: "Seed".into() }),
                ..Default::default()
            };
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

/// The reads the bench drives: the detail (the main table), and the other reads on hot paths.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Read {
    Detail,
    ReversePayment,
    /// GetProcessHistory's first page (the default page size).
    History,
}

impl Read {
    fn name(self) -> &'static str {
        match self {
            Self::Detail => "GetProcessDetail",
            Self::ReversePayment => "GetReversePayment",
            Self::History => "GetProcessHistory (first page)",
        }
    }

    /// One call for `member`; whether it answered OK.
    async fn call(self, client: &mut AuthServiceClient<Channel>, member: &str) -> bool {
        let etc_member_no = member.to_owned();
        match self {
            Self::Detail => {
                let req = pb::GetProcessDetailRequest { etc_member_no, refresh: false };
                client.get_process_detail(authed(req)).await.is_ok()
            }
            Self::ReversePayment => {
                let req = pb::GetReversePaymentRequest { etc_member_no, refresh: false };
                client.get_reverse_payment(authed(req)).await.is_ok()
            }
            Self::History => {
                let req = pb::GetProcessHistoryRequest { etc_member_no, page_size: 0, page_token: String::new() };
                client.get_process_history(authed(req)).await.is_ok()
            }
        }
    }
}

/// `connections` × `in_flight` tasks call GetProcessDetail back to back on seeded members for
/// `warmup` + `measure`; only calls that start and end inside the measured window count.
async fn drive(addr: SocketAddr, connections: usize, in_flight: usize, warmup: Duration, measure: Duration) -> Load {
    drive_read(Read::Detail, addr, connections, in_flight, warmup, measure).await
}

/// As [`drive`], for the read `read`.
async fn drive_read(
    read: Read,
    addr: SocketAddr,
    connections: usize,
    in_flight: usize,
    warmup: Duration,
    measure: Duration,
) -> Load {
    // `BENCH_LOAD_MEMBERS` narrows the members read (profiling a warm cache under callgrind, whose
    // few calls a second would otherwise read mostly members not yet kept).
    let count =
        std::env::var("BENCH_LOAD_MEMBERS").ok().and_then(|v| v.parse().ok()).unwrap_or(MEMBERS).clamp(1, MEMBERS);
    let members: Arc<Vec<String>> = Arc::new((0..count).map(member).collect());
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
                    next = (next + 1) % members.len();
                    let ok = read.call(&mut client, &members[next]).await;
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

async fn start_sim(delay: Duration) -> SimHandle {
    let sim = Simulator::start(SimConfig {
        app_id: APP_ID.into(),
        app_secret: APP_SECRET.into(),
        bind: "127.0.0.1:0".parse().expect("addr"),
        public_base_url: None,
    })
    .await
    .expect("the simulator starts");
    for endpoint in [Endpoint::Account, Endpoint::Face] {
        sim.inject_fault(endpoint, FaultKind::Delay(delay), FaultTrigger::Probability(1.0));
    }
    sim
}

/// The service's own e签宝 client, for the simulator at `base_url`.
fn upstream_client(base_url: &str) -> EsignClient {
    EsignClient::new(EsignSettings {
        base_url: base_url.into(),
        app_id: APP_ID.into(),
        app_secret: APP_SECRET.into(),
        connect_timeout: Duration::from_secs(1),
        total_timeout: Duration::from_secs(5),
        read_retries: 0,
        retry_base_delay: Duration::from_millis(10),
    })
    .expect("e签宝 client")
}

/// What StartFaceAuth asks of e签宝 for a member never seen: its account, then the face start.
async fn upstream_start(client: &EsignClient, member: &MemberNo) -> (AccountId, FaceAuthStarted) {
    let account = client
        .create_person_account(&PersonAccountRequest {
            third_party_user_id: etc_esign::domain::values::AccountKey::new(member.clone(), 0),
            name: PersonName::parse("name", "张三").expect("name"),
            id_number: ResidentId::parse("id", ID_NUMBER).expect("id"),
            mobile: Mobile::parse("mobile", MOBILE).expect("mobile"),
        })
        .await
        .expect("account");
    let started = client
        .start_face_auth(&FaceAuthRequest {
            account_id: account.clone(),
            mode: FaceAuthMode::default(),
            repetition: true,
            redirect_url: Some("https://etc.example.com/face/done".into()),
            context_id: member.as_str().into(),
            notify_url: "http://127.0.0.1:9/esign/callback".into(),
        })
        .await
        .expect("face start");
    (account, started)
}

/// p50, in ms, of `calls` runs of `op` (given its run's number) after `warmup` runs not counted,
/// one at a time, each timed alone after `gap` of idling.
async fn p50_of(warmup: usize, calls: usize, gap: Duration, mut op: impl AsyncFnMut(usize)) -> f64 {
    let mut times = Vec::with_capacity(calls);
    for i in 0..warmup + calls {
        if !gap.is_zero() {
            tokio::time::sleep(gap).await;
        }
        let start = Instant::now();
        op(i).await;
        if i >= warmup {
            times.push(start.elapsed().as_secs_f64() * 1000.0);
        }
    }
    median(&sorted_ms(times))
}

/// The p50s, in ms, of a StartFaceAuth through a server and of the upstream alone.
struct Starts {
    service: f64,
    upstream: f64,
}

/// StartFaceAuth through the server at `addr`, one call at a time, each for a member never seen,
/// alternated call by call with the upstream alone: what StartFaceAuth asks of e签宝 (account, then
/// face start) made straight to the simulator at `sim_url` with the service's own e签宝 client.
/// Alternated, whatever drifts over the run (the machine's other work, the database's) moves both
/// alike, and "added" is the difference of the two p50s.
async fn start_p50s(addr: SocketAddr, tag: &str, sim_url: &str) -> Starts {
    let mut client = AuthServiceClient::new(channel(addr).await);
    let upstream = upstream_client(sim_url);
    let request = |i: usize| pb::StartFaceAuthRequest {
        etc_member_no: format!("F{tag}{i:09}"),
        name: "张三".into(),
        id_number: ID_NUMBER.into(),
        mobile: MOBILE.into(),
        valid_period: "2019.01.01-2039.01.01".into(),
        redirect_url: "https://etc.example.com/face/done".into(),
        face_auth_mode: 0,
    };
    let (mut service, mut alone) = (Vec::with_capacity(FACE_CALLS), Vec::with_capacity(FACE_CALLS));
    for i in 0..FACE_WARMUP_CALLS + FACE_CALLS {
        let started = Instant::now();
        client.start_face_auth(authed(request(i))).await.expect("StartFaceAuth");
        let through = started.elapsed();
        let member = MemberNo::parse(&format!("U{tag}{i:09}")).expect("member");
        let started = Instant::now();
        upstream_start(&upstream, &member).await;
        if i >= FACE_WARMUP_CALLS {
            service.push(through.as_secs_f64() * 1000.0);
            alone.push(started.elapsed().as_secs_f64() * 1000.0);
        }
    }
    Starts { service: median(&sorted_ms(service)), upstream: median(&sorted_ms(alone)) }
}

/// p50s of two statements alone on a database, each after its connection idled as long as a start's
/// upstream calls take: what one round trip of the start's lease and commit cost at least here.
struct RoundTrips {
    select: f64,
    upsert: f64,
}

/// One connection of its own to `url` (SQLite with the service's journal and sync settings), a
/// table of its own: `SELECT 1`, then a one-row upsert committed on its own, each 40 ms after the
/// last as a start's lease and commit are.
async fn round_trips(url: &str) -> RoundTrips {
    let mut opts = sea_orm::ConnectOptions::new(url.to_owned());
    opts.max_connections(1).min_connections(1).sqlx_logging(false);
    let db = Database::connect(opts).await.expect("connect for the round trips");
    if url.starts_with("sqlite") {
        db.execute_unprepared("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL").await.expect("pragmas");
    }
    db.execute_unprepared("CREATE TABLE bench_round_trip (k INTEGER PRIMARY KEY, v INTEGER NOT NULL)")
        .await
        .expect("round-trip table");
    let upsert = "INSERT INTO bench_round_trip (k, v) VALUES (1, 0) \
                  ON CONFLICT (k) DO UPDATE SET v = bench_round_trip.v + 1";
    let p50 = async |sql: &str| {
        p50_of(ROUND_TRIP_WARMUP, ROUND_TRIPS, 2 * UPSTREAM_DELAY, async |_| {
            db.execute_unprepared(sql).await.expect("round trip");
        })
        .await
    };
    let trips = RoundTrips { select: p50("SELECT 1").await, upsert: p50(upsert).await };
    db.execute_unprepared("DROP TABLE bench_round_trip").await.expect("drop the round-trip table");
    let _ = db.close().await;
    trips
}

/// The mean time each StartFaceAuth so far spent in the service apart from its upstream calls, in
/// ms, from the service's own `/metrics`: the RPC's duration less the account and face calls'.
/// Unlike the bench's p50, it leaves out the client and the gRPC hop, and the upstream's own time
/// is subtracted call by call, not as another run's p50.
async fn start_in_service_ms(http: SocketAddr) -> f64 {
    let text = reqwest::get(format!("http://{http}/metrics"))
        .await
        .and_then(|r| r.error_for_status())
        .expect("/metrics")
        .text()
        .await
        .expect("/metrics body");
    let sum = |prefix: &str, labels: &[&str]| -> f64 {
        text.lines()
            .filter(|l| l.starts_with(prefix) && labels.iter().any(|want| l.contains(want)))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    let start = ["method=\"/etc.esign.v1.AuthService/StartFaceAuth\""];
    let calls = sum("etc_esign_rpc_duration_seconds_count{", &start);
    let rpc = sum("etc_esign_rpc_duration_seconds_sum{", &start);
    let upstream = sum("etc_esign_upstream_duration_seconds_sum{", &["endpoint=\"account\"", "endpoint=\"face\""]);
    (rpc - upstream) / calls * 1000.0
}

// ------------------------------------------------------------------ the run

struct Row {
    name: &'static str,
    start_ms: f64,
    idle_mib: f64,
    load: Load,
    flood: Load,
    peak_mib: f64,
    starts: Starts,
    /// The mean time a start spent in the service less its upstream calls, from its `/metrics`.
    face_in_service: Option<f64>,
    /// The other reads (etc-esign only), each with its own load.
    reads: Vec<(Read, Load)>,
    /// Statements alone on the server's database, one connection idle between them as a start's
    /// connections are (etc-esign only).
    round_trips: Option<RoundTrips>,
}

/// The other reads' runs: the main run's load, shorter.
const READ_WARMUP: Duration = Duration::from_secs(1);
const READ_MEASURE: Duration = Duration::from_secs(5);

/// `server`'s row; `database`: the URL of an etc-esign server's database, whose other reads and
/// idle round trips are measured too.
async fn measure(mut server: Server, face_tag: &str, sim: &SimHandle, database: Option<&str>) -> Row {
    let start_ms = server.wait_serving().await;
    tokio::time::sleep(RSS_SETTLE).await;
    let (idle_mib, _) = server.rss();
    eprintln!("{}: SERVING after {start_ms:.0} ms; load …", server.name);
    let load = drive(server.addr, CONNECTIONS, IN_FLIGHT, WARMUP, MEASURE).await;
    eprintln!("{}: 1,000 streams …", server.name);
    let flood = drive(server.addr, FLOOD_CONNECTIONS, FLOOD_IN_FLIGHT, Duration::from_secs(1), FLOOD).await;
    let (_, peak_mib) = server.rss();
    let mut reads = Vec::new();
    if database.is_some() {
        for read in [Read::ReversePayment, Read::History] {
            eprintln!("{}: {} …", server.name, read.name());
            reads.push((read, drive_read(read, server.addr, CONNECTIONS, IN_FLIGHT, READ_WARMUP, READ_MEASURE).await));
        }
    }
    let starts = start_p50s(server.addr, face_tag, sim.base_url()).await;
    eprintln!("{}: StartFaceAuth p50 {:.2} ms, upstream alone {:.2} ms", server.name, starts.service, starts.upstream);
    let face_in_service = match server.http {
        Some(http) => Some(start_in_service_ms(http).await),
        None => None,
    };
    let name = server.name;
    server.stop();
    // After the server stopped: its database quiet, as between a start's statements.
    let round_trips = match database {
        Some(url) => Some(round_trips(url).await),
        None => None,
    };
    Row { name, start_ms, idle_mib, load, flood, peak_mib, starts, face_in_service, reads, round_trips }
}

async fn run() {
    eprintln!("building the release etc-esign …");
    let binary = build_service();
    let dir = tempfile::tempdir().expect("temp dir");
    let sim = start_sim(UPSTREAM_DELAY).await;
    let mut rows = vec![measure(spawn_baseline(dir.path(), &sim), "B", &sim, None).await];

    let sqlite_url = format!("sqlite://{}/bench.db", dir.path().display());
    eprintln!("seeding SQLite with {MEMBERS} members …");
    seed(&sqlite_url).await;
    let sqlite = spawn_service("etc-esign SQLite", &binary, &sqlite_url, &sim, dir.path());
    rows.push(measure(sqlite, "S", &sim, Some(&sqlite_url)).await);

    if let Some(pg) = create_pg().await {
        eprintln!("seeding PostgreSQL with {MEMBERS} members …");
        seed(&pg.url).await;
        let server = spawn_service("etc-esign PostgreSQL", &binary, &pg.url, &sim, dir.path());
        rows.push(measure(server, "P", &sim, Some(&pg.url)).await);
        drop_pg(pg).await;
    }
    sim.shutdown().await;
    print_table(&rows);
}

fn pass(ok: bool) -> &'static str {
    if ok { "PASS" } else { "MISS" }
}

fn print_table(rows: &[Row]) {
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
        "Other reads on hot paths: {CONNECTIONS} connections × {IN_FLIGHT} in flight, warm-up {READ_WARMUP:?}, \
         measured {READ_MEASURE:?}; the same seeded members"
    );
    println!("| server | read | req/s | p50 ms | p99 ms | req/s ÷ base detail | errors |");
    println!("|---|---|---:|---:|---:|---:|---:|");
    for r in rows {
        for (read, load) in &r.reads {
            println!(
                "| {} | {} | {:.0} | {:.2} | {:.2} | {:.2} | {} |",
                r.name,
                read.name(),
                load.rps(),
                load.pct_ms(0.5),
                load.pct_ms(0.99),
                load.rps() / base.load.rps(),
                load.errors
            );
        }
    }
    println!();
    println!(
        "StartFaceAuth: one call at a time, {FACE_CALLS} fresh members, simulator delay {UPSTREAM_DELAY:?} on each of \
         its 2 upstream calls, alternated call by call with the upstream alone"
    );
    println!(
        "| server | p50 ms | upstream alone p50 ms | added over upstream ms | added over the bare delays ms \
         | added over the baseline's ms | in the service, mean ms | its database alone, idle: SELECT 1 / upsert ms |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    let delays = 2.0 * UPSTREAM_DELAY.as_secs_f64() * 1000.0;
    for r in rows {
        let (p50, upstream) = (r.starts.service, r.starts.upstream);
        let (over_base, inside, alone) = match (r.face_in_service, &r.round_trips) {
            (Some(inside), Some(rt)) => (
                format!("{:.2}", p50 - base.starts.service),
                format!("{inside:.2}"),
                format!("{:.2} / {:.2}", rt.select, rt.upsert),
            ),
            _ => ("–".into(), "–".into(), "–".into()),
        };
        println!(
            "| {} | {p50:.2} | {upstream:.2} | {:.2} | {:.2} | {over_base} | {inside} | {alone} |",
            r.name,
            p50 - upstream,
            p50 - delays
        );
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
        let added = r.starts.service - r.starts.upstream;
        println!("| StartFaceAuth adds ≤ 1 ms at p50 ({db}) | {added:.2} ms | {} |", pass(added <= 1.0));
        println!("| RSS idle ≤ 25 MiB ({db}) | {:.1} MiB | {} |", r.idle_mib, pass(r.idle_mib <= 25.0));
        println!("| RSS peak ≤ 80 MiB, 1,000 streams ({db}) | {:.1} MiB | {} |", r.peak_mib, pass(r.peak_mib <= 80.0));
        if db == "SQLite" {
            println!("| SERVING ≤ 300 ms, migrated SQLite | {:.0} ms | {} |", r.start_ms, pass(r.start_ms <= 300.0));
        }
    }
}
