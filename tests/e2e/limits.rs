//! The service stays standing under abuse: a concurrency limit that refuses at once, a default
//! deadline that does not cut a start in half, a message size limit, and a callback receiver that
//! limits body size and rate and acknowledges what it does not act on.
use std::time::{Duration, Instant};

use etc_esign::grpc::pb::{self, AuthProcessStatus as S};
use etc_esign::sim::{Endpoint, FaultKind, FaultTrigger};
use tokio::task::JoinSet;
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;

use crate::helpers::*;

#[tokio::test]
async fn a_flood_beyond_the_concurrency_limit_is_refused_at_once_while_health_keeps_answering() {
    const LIMIT: usize = 4;
    const FLOOD: usize = 40;
    let app = spawn_app_with(|c| c.grpc_max_concurrent_rpcs = LIMIT).await;
    // Each admitted call waits on e签宝 (within the client's 3 s timeout), holding its slot.
    let upstream_delay = Duration::from_millis(1500);
    app.sim.inject_fault(Endpoint::Account, FaultKind::Delay(upstream_delay), FaultTrigger::Times(FLOOD as u32));

    let started = Instant::now();
    let mut calls = JoinSet::new();
    for i in 0..FLOOD {
        let mut c = app.client.clone();
        calls.spawn(async move {
            let r = c.start_face_auth(authed(face_request(&format!("ETC0000008{i:02}")))).await;
            (r.map(|_| ()).map_err(|s| s.code()), started.elapsed())
        });
    }
    // While the admitted calls hold every slot, health still answers.
    let health_at = eventually(Duration::from_secs(2), "health during the flood", || async {
        (health(app.grpc_addr, "etc.esign.v1.AuthService").await == ServingStatus::Serving).then_some(started.elapsed())
    })
    .await;

    let (mut admitted, mut refused) = (Vec::new(), Vec::new());
    while let Some(joined) = calls.join_next().await {
        match joined.expect("call task") {
            (Ok(()), at) => admitted.push(at),
            (Err(Code::ResourceExhausted), at) => refused.push(at),
            (Err(other), _) => panic!("a flooded call answered {other:?}, not RESOURCE_EXHAUSTED"),
        }
    }
    assert!(!admitted.is_empty() && admitted.len() <= LIMIT, "{} admitted", admitted.len());
    assert_eq!(admitted.len() + refused.len(), FLOOD);
    let first_admitted_done = admitted.iter().min().copied().expect("admitted");
    assert!(first_admitted_done >= upstream_delay, "admitted calls waited on e签宝");
    // Refusals did not queue behind the slots: every one came back before any slot freed.
    assert!(refused.iter().all(|at| *at < first_admitted_done), "refusals came at once: {refused:?}");
    assert!(health_at < first_admitted_done, "health answered while the service was saturated");
    app.finish().await;
}

#[tokio::test]
async fn a_start_outliving_the_default_deadline_is_finished_and_a_retry_gets_the_same_flow() {
    let app = spawn_app_with(|c| c.grpc_default_timeout = Duration::from_millis(300)).await;
    app.sim.inject_fault(Endpoint::Face, FaultKind::Delay(Duration::from_secs(1)), FaultTrigger::Times(1));
    let mut c = app.client.clone();
    let err = c.start_face_auth(authed(face_request("ETC000000901"))).await.expect_err("past the deadline");
    assert_eq!(err.code(), Code::DeadlineExceeded, "{err:?}");

    // The start was not cut in half: it finishes, and the retry is answered from what it recorded.
    app.wait_status("ETC000000901", S::HandlerAuthing).await;
    let retried = c.start_face_auth(authed(face_request("ETC000000901"))).await.expect("retry").into_inner();
    let flows = app.sim.flows_for_context("ETC000000901");
    assert_eq!(flows.len(), 1, "one upstream flow for the member");
    assert_eq!(retried.flow_id, flows[0].flow_id);
    app.finish().await;
}

#[tokio::test]
async fn an_oversized_message_is_refused_and_the_connection_keeps_serving() {
    let app = spawn_app().await;
    let mut c = app.client.clone();
    let huge = pb::GetProcessDetailRequest { etc_member_no: "9".repeat(1024 * 1024), refresh: false };
    let err = c.get_process_detail(authed(huge)).await.expect_err("too large");
    assert_eq!(err.code(), Code::OutOfRange, "{err:?}");
    assert_eq!(app.status("ETC000000902").await, S::NotStarted, "the same client is still served");
    app.finish().await;
}

/// Posts `body` to the callback receiver unsigned (the receiver must limit before it verifies).
async fn post_raw(app: &TestApp, body: Vec<u8>) -> reqwest::StatusCode {
    reqwest::Client::new().post(app.callback_url()).body(body).send().await.expect("posted").status()
}

#[tokio::test]
async fn the_callback_receiver_refuses_large_bodies_and_floods() {
    let app = spawn_app_with(|c| c.callback_rate_per_sec = 5).await;
    assert_eq!(post_raw(&app, vec![b'x'; 100 * 1024]).await, reqwest::StatusCode::PAYLOAD_TOO_LARGE);

    let mut statuses = Vec::new();
    for _ in 0..30 {
        statuses.push(post_raw(&app, b"{}".to_vec()).await);
    }
    let throttled = statuses.iter().filter(|s| **s == reqwest::StatusCode::TOO_MANY_REQUESTS).count();
    let verified = statuses.iter().filter(|s| **s == reqwest::StatusCode::UNAUTHORIZED).count();
    assert_eq!(throttled + verified, statuses.len(), "{statuses:?}");
    assert!((1..=10).contains(&verified), "a burst of the rate is verified (and refused unsigned): {statuses:?}");
    assert!(throttled >= 20, "the rest is throttled before any verification: {statuses:?}");
    app.finish().await;
}

#[tokio::test]
async fn an_authentic_callback_of_an_unknown_type_is_acknowledged_and_applies_nothing() {
    let app = spawn_app().await;
    let started = app.start_face("ETC000000903").await;
    let body = format!(r#"{{"action":"SOMETHING_NEW","flowId":"{}","success":true}}"#, started.flow_id);
    assert_eq!(post_callback(&app, APP_SECRET, &body).await, reqwest::StatusCode::OK);
    let p = app.process("ETC000000903").await;
    assert_eq!(p.status, S::HandlerAuthing as i32, "nothing applied");
    app.finish().await;
}
