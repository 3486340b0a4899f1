//! Reliability: the service killed with SIGKILL under load and restarted on the same database, a
//! chaos run against a simulator failing a fifth of everything, and two replicas sharing one
//! PostgreSQL. Each test ends by comparing every member with the simulator's own record, and
//! appends one JSON line of counts to `$ETC_ESIGN_COUNTS_FILE` (read by `.ci/run`'s summary).
use std::collections::BTreeMap;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use etc_esign::esign::api::FlowStatus;
use etc_esign::grpc::pb::{self, AuthProcessStatus as S, auth_service_client::AuthServiceClient};
use etc_esign::sim::{CallbackFault, Chaos, DeliveryState, Endpoint, FaultKind, FaultTrigger, SimHandle};
use sea_orm::{ConnectionTrait, Database, Statement};
use tonic::transport::Channel;

use crate::helpers::*;

// ------------------------------------------------------------------ shared pieces

/// What a test did and what it found; `lost` and `duplicated` must end at zero.
#[derive(Debug, Default)]
struct Counts {
    calls: u64,
    faults: u64,
    transitions: u64,
    lost: Vec<String>,
    duplicated: Vec<String>,
    /// member → (status, update_time) when the member was first seen where its walk ends.
    reached: BTreeMap<String, (i32, Option<prost_types::Timestamp>)>,
}

impl Counts {
    /// Appends the counts to `$ETC_ESIGN_COUNTS_FILE`, then fails the test on anything lost or duplicated.
    fn report(self, test: &str) {
        let line = format!(
            "{{\"test\":\"{test}\",\"calls\":{},\"faults\":{},\"transitions\":{},\"lost\":{},\"duplicated\":{}}}",
            self.calls,
            self.faults,
            self.transitions,
            self.lost.len(),
            self.duplicated.len()
        );
        eprintln!("{line}");
        if let Ok(path) = std::env::var("ETC_ESIGN_COUNTS_FILE")
            && !path.is_empty()
        {
            let mut f = std::fs::OpenOptions::new().create(true).append(true).open(&path).expect("open counts file");
            writeln!(f, "{line}").expect("write counts file");
        }
        assert!(self.lost.is_empty(), "{test}: lost {:?}", self.lost);
        assert!(self.duplicated.is_empty(), "{test}: duplicated {:?}", self.duplicated);
    }
}

fn org_request(member: &str, request_id: &str) -> pb::CreateOrgAuthorizationRequest {
    pb::CreateOrgAuthorizationRequest {
        etc_member_no: member.into(),
        request_id: request_id.into(),
        // The member's own company (one per member: the simulator's record tells whose letter it is).
        organize_id: String::new(),
        contact: "15300001111".into(),
        send_notice: None,
        auth_type: pb::AuthType::Platform as i32,
        handler_person_id: String::new(),
        // Fixed (2030-12-31), so that a retry with the same request id is the same request.
        valid_date: Some(prost_types::Timestamp { seconds: 1_924_905_600, nanos: 0 }),
        seal_scope: String::new(),
        file_type: String::new(),
        redirect_url: String::new(),
    }
}

/// The member's company account at e签宝 (made by StartOrgAuth, one per member).
fn org_of(sim: &SimHandle, member: &str) -> Option<String> {
    sim.orgs().into_iter().find(|o| o.third_party_user_id == member).map(|o| o.org_id)
}

fn upstream_auths(sim: &SimHandle, member: &str) -> Vec<String> {
    let Some(org) = org_of(sim, member) else { return Vec::new() };
    sim.authorizations().into_iter().filter(|a| a.organize_id == org).map(|a| a.auth_id).collect()
}

/// Walks a member whose handler passed on to ORG_SEAL_SAVED, ready to authorize: its company by its
/// legal person (the handler), then e签宝's own default seal; calls answering UNAVAILABLE are
/// retried. Answers the calls made.
async fn seal_walk(client: &AuthServiceClient<Channel>, member: &str) -> u64 {
    let (mut calls, mut scratch) = (0, Counts::default());
    let passed = BTreeMap::from([(member.to_owned(), S::HandlerAuthed)]);
    let stuck = wait_all(client, &passed, Duration::from_secs(60), &mut scratch).await;
    assert!(stuck.is_empty(), "{stuck:?}");
    retry_unavailable(&mut calls, Duration::from_secs(30), || {
        let (mut c, req) = (client.clone(), authed(legal_person_request(member)));
        async move { c.start_org_auth(req).await }
    })
    .await;
    let verified = BTreeMap::from([(member.to_owned(), S::CertUnconfirmed)]);
    let stuck = wait_all(client, &verified, Duration::from_secs(60), &mut scratch).await;
    assert!(stuck.is_empty(), "{stuck:?}");
    retry_unavailable(&mut calls, Duration::from_secs(30), || {
        let req = pb::ConfirmEvidenceRequest { etc_member_no: member.into(), confirmer: "platform-ops".into() };
        let (mut c, req) = (client.clone(), authed(req));
        async move { c.confirm_evidence(req).await }
    })
    .await;
    retry_unavailable(&mut calls, Duration::from_secs(30), || {
        let req = pb::CreateOrgSealRequest { etc_member_no: member.into(), template: None };
        let (mut c, req) = (client.clone(), authed(req));
        async move { c.create_org_seal(req).await }
    })
    .await;
    calls + scratch.calls
}

/// A channel that connects on first use, so calls to a dead server fail instead of the setup.
fn lazy_client(addr: SocketAddr) -> AuthServiceClient<Channel> {
    let channel = Channel::from_shared(format!("http://{addr}"))
        .expect("uri")
        .connect_timeout(Duration::from_secs(1))
        .timeout(Duration::from_secs(25))
        .connect_lazy();
    AuthServiceClient::new(channel)
}

async fn status_of(client: &AuthServiceClient<Channel>, member: &str) -> Result<pb::AuthProcess, tonic::Status> {
    let mut c = client.clone();
    let req = pb::GetProcessDetailRequest { etc_member_no: member.into(), refresh: false };
    Ok(c.get_process_detail(authed(req)).await?.into_inner().process.unwrap_or_default())
}

/// Waits until every member shows its wanted status; answers the members that never did.
async fn wait_all(
    client: &AuthServiceClient<Channel>,
    want: &BTreeMap<String, S>,
    within: Duration,
    counts: &mut Counts,
) -> Vec<String> {
    let deadline = Instant::now() + within;
    let mut pending: Vec<&String> = want.keys().collect();
    loop {
        let mut still = Vec::new();
        for m in pending {
            counts.calls += 1;
            match status_of(client, m).await {
                Ok(p) if p.status == want[m] as i32 => {
                    counts.transitions += 1;
                    counts.reached.insert(m.clone(), (p.status, p.update_time));
                }
                _ => still.push(m),
            }
        }
        pending = still;
        if pending.is_empty() || Instant::now() >= deadline {
            return pending.into_iter().map(|m| format!("{m}: never reached {:?}", want[m])).collect();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Each process's row version: 1 when created, +1 per committed change.
async fn versions(url: &str) -> BTreeMap<String, i64> {
    let db = Database::connect(url).await.expect("connect to the test database");
    let rows = db
        .query_all_raw(Statement::from_string(db.get_database_backend(), "SELECT member_no, version FROM processes"))
        .await
        .expect("read processes");
    let out = rows
        .into_iter()
        .map(|r| {
            let member: String = r.try_get("", "member_no").expect("member_no");
            let version: i64 = r.try_get("", "version").expect("version");
            (member, version)
        })
        .collect();
    let _ = db.close().await;
    out
}

/// No transition applied twice: a process's row version counts its commits (created 1, face started
/// 2, face result 3, authorization started 4, its result 5), so a walk ending short of a signed
/// letter must not exceed its count; and no member moves (status or update_time) after it was first
/// seen where its walk ends. (A signed letter's row also takes fresher copies of the letter's URL,
/// which change no status, so its version has no fixed bound.)
/// How often each outcome of a step (a status only an ended step reaches) was entered, by the history.
async fn outcomes_applied(client: &AuthServiceClient<Channel>, member: &str) -> BTreeMap<S, usize> {
    const OUTCOMES: [S; 8] = [
        S::HandlerAuthed,
        S::HandlerAuthFailed,
        S::OrgAuthed,
        S::CertUnconfirmed,
        S::CertConfirmed,
        S::OrgSealSaved,
        S::AuthorizeFinish,
        S::AuthorizeFailed,
    ];
    let req = pb::GetProcessHistoryRequest { etc_member_no: member.into(), page_size: 500, page_token: String::new() };
    let list = client.clone().get_process_history(authed(req)).await.expect("history").into_inner().transitions;
    let mut applied = BTreeMap::new();
    // Status moves only (a seal review is an entry of its own, from a status to the same one).
    for t in list.iter().filter(|t| t.kind() == pb::TransitionKind::Unspecified && OUTCOMES.contains(&t.to_status())) {
        *applied.entry(t.to_status()).or_insert(0) += 1;
    }
    applied
}

async fn check_applied_once(
    client: &AuthServiceClient<Channel>,
    url: &str,
    want: &BTreeMap<String, S>,
    counts: &mut Counts,
) {
    let versions = versions(url).await;
    for (member, end) in want {
        // The face step writes only after e签宝 answered: one commit a move, plus the lease row. The
        // later steps write before they ask e签宝 (ORG_NOT_AUTH, ORG_SEAL_UNSAVE, UNAUTHORIZED), so a
        // retried call legitimately commits again; there the history shows whether any outcome was
        // applied twice.
        let bound = match end {
            S::HandlerAuthing => 2,
            S::HandlerAuthed | S::HandlerAuthFailed => 3,
            _ => i64::MAX,
        };
        let v = versions.get(member).copied().unwrap_or(0);
        if v > bound {
            counts.duplicated.push(format!("{member}: {v} commits for a walk to {end:?}"));
        }
        counts.calls += 1;
        for (outcome, n) in outcomes_applied(client, member).await {
            if n > 1 {
                counts.duplicated.push(format!("{member}: {outcome:?} applied {n} times"));
            }
        }
        counts.calls += 1;
        let now = status_of(client, member).await.map(|p| (p.status, p.update_time)).ok();
        if now.is_none() || now.as_ref() != counts.reached.get(member) {
            counts.duplicated.push(format!("{member}: moved after reaching {end:?}: {now:?}"));
        }
        counts.transitions += 1;
    }
}

// ------------------------------------------------------------------ crash and restart

/// One call of the load, and whether the server acknowledged it (answered OK) before the crash.
#[derive(Debug, Clone)]
enum Call {
    StartFace { member: String },
    CreateAuth { member: String },
    PassFace { member: String, flow_id: String },
    SignAuth { member: String, auth_id: String },
}

#[derive(Debug, Default)]
struct Acks {
    /// member → flow id answered by an acknowledged StartFaceAuth.
    flows: BTreeMap<String, String>,
    /// member → auth id answered by an acknowledged CreateOrgAuthorization.
    auths: BTreeMap<String, String>,
    done: u64,
}

#[tokio::test]
async fn a_killed_server_loses_no_acknowledged_call_and_duplicates_no_upstream_flow() {
    const PER_KIND: usize = 10;
    let started = Instant::now();
    let sim = Arc::new(start_sim().await);
    // e签宝 retries a callback the dead server did not take; quickly here.
    sim.set_callback_retries(20, Duration::from_millis(200));
    let db = TestDb::fresh().await;
    let mut env = serve_env(db.url(), sim.base_url(), free_addr(), free_addr());
    for (key, value) in [
        ("ESIGN_TIMEOUT_MS", "3000"),
        ("RECONCILE_INTERVAL_MS", "100"),
        ("POLL_INITIAL_MS", "300"),
        ("POLL_MAX_MS", "1000"),
        ("CALLBACK_RATE_PER_SEC", "1000"),
        ("REPLICA_ID", "crash-test"),
        ("RUST_LOG", "warn"),
    ] {
        set_env(&mut env, key, value);
    }
    let mut server = ServeProcess::start(env).await;
    let client = lazy_client(server.grpc_addr);
    let mut counts = Counts::default();

    // The load, four kinds of member: F starts its face flow, A (authenticated) creates its letter,
    // P's face is passed and S's letter is signed at e签宝, whose callbacks are then in flight.
    let mut load = Vec::new();
    for i in 0..PER_KIND {
        load.push(Call::StartFace { member: format!("CRASH-F{i}") });
        let m = format!("CRASH-A{i}");
        let flow = client.clone().start_face_auth(authed(face_request(&m))).await.expect("face").into_inner();
        sim.pass_face(&flow.flow_id).expect("pass");
        counts.calls += seal_walk(&client, &m).await;
        load.push(Call::CreateAuth { member: m });
        let m = format!("CRASH-P{i}");
        let flow = client.clone().start_face_auth(authed(face_request(&m))).await.expect("face").into_inner();
        load.push(Call::PassFace { member: m, flow_id: flow.flow_id });
        let m = format!("CRASH-S{i}");
        let flow = client.clone().start_face_auth(authed(face_request(&m))).await.expect("face").into_inner();
        sim.pass_face(&flow.flow_id).expect("pass");
        counts.calls += 5 + seal_walk(&client, &m).await;
        let auth =
            client.clone().create_org_authorization(authed(org_request(&m, "req-1"))).await.expect("auth").into_inner();
        load.push(Call::SignAuth { member: m, auth_id: auth.auth_id });
    }
    // Slow upstream writes a little, so that the kill lands while some are between e签宝 and the commit.
    for endpoint in [Endpoint::Face, Endpoint::AuthCreate] {
        sim.inject_fault(endpoint, FaultKind::Delay(Duration::from_millis(40)), FaultTrigger::Probability(0.5));
    }

    // The load: four workers take calls off one queue; the server dies after a third is acknowledged.
    let queue = Arc::new(Mutex::new(load.clone()));
    let acks = Arc::new(Mutex::new(Acks::default()));
    let mut workers = Vec::new();
    for _ in 0..4 {
        let (queue, acks, client, sim) = (queue.clone(), acks.clone(), client.clone(), sim.clone());
        workers.push(tokio::spawn(async move {
            loop {
                let Some(call) = queue.lock().expect("queue").pop() else { return };
                let mut c = client.clone();
                match call {
                    Call::StartFace { member } => {
                        if let Ok(r) = c.start_face_auth(authed(face_request(&member))).await {
                            acks.lock().expect("acks").flows.insert(member, r.into_inner().flow_id);
                        }
                    }
                    Call::CreateAuth { member } => {
                        if let Ok(r) = c.create_org_authorization(authed(org_request(&member, "req-1"))).await {
                            acks.lock().expect("acks").auths.insert(member, r.into_inner().auth_id);
                        }
                    }
                    // e签宝 takes the press and owes the service a callback, whatever the service's state.
                    Call::PassFace { flow_id, .. } => drop(sim.pass_face(&flow_id)),
                    Call::SignAuth { auth_id, .. } => drop(sim.sign_authorization(&auth_id)),
                }
                acks.lock().expect("acks").done += 1;
            }
        }));
    }
    let third = (load.len() / 3) as u64;
    eventually(Duration::from_secs(30), "a third of the load to finish", || async {
        (acks.lock().expect("acks").done >= third).then_some(())
    })
    .await;
    server.kill();
    counts.faults += 1;
    for w in workers {
        w.await.expect("worker");
    }
    counts.calls += load.len() as u64;
    server.restart().await;
    let client = lazy_client(server.grpc_addr);
    let acks = std::mem::take(&mut *acks.lock().expect("acks"));

    // Acknowledged starts survived: the same flow or letter is answered again, and nothing new is
    // created upstream. Unacknowledged ones are retried once, as a client would.
    let mut want = BTreeMap::new();
    for call in &load {
        let c = client.clone();
        match call {
            Call::StartFace { member } => {
                let before = sim.flows_for_context(member).len();
                let flow_id = retry_unavailable(&mut counts.calls, Duration::from_secs(60), || {
                    let (mut c, req) = (c.clone(), authed(face_request(member)));
                    async move { c.start_face_auth(req).await }
                })
                .await
                .flow_id;
                let after = sim.flows_for_context(member).len();
                check_retry(member, "face flow", acks.flows.get(member), &flow_id, (before, after), &mut counts);
                sim.pass_face(&flow_id).expect("pass");
                want.insert(member.clone(), S::HandlerAuthed);
            }
            Call::CreateAuth { member } => {
                let before = upstream_auths(&sim, member).len();
                let auth_id = retry_unavailable(&mut counts.calls, Duration::from_secs(60), || {
                    let (mut c, req) = (c.clone(), authed(org_request(member, "req-1")));
                    async move { c.create_org_authorization(req).await }
                })
                .await
                .auth_id;
                let after = upstream_auths(&sim, member).len();
                check_retry(member, "letter", acks.auths.get(member), &auth_id, (before, after), &mut counts);
                sim.sign_authorization(&auth_id).expect("sign");
                want.insert(member.clone(), S::AuthorizeFinish);
            }
            // A press the load never made happens now; either way the callback (delivered, retried
            // or lost) or the reconciler must finish the step.
            Call::PassFace { member, flow_id } => {
                if sim.flow(flow_id).is_some_and(|f| !f.status.is_final()) {
                    sim.pass_face(flow_id).expect("pass");
                }
                want.insert(member.clone(), S::HandlerAuthed);
            }
            Call::SignAuth { member, auth_id } => {
                if sim.authorization(auth_id).is_some_and(|a| a.status == 1) {
                    sim.sign_authorization(auth_id).expect("sign");
                }
                want.insert(member.clone(), S::AuthorizeFinish);
            }
        }
    }
    let never = wait_all(&client, &want, Duration::from_secs(60), &mut counts).await;
    counts.lost.extend(never);

    // No member has more upstream flows or letters than calls made for it (the load's and one retry).
    // A second one is an orphan: e签宝 made it for a call killed before its commit (reported, not a
    // duplicate: the service never answered it, and no retry can know of it without an outbox).
    let mut orphans = 0;
    for (member, end) in &want {
        let flows = sim.flows_for_context(member).len();
        let letters = if *end == S::AuthorizeFinish { upstream_auths(&sim, member).len() } else { 0 };
        if flows > 2 || letters > 2 {
            counts.duplicated.push(format!("{member}: {flows} flows, {letters} letters upstream"));
        }
        orphans += usize::from(flows == 2) + usize::from(letters == 2);
    }
    check_applied_once(&client, db.url(), &want, &mut counts).await;
    let delivered = sim.callbacks().iter().filter(|c| c.state == DeliveryState::Delivered).count();
    counts.calls += delivered as u64;
    counts.faults += sim.calls().faulted;
    server.kill();
    db.drop_db().await;
    eprintln!(
        "crash and restart: {} members, {orphans} orphaned upstream objects, in {:.1}s",
        want.len(),
        started.elapsed().as_secs_f64()
    );
    counts.report("crash-restart");
}

/// A client retrying the same request while it answers UNAVAILABLE (safe to retry, by contract),
/// up to `within`; any other failure fails the test.
async fn retry_unavailable<T, F, Fut>(calls: &mut u64, within: Duration, mut call: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
{
    let deadline = Instant::now() + within;
    loop {
        *calls += 1;
        match call().await {
            Ok(r) => return r.into_inner(),
            // Cancelled: the client's own timeout, while the server waits out a dead holder's lease.
            Err(s)
                if Instant::now() < deadline
                    && matches!(s.code(), tonic::Code::Unavailable | tonic::Code::Cancelled) =>
            {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(s) => panic!("a retried call failed: {s:?}"),
        }
    }
}

/// After the crash: an acknowledged start answers the same id again and creates nothing upstream;
/// an unacknowledged one (retried once) leaves at most one upstream object per call made, since
/// the first call may have died between e签宝 and its commit.
fn check_retry(
    member: &str,
    what: &str,
    acked: Option<&String>,
    answered: &str,
    (before, after): (usize, usize),
    counts: &mut Counts,
) {
    match acked {
        Some(acked) if acked != answered => counts.lost.push(format!("{member}: {what} {acked} replaced")),
        Some(_) if after != before => counts.duplicated.push(format!("{member}: a second {what}")),
        _ if after > 2 => counts.duplicated.push(format!("{member}: {after} {what}s upstream for 2 calls")),
        _ => {}
    }
}

// ------------------------------------------------------------------ chaos

#[tokio::test]
async fn under_chaos_every_member_ends_where_esign_says() {
    const MEMBERS: usize = 200;
    const WORKERS: usize = 16;
    let started = Instant::now();
    let app = spawn_app_with(|c| {
        c.poll_initial = Duration::from_millis(200);
        c.poll_max = Duration::from_millis(800);
        c.reconciler.interval = Duration::from_millis(100);
    })
    .await;
    // A fifth of all upstream calls and callbacks fail at random: 5xx, delays (below the client's
    // timeout), garbage bodies, dropped, duplicated and reordered callbacks.
    app.sim.set_chaos(Some(Chaos { probability: 0.2, seed: 20_261_124, max_delay: Duration::from_millis(300) }));
    app.sim.set_callback_retries(3, Duration::from_millis(100));
    let (client, sim) = (&app.client, &app.sim);
    // Sixteen walks at a time, each taking the next member off a shared counter.
    let next = Mutex::new(0usize);
    let worker = || async {
        let mut calls = 0u64;
        let mut ends = Vec::new();
        loop {
            let i = {
                let mut n = next.lock().expect("next");
                *n += 1;
                *n - 1
            };
            if i >= MEMBERS {
                return (calls, ends);
            }
            let (end, c) = chaos_walk(client, sim, i).await;
            calls += c;
            ends.push((format!("CHAOS{i:04}"), end));
        }
    };
    let mut counts = Counts::default();
    let mut want = BTreeMap::new();
    for (calls, ends) in futures::future::join_all((0..WORKERS).map(|_| worker())).await {
        counts.calls += calls;
        want.extend(ends);
    }
    // Callbacks held back by a reorder go out now; dropped ones are the reconciler's job.
    sim.release_held_callbacks();
    let never = wait_all(client, &want, Duration::from_secs(60), &mut counts).await;
    counts.lost.extend(never);

    // The simulator's own record decides what each member's process must be.
    for (member, end) in &want {
        let flows = sim.flows_for_context(member);
        if flows.len() != 1 {
            counts.duplicated.push(format!("{member}: {} upstream face flows", flows.len()));
            continue;
        }
        let by_sim = match flows[0].status {
            FlowStatus::Fail => S::HandlerAuthFailed,
            FlowStatus::Success => match upstream_auths(sim, member).as_slice() {
                [] => S::OrgSealSaved,
                [auth_id] => match sim.authorization(auth_id).map(|a| a.status) {
                    Some(2) => S::AuthorizeFinish,
                    Some(3) => S::AuthorizeFailed,
                    _ => S::Authorizing,
                },
                many => {
                    counts.duplicated.push(format!("{member}: {} upstream letters", many.len()));
                    continue;
                }
            },
            _ => S::HandlerAuthing,
        };
        if by_sim != *end {
            counts.lost.push(format!("{member}: the simulator says {by_sim:?}, the walk wanted {end:?}"));
        }
    }
    let db_url = app.config.database_url.clone();
    check_applied_once(client, &db_url, &want, &mut counts).await;
    counts.faults += sim.calls().faulted + sim.callbacks().iter().filter(|c| c.fault.is_some()).count() as u64;
    sim.set_chaos(None);
    app.finish().await;
    eprintln!("chaos: {MEMBERS} members in {:.1}s", started.elapsed().as_secs_f64());
    counts.report("chaos");
}

/// One member's walk: face passes (every fifth fails), then the letter is signed (every seventh is
/// refused). Answers where the member must end, and the calls made.
async fn chaos_walk(client: &AuthServiceClient<Channel>, sim: &SimHandle, i: usize) -> (S, u64) {
    let member = format!("CHAOS{i:04}");
    let mut calls = 0;
    let face = retry_unavailable(&mut calls, Duration::from_secs(30), || {
        let (mut c, req) = (client.clone(), authed(face_request(&member)));
        async move { c.start_face_auth(req).await }
    })
    .await;
    if i.is_multiple_of(5) {
        sim.fail_face(&face.flow_id, Some("chaos: not the same person")).expect("fail");
        return (S::HandlerAuthFailed, calls);
    }
    sim.pass_face(&face.flow_id).expect("pass");
    calls += seal_walk(client, &member).await;
    let req = org_request(&member, "req-1");
    let auth = retry_unavailable(&mut calls, Duration::from_secs(30), || {
        let (mut c, req) = (client.clone(), authed(req.clone()));
        async move { c.create_org_authorization(req).await }
    })
    .await;
    if i.is_multiple_of(7) {
        sim.refuse_authorization(&auth.auth_id, Some("chaos: refused")).expect("refuse");
        return (S::AuthorizeFailed, calls);
    }
    sim.sign_authorization(&auth.auth_id).expect("sign");
    (S::AuthorizeFinish, calls)
}

// ------------------------------------------------------------------ two replicas

/// One upstream exchange seen by the recording proxy.
#[derive(Debug, Clone)]
struct Exchange {
    path: String,
    start: Instant,
    end: Instant,
}

/// A pass-through in front of the simulator that records when each poll started and ended, so the
/// test can see two replicas polling one item at the same time.
async fn recording_proxy(upstream: String) -> (String, Arc<Mutex<Vec<Exchange>>>) {
    use axum::body::Body;
    use axum::extract::{Request, State};
    use axum::http::{StatusCode, header};
    use axum::response::{IntoResponse, Response};

    type Shared = (reqwest::Client, String, Arc<Mutex<Vec<Exchange>>>);
    async fn forward(State((http, upstream, log)): State<Shared>, req: Request) -> Response {
        let (parts, body) = req.into_parts();
        let Ok(body) = axum::body::to_bytes(body, 1 << 20).await else {
            return StatusCode::BAD_REQUEST.into_response();
        };
        let path = parts.uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
        let mut out = http.request(parts.method.clone(), format!("{upstream}{path}"));
        for (name, value) in &parts.headers {
            if name != header::HOST && name != header::CONTENT_LENGTH {
                out = out.header(name, value);
            }
        }
        let start = Instant::now();
        let answer = out.body(body).send().await;
        let end = Instant::now();
        log.lock().expect("log").push(Exchange { path, start, end });
        let Ok(answer) = answer else { return StatusCode::BAD_GATEWAY.into_response() };
        let status = answer.status();
        let content_type = answer.headers().get(header::CONTENT_TYPE).cloned();
        let bytes = answer.bytes().await.unwrap_or_default();
        let mut r = Response::new(Body::from(bytes));
        *r.status_mut() = status;
        if let Some(ct) = content_type {
            r.headers_mut().insert(header::CONTENT_TYPE, ct);
        }
        r
    }

    let log = Arc::new(Mutex::new(Vec::new()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
    let addr = listener.local_addr().expect("proxy addr");
    let router = axum::Router::new().fallback(forward).with_state((reqwest::Client::new(), upstream, log.clone()));
    tokio::spawn(async move { axum::serve(listener, router).await });
    (format!("http://{addr}"), log)
}

/// Pairs of polls of one item (flow outline or authorization query) that overlapped in time.
fn overlapping_polls(log: &[Exchange]) -> Vec<String> {
    let mut by_item: BTreeMap<&str, Vec<&Exchange>> = BTreeMap::new();
    for e in log {
        let item = e.path.split('?').next().unwrap_or_default();
        if item.ends_with("/outline") || (item.starts_with("/v1/authorizations/") && item.len() > 19) {
            by_item.entry(item).or_default().push(e);
        }
    }
    let mut out = Vec::new();
    for (item, mut polls) in by_item {
        polls.sort_by_key(|e| e.start);
        for pair in polls.windows(2) {
            if pair[1].start < pair[0].end {
                out.push(format!("{item} polled twice at once"));
            }
        }
    }
    out
}

/// How many flow outlines and authorization queries a replica sent, from its Prometheus counters.
async fn polls_of(http_addr: SocketAddr) -> f64 {
    let text = reqwest::get(format!("http://{http_addr}/metrics"))
        .await
        .expect("GET /metrics")
        .text()
        .await
        .expect("metrics body");
    text.lines()
        .filter(|l| l.starts_with("etc_esign_upstream_requests_total{"))
        .filter(|l| l.contains("endpoint=\"outline\"") || l.contains("endpoint=\"auth_query\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test]
async fn two_replicas_share_the_work_without_polling_one_item_twice_at_once() {
    const MEMBERS: usize = 40;
    let db = TestDb::fresh().await;
    if !db.is_postgres() {
        eprintln!("two replicas: skipped on SQLite (replicas share one PostgreSQL; .ci/run's PostgreSQL pass runs it)");
        return;
    }
    let started = Instant::now();
    let sim = start_sim().await;
    let (proxy_url, log) = recording_proxy(sim.base_url().to_owned()).await;
    let mut config = test_config(db.url(), &proxy_url);
    config.poll_initial = Duration::from_millis(100);
    config.poll_max = Duration::from_millis(400);
    config.reconciler.interval = Duration::from_millis(50);
    let mut replicas = Vec::new();
    for name in ["replica-a", "replica-b"] {
        let mut c = config.clone();
        c.replica_id = name.into();
        let app = start_and_wait(c).await;
        replicas.push((connect(app.grpc_addr).await, app));
    }
    // Polls take a while, so that two replicas polling one item would overlap; half the callbacks
    // are lost, so that polling has work to do.
    for endpoint in [Endpoint::Outline, Endpoint::AuthQuery] {
        sim.inject_fault(endpoint, FaultKind::Delay(Duration::from_millis(60)), FaultTrigger::Probability(1.0));
    }
    sim.inject_callback_fault(CallbackFault::Drop, FaultTrigger::Probability(0.5));
    let mut counts = Counts::default();

    // Each member starts on one replica (so its callbacks go there) and authorizes on the other.
    let mut want = BTreeMap::new();
    for i in 0..MEMBERS {
        let member = format!("DUO{i:03}");
        let mut c = replicas[i % 2].0.clone();
        let face = c.start_face_auth(authed(face_request(&member))).await.expect("StartFaceAuth").into_inner();
        sim.pass_face(&face.flow_id).expect("pass");
        want.insert(member, S::HandlerAuthed);
        counts.calls += 2;
    }
    let never = wait_all(&replicas[0].0, &want, Duration::from_secs(60), &mut counts).await;
    counts.lost.extend(never);
    for (i, member) in want.keys().enumerate() {
        counts.calls += seal_walk(&replicas[i % 2].0, member).await;
        let mut c = replicas[(i + 1) % 2].0.clone();
        let auth = c.create_org_authorization(authed(org_request(member, "req-1"))).await.expect("create").into_inner();
        sim.sign_authorization(&auth.auth_id).expect("sign");
        counts.calls += 2;
    }
    want.values_mut().for_each(|s| *s = S::AuthorizeFinish);
    let never = wait_all(&replicas[1].0, &want, Duration::from_secs(60), &mut counts).await;
    counts.lost.extend(never);

    let log = log.lock().expect("log").clone();
    counts.duplicated.extend(overlapping_polls(&log));
    for member in want.keys() {
        if sim.flows_for_context(member).len() != 1 || upstream_auths(&sim, member).len() != 1 {
            counts.duplicated.push(format!("{member}: more than one upstream flow or letter"));
        }
    }
    check_applied_once(&replicas[0].0, db.url(), &want, &mut counts).await;
    let polls = log.iter().filter(|e| e.path.contains("/outline") || e.path.starts_with("/v1/authorizations/")).count();
    // Sharing the work: each replica asked e签宝 about running items (its own /metrics says so).
    for (_, app) in &replicas {
        let asked = polls_of(app.http_addr).await;
        assert!(asked > 0.0, "replica at {} polled nothing; the test proves nothing", app.http_addr);
    }
    counts.calls += log.len() as u64;
    counts.faults += sim.calls().faulted + sim.callbacks().iter().filter(|c| c.fault.is_some()).count() as u64;
    for (_, app) in replicas {
        app.stop().await;
    }
    db.drop_db().await;
    eprintln!("two replicas: {MEMBERS} members, {polls} polls in {:.1}s", started.elapsed().as_secs_f64());
    counts.report("two-replicas");
}

/// The two service bugs the replicas test found, on any database: a commit of an item's data must
/// not clear the poll lease another holder took, and a "signed" callback fetches the letter only
/// under that lease (else the holder's own poll does).
#[tokio::test]
async fn a_poll_lease_survives_commits_and_a_callback_does_not_poll_a_leased_item() {
    use etc_esign::domain::ports::Lease;
    use etc_esign::domain::values::AuthId;

    let app = spawn_app().await;
    app.sealed_member("ETC000000900").await;
    let mut c = app.client.clone();
    let created = c.create_org_authorization(authed(org_request("ETC000000900", "req-1"))).await.expect("created");
    let auth_id = AuthId::parse("auth_id", &created.into_inner().auth_id).expect("auth id");
    let service = &app.app.as_ref().expect("running").service;
    let now = service.now();
    let held = Lease { holder: "replica-elsewhere".into(), until: now + chrono::Duration::minutes(1) };
    assert!(service.store().try_lease_authorization(&auth_id, &held, now).await.expect("lease"));
    let queries_before = app.sim.calls().auth_query;

    app.sim.sign_authorization(auth_id.as_str()).expect("sign");
    let p = app.wait_status("ETC000000900", S::AuthorizeFinish).await;

    assert_eq!(app.sim.calls().auth_query, queries_before, "the callback polled an item leased elsewhere");
    assert!(p.signed_file_url.is_empty(), "the letter is the lease holder's to fetch");
    let other = Lease { holder: "a-third-holder".into(), until: now + chrono::Duration::minutes(1) };
    let taken = service.store().try_lease_authorization(&auth_id, &other, service.now()).await.expect("lease");
    assert!(!taken, "committing the signed status released a lease it did not own");
    app.finish().await;
}

/// A commit whose process moved on meanwhile (a callback or another replica committed first)
/// writes none of its rows, on any database: not the process, not its history entry, not its
/// flow. On PostgreSQL such a commit is one statement whose rows are all selected from the
/// process's conditional update; from a fresh read the same commit writes all of them.
#[tokio::test]
async fn a_commit_that_lost_the_race_for_the_process_writes_none_of_its_rows() {
    use etc_esign::domain::model::{FaceFlow, Process, Source};
    use etc_esign::domain::ports::{ChangeSet, StoreError};
    use etc_esign::domain::values::{FlowId, MemberNo};

    let app = spawn_app().await;
    let member = MemberNo::parse("ETC000000901").expect("member");
    let started = app.start_face(member.as_str()).await;
    let service = &app.app.as_ref().expect("running").service;
    let store = service.store().clone();
    let flow_id = |id: &str| FlowId::parse("flow_id", id).expect("flow id");
    let first_flow = store.face_flow(&flow_id(&started.flow_id)).await.expect("read").expect("the started flow");
    let history = || async { store.history(&member, None, 100).await.expect("history").len() };
    let read = store.process(&member).await.expect("read").expect("stored");
    let entries = history().await;

    // Another writer commits first: the process's version moves on.
    store.commit(ChangeSet { process: Some(read.clone()), ..Default::default() }).await.expect("the other writer");

    // A new flow started from a process as read: one move, its history entry and the flow.
    let by = Source::Rpc { method: "StartFaceAuth".into(), caller: "TEST".into() };
    let restart = |mut process: Process, id: &str| {
        let (handler, account) = (process.handler.clone().expect("handler"), process.esign_account_id.clone());
        process.handler_flow_started(handler, account.expect("account"), service.now()).expect("may start again");
        let flow = FaceFlow { flow_id: flow_id(id), ..first_flow.clone() };
        ChangeSet { process: Some(process), face_flows: vec![flow], source: Some(by.clone()), ..Default::default() }
    };
    let lost = store.commit(restart(read.clone(), "flow-from-a-stale-read")).await;
    assert!(matches!(lost, Err(StoreError::Conflict)), "a stale version must conflict: {lost:?}");
    let stale_flow = store.face_flow(&flow_id("flow-from-a-stale-read")).await.expect("read");
    assert!(stale_flow.is_none(), "the losing commit wrote its flow");
    assert_eq!(history().await, entries, "the losing commit wrote a history entry");
    let now_stored = store.process(&member).await.expect("read").expect("stored");
    assert_eq!(now_stored.version(), read.version() + 1, "only the other writer's commit moved the process");

    store.commit(restart(now_stored, "flow-from-a-fresh-read")).await.expect("a fresh read commits");
    assert!(store.face_flow(&flow_id("flow-from-a-fresh-read")).await.expect("read").is_some(), "its flow");
    assert_eq!(history().await, entries + 1, "its history entry");
    assert_eq!(store.process(&member).await.expect("read").expect("stored").version(), read.version() + 2);
    app.finish().await;
}

/// A commit that carries a stale copy of a company flow beside a process change never undoes the
/// flow's end, on any database: a running copy, or one with another final status, leaves the
/// stored flow as it is; a copy with the flow's own final status rewrites it. (On PostgreSQL such
/// a commit is one statement, its flow an upsert with the transaction's condition.)
#[tokio::test]
async fn a_stale_company_flow_committed_with_the_process_never_undoes_its_end() {
    use etc_esign::domain::model::{OrgFlowStatus, Source};
    use etc_esign::domain::ports::ChangeSet;
    use etc_esign::domain::values::MemberNo;

    let app = spawn_app().await;
    app.sealed_member("ETC000000902").await;
    let member = MemberNo::parse("ETC000000902").expect("member");
    let store = app.app.as_ref().expect("running").service.store().clone();
    let ended = store.latest_org_flow(&member).await.expect("read").expect("the company flow");
    assert_eq!(ended.status, OrgFlowStatus::Succeeded);
    let by = Source::Rpc { method: "Test".into(), caller: "TEST".into() };
    let commit_with_process = |flow| {
        let store = store.clone();
        let (member, by) = (member.clone(), by.clone());
        async move {
            let process = store.process(&member).await.expect("read").expect("stored");
            let changes =
                ChangeSet { process: Some(process), org_flows: vec![flow], source: Some(by), ..Default::default() };
            store.commit(changes).await.expect("commit");
        }
    };
    let stored = || async { store.latest_org_flow(&member).await.expect("read").expect("the company flow") };

    let running =
        etc_esign::domain::model::OrgFlow { status: OrgFlowStatus::Running, finished_at: None, ..ended.clone() };
    commit_with_process(running).await;
    assert_eq!(stored().await, ended, "a running copy undid the flow's end");

    let other_end = etc_esign::domain::model::OrgFlow {
        status: OrgFlowStatus::Failed,
        fail_reason: Some("stale".into()),
        ..ended.clone()
    };
    commit_with_process(other_end).await;
    assert_eq!(stored().await, ended, "a copy with another final status rewrote the flow");

    let same_end = etc_esign::domain::model::OrgFlow { poll_attempts: ended.poll_attempts + 7, ..ended.clone() };
    commit_with_process(same_end.clone()).await;
    assert_eq!(stored().await.poll_attempts, same_end.poll_attempts, "a copy with the flow's own end is written");
    app.finish().await;
}
