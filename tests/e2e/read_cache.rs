//! The read cache end to end: repeated reads of a member are answered from memory, and no read ever
//! answers a copy older than a write that finished before it was sent — on this replica, on
//! another replica sharing the PostgreSQL, or by hand in SQL.
use etc_esign::grpc::pb::auth_service_client::AuthServiceClient;
use etc_esign::grpc::pb::{self, AuthProcessStatus as S};
use etc_esign::http::METRICS_PATH;
use etc_esign::store::changes::FEED_APPLICATION_NAME;
use std::time::Duration;

use tonic::transport::Channel;

use crate::helpers::*;

/// Sets the member's status by hand, as an operator's SQL would.
async fn fail_by_hand(app: &TestApp, member: &str) {
    let statement = format!("UPDATE processes SET status = 'HANDLER_AUTH_FAILED' WHERE member_no = '{member}'");
    assert_eq!(app.db.as_ref().expect("db").execute(&statement).await, 1);
}

fn counts(app: &TestApp) -> (u64, u64) {
    app.app.as_ref().expect("running").service.read_cache().counts()
}

async fn cancel(client: &AuthServiceClient<Channel>, member: &str) {
    let mut c = client.clone();
    c.cancel_process(authed(pb::CancelProcessRequest { etc_member_no: member.into() })).await.expect("CancelProcess");
}

async fn start(client: &AuthServiceClient<Channel>, member: &str) {
    let mut c = client.clone();
    c.start_face_auth(authed(face_request(member))).await.expect("StartFaceAuth");
}

fn status(p: &pb::AuthProcess) -> S {
    S::try_from(p.status).expect("known status")
}

#[tokio::test]
async fn repeated_reads_come_from_memory_and_every_write_is_seen_by_the_next_read() {
    let app = spawn_app().await;
    let member = "ETC000001001";
    app.start_face(member).await;
    let before = counts(&app);
    for _ in 0..10 {
        assert_eq!(app.status(member).await, S::HandlerAuthing);
    }
    let after = counts(&app);
    // The first read follows the start's commit; the start's lease is released just after it
    // answered, which changes the row once more: at most two reads go to the database.
    assert!(after.0 >= before.0 + 8, "reads of an unchanged member are kept: {before:?} → {after:?}");
    // Operators see the same counts.
    let exposition = reqwest::get(format!("http://{}{METRICS_PATH}", app.http_addr))
        .await
        .expect("scrape")
        .text()
        .await
        .expect("exposition");
    let hits = exposition
        .lines()
        .find_map(|l| l.strip_prefix("etc_esign_read_cache_reads_total{result=\"hit\"} "))
        .and_then(|v| v.parse::<u64>().ok());
    assert_eq!(hits, Some(counts(&app).0), "{exposition}");
    assert!(exposition.contains("etc_esign_read_cache_entries 1"), "{exposition}");

    // A write through the service, then one by hand: each seen by the very next read.
    cancel(&app.client, member).await;
    assert_eq!(app.status(member).await, S::NotStarted);
    app.start_face(member).await;
    assert_eq!(app.status(member).await, S::HandlerAuthing);
    fail_by_hand(&app, member).await;
    assert_eq!(app.status(member).await, S::HandlerAuthFailed, "a change made in SQL is seen at once");
    app.finish().await;
}

#[tokio::test]
async fn a_write_on_one_replica_is_seen_by_the_next_read_on_the_other() {
    let db = TestDb::fresh().await;
    if !db.is_postgres() {
        eprintln!("read your writes across replicas: skipped on SQLite (replicas share one PostgreSQL)");
        return;
    }
    let sim = start_sim().await;
    let config = test_config(db.url(), sim.base_url());
    let (mut a, mut b) = (config.clone(), config);
    a.replica_id = "replica-a".into();
    b.replica_id = "replica-b".into();
    let (a, b) = (start_and_wait(a).await, start_and_wait(b).await);
    let (on_a, on_b) = (connect(a.grpc_addr).await, connect(b.grpc_addr).await);

    const ROUNDS: usize = 20;
    let members = ["ETC000001011", "ETC000001012", "ETC000001013"];
    let hits_before = b.service.read_cache().counts().0;
    for round in 0..ROUNDS {
        for member in members {
            // B keeps the member (read twice: the second is answered from memory) ...
            let kept = process_of(&on_b, member).await;
            assert_eq!(status(&process_of(&on_b, member).await), status(&kept));
            // ... A changes it, and B's next read, sent the moment A answered, sees the change.
            let want = if status(&kept) == S::HandlerAuthing {
                cancel(&on_a, member).await;
                S::NotStarted
            } else {
                start(&on_a, member).await;
                S::HandlerAuthing
            };
            assert_eq!(status(&process_of(&on_b, member).await), want, "{member}, round {round}");
        }
    }
    let hits = b.service.read_cache().counts().0 - hits_before;
    // A member with no record yet (round 0) is never kept; from then on every second read hits.
    assert!(hits >= ((ROUNDS - 1) * members.len()) as u64, "B answered {hits} reads from memory");
    a.stop().await;
    b.stop().await;
    db.drop_db().await;
}

#[tokio::test]
async fn a_replica_whose_listener_is_cut_off_never_answers_a_stale_copy() {
    let app = spawn_app().await;
    if !app.db.as_ref().expect("db").is_postgres() {
        eprintln!("a cut-off listener: skipped on SQLite (no listener)");
        app.finish().await;
        return;
    }
    let member = "ETC000001021";
    app.start_face(member).await;
    // Kept: a read comes from memory (the start's lease release may evict it once: read on).
    eventually(Duration::from_secs(5), "a read answered from memory", || async {
        let before = counts(&app).0;
        app.status(member).await;
        (counts(&app).0 > before).then_some(())
    })
    .await;

    // The server ends the listening connection (which also sends the catch-up notes); before the
    // replica has noticed, a change is made by hand. The next read must not answer the copy.
    let cut = format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND application_name = '{FEED_APPLICATION_NAME}' \
         AND pid <> pg_backend_pid()"
    );
    assert_eq!(app.db.as_ref().expect("db").execute(&cut).await, 1, "one listening connection");
    fail_by_hand(&app, member).await;
    assert_eq!(app.status(member).await, S::HandlerAuthFailed);

    // The feed listens again, and reads are kept again, still current.
    eventually(Duration::from_secs(10), "reads answered from memory again", || async {
        let before = counts(&app).0;
        assert_eq!(app.status(member).await, S::HandlerAuthFailed);
        (counts(&app).0 > before).then_some(())
    })
    .await;
    app.finish().await;
}
