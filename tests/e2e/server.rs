//! The skeleton: health, reflection, caller authentication, GetProcessDetail.
use etc_esign::grpc::pb;
use sea_orm::sqlx::{self, Connection, Executor};
use tonic::{Code, Request};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_types::StatusExt;

use crate::helpers::*;

/// A restart binds the same ports again; a port from the kernel's ephemeral range, freed by the
/// stop, could meanwhile become the local port of another test's outgoing connection, and the bind
/// would fail (EADDRINUSE, seen once in CI). The harness's ports lie below that range.
#[tokio::test]
async fn the_test_apps_ports_are_never_ones_the_kernel_hands_out_by_itself() {
    let range = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").expect("the ephemeral range");
    let low: u16 = range.split_whitespace().next().and_then(|p| p.parse().ok()).expect("its low end");
    let mut app = spawn_app().await;
    for _ in 0..2 {
        for addr in [app.grpc_addr, app.http_addr] {
            assert!(addr.port() < low, "{addr} is in the ephemeral range from {low}");
        }
        app.restart().await;
    }
    assert!(free_addr().port() < low, "a child process's ports too");
    app.finish().await;
}

#[tokio::test]
async fn health_is_serving_for_the_service_and_overall_once_migrated() {
    let app = spawn_app().await;
    assert_eq!(health(app.grpc_addr, "").await, ServingStatus::Serving);
    assert_eq!(health(app.grpc_addr, "etc.esign.v1.AuthService").await, ServingStatus::Serving);
    app.finish().await;
}

#[tokio::test]
async fn health_is_not_serving_before_the_database_is_reachable() {
    // A PostgreSQL port nobody listens on: the servers start, migration cannot, health says no.
    let sim = start_sim().await;
    let cfg = test_config("postgres://nobody@127.0.0.1:1/none", sim.base_url());
    let app = etc_esign::app::start(cfg).await.expect("starts without its database");
    assert_eq!(health(app.grpc_addr, "etc.esign.v1.AuthService").await, ServingStatus::NotServing);
    assert_eq!(health(app.grpc_addr, "").await, ServingStatus::NotServing);
    // The liveness probe's name answers regardless: a database outage must not restart the pods.
    assert_eq!(health(app.grpc_addr, etc_esign::grpc::LIVENESS_NAME).await, ServingStatus::Serving);
    app.stop().await;
}

#[tokio::test]
async fn reflection_lists_the_service_health_and_reflection() {
    use tonic_reflection::pb::v1alpha::{
        ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
        server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
    };
    let app = spawn_app().await;
    let mut client = ServerReflectionClient::new(channel(app.grpc_addr).await);
    let req = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut stream =
        client.server_reflection_info(tokio_stream::iter(vec![req])).await.expect("reflection").into_inner();
    let msg = stream.message().await.expect("answer").expect("one message");
    let Some(MessageResponse::ListServicesResponse(list)) = msg.message_response else { panic!("not a list") };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for want in ["etc.esign.v1.AuthService", "grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection"] {
        assert!(names.iter().any(|n| n == want), "{want} missing from {names:?}");
    }
    app.finish().await;
}

#[tokio::test]
async fn get_process_detail_answers_not_started_for_a_new_member_and_writes_nothing() {
    let app = spawn_app().await;
    let p = app.process("ETC000000001").await;
    assert_eq!(p.etc_member_no, "ETC000000001");
    assert_eq!(p.status, pb::AuthProcessStatus::NotStarted as i32);
    assert_eq!(p.node, pb::AuthProcessNode::Unspecified as i32);
    assert_eq!(p.next_node, pb::AuthProcessNode::HandlerAuth as i32);
    let list: Vec<i32> = [
        pb::AuthProcessNode::HandlerAuth,
        pb::AuthProcessNode::OrgAuth,
        pb::AuthProcessNode::SaveOrgSeal,
        pb::AuthProcessNode::Authorized,
    ]
    .iter()
    .map(|n| *n as i32)
    .collect();
    assert_eq!(p.node_list, list);
    assert!(
        app.app
            .as_ref()
            .expect("running")
            .service
            .store()
            .process(&etc_esign::domain::values::MemberNo::parse("ETC000000001").unwrap())
            .await
            .unwrap()
            .is_none()
    );
    app.finish().await;
}

#[tokio::test]
async fn get_process_detail_rejects_a_malformed_member_number_with_a_field_violation() {
    let app = spawn_app().await;
    let mut c = app.client.clone();
    for bad in ["", "has space", &"x".repeat(33)] {
        let err = c
            .get_process_detail(authed(pb::GetProcessDetailRequest { etc_member_no: bad.to_string(), refresh: false }))
            .await
            .expect_err("invalid");
        assert_eq!(err.code(), Code::InvalidArgument);
        let details = err.get_error_details();
        let fields: Vec<String> =
            details.bad_request().expect("bad request").field_violations.iter().map(|v| v.field.clone()).collect();
        assert_eq!(fields, vec!["etc_member_no".to_string()]);
    }
    app.finish().await;
}

#[tokio::test]
async fn calls_without_a_valid_token_are_unauthenticated_and_unknown_systems_are_denied() {
    let app = spawn_app().await;
    let mut c = app.client.clone();
    let req = || pb::GetProcessDetailRequest { etc_member_no: "ETC1".into(), refresh: false };

    let err = c.get_process_detail(Request::new(req())).await.expect_err("no metadata");
    assert_eq!(err.code(), Code::Unauthenticated);

    let mut r = Request::new(req());
    r.metadata_mut().insert("etc-sys-id", SYS_ID.parse().unwrap());
    let err = c.get_process_detail(r).await.expect_err("no token");
    assert_eq!(err.code(), Code::Unauthenticated);

    let mut r = Request::new(req());
    r.metadata_mut().insert("etc-sys-id", SYS_ID.parse().unwrap());
    r.metadata_mut().insert("etc-token", "wrong-token".parse().unwrap());
    let err = c.get_process_detail(r).await.expect_err("wrong token");
    assert_eq!(err.code(), Code::Unauthenticated);
    assert!(!err.message().contains(TOKEN));

    let mut r = Request::new(req());
    r.metadata_mut().insert("etc-sys-id", "E99".parse().unwrap());
    r.metadata_mut().insert("etc-token", TOKEN.parse().unwrap());
    let err = c.get_process_detail(r).await.expect_err("unknown system");
    assert_eq!(err.code(), Code::PermissionDenied);

    let mut r = Request::new(req());
    r.metadata_mut().insert("etc-sys-id", SYS_ID.parse().unwrap());
    r.metadata_mut().insert("etc-token", "x".repeat(33).parse().unwrap());
    assert_eq!(c.get_process_detail(r).await.expect_err("long token").code(), Code::Unauthenticated);
    app.finish().await;
}

#[tokio::test]
async fn shutdown_says_not_serving_and_stops_listening() {
    let mut app = spawn_app().await;
    let addr = app.grpc_addr;
    app.stop_app().await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err(), "the port is closed after shutdown");
    app.finish().await;
}

#[tokio::test]
async fn a_callers_deadline_that_passes_is_deadline_exceeded_from_the_server() {
    use etc_esign::sim::{Endpoint, FaultKind, FaultTrigger};
    let app = spawn_app().await;
    app.sim.inject_fault(
        Endpoint::Account,
        FaultKind::Delay(std::time::Duration::from_secs(2)),
        FaultTrigger::Times(1),
    );
    // tonic's own timer (client and server) would say CANCELLED; DEADLINE_EXCEEDED is the server's answer.
    let mut req = authed(face_request("ETC000000777"));
    req.metadata_mut().insert("grpc-timeout", "300m".parse().expect("ascii"));
    let mut c = app.client.clone();
    let err = c.start_face_auth(req).await.expect_err("the deadline passes");
    assert_eq!(err.code(), Code::DeadlineExceeded, "{err:?}");
    app.finish().await;
}

/// What the service's migration must take, held by the test until `release`: on PostgreSQL the
/// replicas' migration lock, on SQLite the database's write lock.
enum MigrationHold {
    Postgres(sqlx::PgConnection),
    Sqlite(sqlx::SqliteConnection),
}

impl MigrationHold {
    async fn take(db: &TestDb) -> Self {
        if db.is_postgres() {
            let mut conn = sqlx::PgConnection::connect(db.url()).await.expect("connect to PostgreSQL");
            sqlx::query("SELECT pg_advisory_lock($1)")
                .bind(etc_esign::store::MIGRATION_LOCK_KEY)
                .execute(&mut conn)
                .await
                .expect("take the migration lock");
            Self::Postgres(conn)
        } else {
            use std::str::FromStr;
            let opts = sqlx::sqlite::SqliteConnectOptions::from_str(db.url())
                .expect("SQLite URL")
                .create_if_missing(true)
                .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal);
            let mut conn = sqlx::SqliteConnection::connect_with(&opts).await.expect("open the SQLite file");
            conn.execute("BEGIN IMMEDIATE").await.expect("take the write lock");
            Self::Sqlite(conn)
        }
    }

    /// True once the service's migration waits for this hold (PostgreSQL shows its waiters; on
    /// SQLite a writer's wait is invisible, so any moment before release will do).
    async fn migration_waits(&mut self) -> bool {
        match self {
            Self::Postgres(conn) => {
                // Advisory locks are per database: a waiter here is this test's service.
                let waiting: i64 = sqlx::query_scalar(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted \
                     AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
                )
                .fetch_one(&mut *conn)
                .await
                .expect("read pg_locks");
                waiting > 0
            }
            Self::Sqlite(_) => true,
        }
    }

    async fn release(self) {
        match self {
            Self::Postgres(conn) => conn.close().await.expect("release the migration lock"),
            Self::Sqlite(mut conn) => {
                conn.execute("COMMIT").await.expect("release the write lock");
                conn.close().await.expect("close");
            }
        }
    }
}

#[tokio::test]
async fn calls_and_callbacks_before_the_database_is_migrated_answer_starting_and_change_nothing() {
    let sim = start_sim().await;
    let db = TestDb::fresh().await;
    let mut hold = MigrationHold::take(&db).await;
    let objects = tempfile::tempdir().expect("objects dir");
    let mut cfg = test_config(db.url(), sim.base_url());
    cfg.files.object_store_url = format!("file://{}", objects.path().display());
    let app = etc_esign::app::start(cfg).await.expect("starts while its database is held");
    // Polled by hand: `eventually`'s check cannot borrow the hold mutably.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !hold.migration_waits().await {
        assert!(std::time::Instant::now() < deadline, "the migration never waited for the hold");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let client = connect(app.grpc_addr).await;
    let member = "ETC000000901";

    // Every AuthService call is refused with a retry hint; nothing reaches e签宝 or the database.
    let starting = |err: tonic::Status, what: &str| {
        assert_eq!(err.code(), Code::Unavailable, "{what}: {err:?}");
        assert_eq!(err.message(), "the service is starting (its database is being prepared); retry", "{what}");
        let hint = err.get_error_details().retry_info().cloned().expect("RetryInfo in the details");
        assert_eq!(hint.retry_delay, Some(std::time::Duration::from_secs(1)), "{what}");
    };
    let err = client.clone().start_face_auth(authed(face_request(member))).await.expect_err("refused");
    starting(err, "StartFaceAuth");
    let detail = pb::GetProcessDetailRequest { etc_member_no: member.into(), ..Default::default() };
    let err = client.clone().get_process_detail(authed(detail.clone())).await.expect_err("refused");
    starting(err, "GetProcessDetail");
    assert_eq!(sim.calls().face, 0, "no face flow was asked of e签宝");
    // An authentic callback is not stored: 503 makes e签宝 deliver it again.
    let callback_url = format!("http://{}{}", app.http_addr, etc_esign::http::CALLBACK_PATH);
    let callback = r#"{"action":"FACE_AUTH_RESULT","flowId":"unknown-flow-901","success":true}"#;
    assert_eq!(post_callback_to(&callback_url, APP_SECRET, callback).await, reqwest::StatusCode::SERVICE_UNAVAILABLE);
    // Health agrees, and liveness stays up: the pod is waiting, not broken.
    assert_eq!(health(app.grpc_addr, "etc.esign.v1.AuthService").await, ServingStatus::NotServing);
    assert_eq!(health(app.grpc_addr, etc_esign::grpc::LIVENESS_NAME).await, ServingStatus::Serving);

    // Once the migration runs, the same calls work and the refused start left nothing behind.
    hold.release().await;
    wait_serving(app.grpc_addr).await;
    let p = client.clone().get_process_detail(authed(detail)).await.expect("detail once ready").into_inner();
    assert_eq!(p.process.expect("a process").status, pb::AuthProcessStatus::NotStarted as i32);
    assert_eq!(post_callback_to(&callback_url, APP_SECRET, callback).await, reqwest::StatusCode::OK);
    client.clone().start_face_auth(authed(face_request(member))).await.expect("start once ready");
    assert_eq!(sim.calls().face, 1);
    app.stop().await;
    db.drop_db().await;
}
