//! Leases across crashes and deadlines: a replica restarted after SIGKILL frees at once what its
//! earlier life held; a killed replica's lease is taken over by another only once it expires; a
//! start that waits for another holder answers UNAVAILABLE with a retry hint before the caller's
//! deadline, never DEADLINE_EXCEEDED; and a pooled PostgreSQL connection that the server ended while
//! it idled is replaced before a start uses it. Runs on SQLite, and on PostgreSQL with ETC_ESIGN_TEST_PG.
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chrono::Utc;
use etc_esign::grpc::pb::{self, auth_service_client::AuthServiceClient};
use etc_esign::sim::{Endpoint, FaultKind, FaultTrigger};
use etc_esign::store::changes::FEED_APPLICATION_NAME;
use sea_orm::{ConnectionTrait, Database, Statement, TransactionTrait};
use tonic::transport::Channel;
use tonic::{Code, Status};
use tonic_types::StatusExt;

use crate::helpers::*;

/// StartFaceAuth for `member` with the caller's deadline `timeout`.
async fn start_within(
    client: &AuthServiceClient<Channel>,
    member: &str,
    timeout: Duration,
) -> Result<pb::StartFaceAuthResponse, Status> {
    let mut req = authed(face_request(member));
    req.set_timeout(timeout);
    client.clone().start_face_auth(req).await.map(tonic::Response::into_inner)
}

/// The retry delay an UNAVAILABLE answer hints, failing the test on any other answer.
fn retry_hint(answer: Result<pb::StartFaceAuthResponse, Status>, what: &str) -> Duration {
    let status = match answer {
        Ok(r) => panic!("{what}: started (flow {}) while another holder held the lease", r.flow_id),
        Err(s) => s,
    };
    assert_eq!(status.code(), Code::Unavailable, "{what}: {status:?}");
    assert_eq!(status.message(), "another request for this member is in progress; retry");
    let info = status.get_error_details().retry_info().cloned().expect("RetryInfo in the details");
    info.retry_delay.expect("a retry delay")
}

#[tokio::test]
async fn a_replica_restarted_after_sigkill_answers_every_retried_start_at_once_without_a_second_flow() {
    const ACKED: usize = 3;
    const IN_FLIGHT: usize = 6;
    let sim = start_sim().await;
    let db = TestDb::fresh().await;
    let mut env = serve_env(db.url(), sim.base_url(), free_addr(), free_addr());
    // Leases of 2 × (3 s + 8 s) + 1 s = 23 s: a retry that waited them out would miss its deadline.
    for (key, value) in [("ESIGN_TIMEOUT_MS", "8000"), ("REPLICA_ID", "restart-a"), ("RUST_LOG", "warn")] {
        set_env(&mut env, key, value);
    }
    let mut server = ServeProcess::start(env).await;
    let client = connect(server.grpc_addr).await;

    // Acknowledged starts, then starts held up at e签宝's face endpoint when the process dies.
    let mut acked = BTreeMap::new();
    for i in 0..ACKED {
        let member = format!("RESTART-ACK{i}");
        let flow = start_within(&client, &member, Duration::from_secs(5)).await.expect("acknowledged start");
        acked.insert(member, flow.flow_id);
    }
    sim.inject_fault(Endpoint::Face, FaultKind::Delay(Duration::from_secs(60)), FaultTrigger::Probability(1.0));
    let faces_before = sim.calls().face;
    let in_flight: Vec<String> = (0..IN_FLIGHT).map(|i| format!("RESTART-FLY{i}")).collect();
    let calls: Vec<_> = in_flight
        .iter()
        .map(|m| {
            let (client, m) = (client.clone(), m.clone());
            tokio::spawn(async move { start_within(&client, &m, Duration::from_secs(30)).await })
        })
        .collect();
    eventually(Duration::from_secs(10), "every start to be at e签宝", || async {
        (sim.calls().face >= faces_before + IN_FLIGHT as u64).then_some(())
    })
    .await;
    let held = db.leases("RESTART-FLY").await;
    assert_eq!(held.len(), IN_FLIGHT, "{held:?}");
    let held_until = held.values().filter_map(|(_, until)| *until).min().expect("leases held");
    assert!(
        held.values().all(|(holder, _)| holder.as_deref().is_some_and(|h| h.starts_with("restart-a/"))),
        "every in-flight start holds its member's lease: {held:?}"
    );
    server.kill();
    for call in calls {
        assert!(call.await.expect("call task").is_err(), "a start answered although its process died");
    }
    sim.clear_faults();

    // Restarted at once with the same replica id and database: every member answers in time.
    server.restart().await;
    let client = connect(server.grpc_addr).await;
    for member in acked.keys().chain(&in_flight) {
        let flows_before = sim.flows_for_context(member).len();
        let asked = Instant::now();
        let answer = start_within(&client, member, Duration::from_secs(5)).await;
        let took = asked.elapsed();
        let flow = answer.unwrap_or_else(|s| panic!("{member}: the retried start answered {s:?}"));
        assert!(took < Duration::from_secs(5), "{member}: answered after {took:?}");
        let flows = sim.flows_for_context(member);
        match acked.get(member) {
            Some(acked_flow) => {
                assert_eq!(&flow.flow_id, acked_flow, "{member}: the acknowledged flow is answered again");
                assert_eq!(flows.len(), flows_before, "{member}: a second e签宝 flow for an acknowledged start");
                assert_eq!(flows.len(), 1, "{member}: one e签宝 flow");
            }
            // The dead call reached e签宝, which may have made its flow; the retry makes at most one more.
            None => assert!(flows.len() <= 2, "{member}: {} flows for two calls", flows.len()),
        }
    }
    // Answered before the dead life's leases would have expired: they were freed, not waited out.
    assert!(Utc::now().timestamp_millis() < held_until, "the retries ran past the old leases' expiry");
    server.kill();
    db.drop_db().await;
}

#[tokio::test]
async fn a_survivor_takes_over_a_killed_replicas_member_lease_after_its_expiry_and_not_before() {
    const MEMBER: &str = "DUO-LEASE-1";
    let sim = start_sim().await;
    let db = TestDb::fresh().await;
    let env_of = |replica: &str| {
        let mut env = serve_env(db.url(), sim.base_url(), free_addr(), free_addr());
        // Short e签宝 timeouts make short leases: 2 × (250 ms + 1000 ms) + 1 s = 3.5 s.
        for (key, value) in [
            ("ESIGN_CONNECT_TIMEOUT_MS", "250"),
            ("ESIGN_TIMEOUT_MS", "1000"),
            ("REPLICA_ID", replica),
            ("RUST_LOG", "warn"),
        ] {
            set_env(&mut env, key, value.to_owned());
        }
        env
    };
    let mut a = ServeProcess::start(env_of("replica-a")).await;
    let mut b = ServeProcess::start(env_of("replica-b")).await;
    let (client_a, client_b) = (connect(a.grpc_addr).await, connect(b.grpc_addr).await);

    // Replica a takes the member's lease and hangs at e签宝; it dies holding it.
    sim.inject_fault(Endpoint::Account, FaultKind::Delay(Duration::from_secs(30)), FaultTrigger::Times(1));
    let call = tokio::spawn(async move { start_within(&client_a, MEMBER, Duration::from_secs(30)).await });
    let until = eventually(Duration::from_secs(10), "replica a to hold the lease", || async {
        match db.lease(MEMBER).await {
            Some((Some(holder), Some(until))) if holder.starts_with("replica-a/") => Some(until),
            _ => None,
        }
    })
    .await;
    a.kill();
    assert!(call.await.expect("call task").is_err(), "replica a answered although it died");

    // Before the lease expires, replica b waits for it (the caller's short deadline ends the wait)
    // and answers UNAVAILABLE with the time left on the lease.
    let mut refused = 0;
    // Each call ends before the lease does, so that none may take it over legitimately.
    while Utc::now().timestamp_millis() < until - 700 {
        let hint = retry_hint(start_within(&client_b, MEMBER, Duration::from_millis(600)).await, "before expiry");
        assert!(hint > Duration::ZERO && hint <= Duration::from_millis(3600), "retry after {hint:?}");
        assert!(sim.flows_for_context(MEMBER).is_empty(), "replica b started a flow under a's lease");
        refused += 1;
    }
    assert!(refused > 0, "no start was tried before the lease expired; the test proves nothing");

    // After it, replica b takes the lease over and starts the one flow.
    let flow = eventually(Duration::from_secs(10), "replica b to take the expired lease over", || async {
        start_within(&client_b, MEMBER, Duration::from_secs(3)).await.ok()
    })
    .await;
    assert!(Utc::now().timestamp_millis() >= until, "taken over before the lease expired");
    let flows = sim.flows_for_context(MEMBER);
    assert_eq!(flows.iter().map(|f| f.flow_id.as_str()).collect::<Vec<_>>(), [flow.flow_id.as_str()]);
    b.kill();
    db.drop_db().await;
}

#[tokio::test]
async fn a_start_waiting_for_another_holder_answers_unavailable_with_retry_info_before_a_short_deadline() {
    const MEMBER: &str = "ETC000000777";
    let app = spawn_app().await;
    // The first start holds the member's lease while e签宝 takes 1.5 s to answer it.
    app.sim.inject_fault(Endpoint::Account, FaultKind::Delay(Duration::from_millis(1500)), FaultTrigger::Times(1));
    let client = app.client.clone();
    let first = tokio::spawn(async move { start_within(&client, MEMBER, Duration::from_secs(10)).await });
    eventually(Duration::from_secs(5), "the first start to be at e签宝", || async {
        (app.sim.calls().account >= 1).then_some(())
    })
    .await;

    let asked = Instant::now();
    let answer = start_within(&app.client, MEMBER, Duration::from_millis(300)).await;
    let took = asked.elapsed();
    let hint = retry_hint(answer, "a 300 ms deadline");
    assert!(took < Duration::from_millis(300), "answered after {took:?}");
    // The first start's lease (2 × (1 s + 3 s) + 1 s) has most of its 9 s left.
    assert!(hint > Duration::from_secs(1) && hint <= Duration::from_secs(9), "retry after {hint:?}");

    // The holder finishes; a retry answers its flow, and e签宝 has made one.
    let flow = first.await.expect("first call").expect("the first start");
    let again = start_within(&app.client, MEMBER, Duration::from_secs(5)).await.expect("the retry");
    assert_eq!(again.flow_id, flow.flow_id);
    assert_eq!(app.sim.flows_for_context(MEMBER).len(), 1);
    app.finish().await;
}

/// A pooled PostgreSQL connection that the server ended while it idled (a restart, an idle timeout)
/// is pinged before it is used and replaced: the next start succeeds at its first try. Only a
/// connection that idled a second or more is pinged (a ping before every statement cost each
/// start two round trips); this holds the ping of idle ones.
#[tokio::test]
async fn a_pooled_connection_the_server_ended_while_it_idled_is_replaced_before_a_start_uses_it() {
    // A quiet reconciler, so that the pool's connections idle.
    let app = spawn_app_with(|c| c.reconciler.interval = Duration::from_secs(60)).await;
    let db = app.db.as_ref().expect("db");
    if !db.is_postgres() {
        eprintln!("an ended pooled connection: skipped on SQLite (no server to end it)");
        app.finish().await;
        return;
    }
    app.start_face("ETC000001031").await;
    // One connection, excluded below as the one asking.
    let mut options = sea_orm::ConnectOptions::new(db.url());
    options.max_connections(1);
    let admin = Database::connect(options).await.expect("connect");
    // The service's pooled connections: not the change feed's listener, not this one.
    let pooled = format!(
        "FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() \
         AND application_name <> '{FEED_APPLICATION_NAME}'"
    );
    let idle = format!("{pooled} AND state = 'idle' AND state_change < now() - interval '1500 milliseconds'");
    let number = |sql: String| {
        let admin = &admin;
        async move {
            let row = admin.query_one_raw(Statement::from_string(admin.get_database_backend(), sql)).await;
            row.expect("query").expect("a row").try_get::<i64>("", "n").expect("a count")
        }
    };
    // The server ends every pooled connection that has idled past the ping's threshold: the
    // oldest idle, which the pool hands out first.
    let ended = eventually(Duration::from_secs(20), "a pooled connection idle 1.5 s, then ended", || async {
        Some(number(format!("SELECT count(pg_terminate_backend(pid)) AS n {idle}")).await).filter(|n| *n > 0)
    })
    .await;
    let mut client = app.client.clone();
    let started = client.start_face_auth(authed(face_request("ETC000001032"))).await;
    assert!(started.is_ok(), "after {ended} idle connection(s) ended: {:?}", started.err());
    let _ = admin.close().await;
    app.finish().await;
}

/// The size of the WAL beside the SQLite database file `path` (none: 0).
fn wal_bytes(path: &str) -> u64 {
    std::fs::metadata(format!("{path}-wal")).map_or(0, |m| m.len())
}

/// A SQLite database copied after the service stopped — a backup of its file — holds every commit:
/// the WAL was written back into the file and emptied at the stop, not left for the next open.
#[tokio::test]
async fn a_stopped_service_leaves_every_commit_in_its_sqlite_file() {
    let mut app = spawn_app().await;
    let Some(path) = app.db.as_ref().expect("db").sqlite_file() else {
        return app.finish().await; // PostgreSQL keeps its own files.
    };
    let started = app.start_face("ETC000000193").await;
    app.stop_app().await;

    assert_eq!(wal_bytes(&path), 0, "the WAL was emptied at the stop");
    let copy = tempfile::tempdir().expect("temp dir");
    let copied = copy.path().join("backup.db");
    std::fs::copy(&path, &copied).expect("the file alone, copied");
    let backup = Database::connect(format!("sqlite://{}?mode=ro", copied.display())).await.expect("open the copy");
    let sql = "SELECT flow_id FROM face_flows WHERE member_no = 'ETC000000193'";
    let row = backup
        .query_one_raw(Statement::from_string(backup.get_database_backend(), sql))
        .await
        .expect("read the copy")
        .expect("the member's flow is in the copy");
    let flow: String = row.try_get("", "flow_id").expect("flow_id");
    assert_eq!(flow, started.flow_id);
    let _ = backup.close().await;
    app.finish().await;
}

/// A reader that keeps the WAL pinned (an operator's open read, say) does not hold up a stop: the
/// stop gives up emptying the WAL after a few tries and leaves it for the next open to replay.
#[tokio::test]
async fn a_stop_goes_on_when_a_reader_pins_the_sqlite_wal() {
    let mut app = spawn_app().await;
    let db = app.db.as_ref().expect("db");
    let (Some(path), url) = (db.sqlite_file(), db.url().to_owned()) else {
        return app.finish().await;
    };
    app.start_face("ETC000000194").await;
    let reader = Database::connect(&url).await.expect("a reader of its own");
    let read = reader.begin().await.expect("a read transaction");
    let count = Statement::from_string(reader.get_database_backend(), "SELECT count(*) AS n FROM face_flows");
    read.query_one_raw(count).await.expect("read").expect("a row");

    let began = Instant::now();
    app.stop_app().await;
    assert!(began.elapsed() < Duration::from_secs(5), "stopped in {:?}", began.elapsed());
    assert!(wal_bytes(&path) > 0, "the pinned WAL is left for the next open");
    read.rollback().await.expect("the read ends");
    let _ = reader.close().await;
    app.finish().await;
}
