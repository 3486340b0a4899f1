//! Node HANDLER_AUTH end to end: StartFaceAuth, the simulator's Pass/Fail, callbacks, reconciliation.
use std::time::Duration;

use etc_esign::domain::values::MemberNo;
use etc_esign::grpc::pb::{self, AuthProcessStatus as S};
use etc_esign::sim::{CallbackFault, Endpoint, FaultKind, FaultTrigger};
use tonic::Code;
use tonic_types::StatusExt;

use crate::helpers::*;

/// A change that makes one field of a valid request invalid.
type Mutation = Box<dyn Fn(&mut pb::StartFaceAuthRequest)>;

async fn version(app: &TestApp, member: &str) -> i64 {
    let store = app.app.as_ref().expect("running").service.store().clone();
    store.process(&MemberNo::parse(member).unwrap()).await.unwrap().expect("stored").version()
}

fn face_body(flow_id: &str, success: bool) -> String {
    format!(
        r#"{{"action":"FACE_AUTH_RESULT","flowId":"{flow_id}","success":{success},"failReason":"test","timestamp":{}}}"#,
        chrono::Utc::now().timestamp_millis()
    )
}

#[tokio::test]
async fn start_face_auth_then_pass_reaches_handler_authed_with_account_and_ocr_info() {
    let app = spawn_app().await;
    let started = app.start_face("ETC000000010").await;
    assert_eq!(started.message, "success");
    assert!(!started.auth_url.is_empty() && !started.original_url.is_empty() && !started.flow_id.is_empty());
    assert!(!started.esign_account_id.is_empty());
    let expire = started.expire_time.expect("expiry");
    let minutes = (expire.seconds - chrono::Utc::now().timestamp()) / 60;
    assert!((28..=30).contains(&minutes), "link lives 30 minutes, got {minutes}");
    assert_eq!(app.status("ETC000000010").await, S::HandlerAuthing);

    // The link is the simulator's page with Pass and Fail.
    let page = reqwest::get(&started.auth_url).await.expect("page").text().await.expect("html");
    assert!(page.contains("Pass") && page.contains("Fail"), "{page}");

    app.sim.pass_face(&started.flow_id).expect("pass");
    let p = app.wait_status("ETC000000010", S::HandlerAuthed).await;
    assert_eq!(p.esign_account_id, started.esign_account_id);
    assert_eq!(p.node, pb::AuthProcessNode::HandlerAuth as i32);
    assert_eq!(p.next_node, pb::AuthProcessNode::OrgAuth as i32);
    let member = p.member_info.expect("member info");
    assert_eq!(member.name, "张三");
    assert_eq!(member.id_number, "110***********002X", "identity numbers are answered masked");
    assert_eq!(member.mobile, "138****8000");
    let ocr = p.indiv_ocr_info.expect("ocr");
    assert_eq!(ocr.valid_period, "2019.01.01-2039.01.01");
    app.finish().await;
}

#[tokio::test]
async fn start_face_auth_then_fail_reaches_handler_auth_failed_with_the_reason_and_may_start_again() {
    let app = spawn_app().await;
    let started = app.start_face("ETC000000011").await;
    app.sim.fail_face(&started.flow_id, Some("face mismatch")).expect("fail");
    let p = app.wait_status("ETC000000011", S::HandlerAuthFailed).await;
    assert_eq!(p.fail_reason, "face mismatch");
    let again = app.start_face("ETC000000011").await;
    assert_ne!(again.flow_id, started.flow_id, "a failed flow is not reused");
    assert_eq!(app.status("ETC000000011").await, S::HandlerAuthing);
    app.finish().await;
}

#[tokio::test]
async fn start_face_auth_returns_the_running_link_when_called_twice() {
    let app = spawn_app().await;
    let first = app.start_face("ETC000000012").await;
    let second = app.start_face("ETC000000012").await;
    assert_eq!(first.flow_id, second.flow_id);
    assert_eq!(first.auth_url, second.auth_url);
    assert_eq!(first.expire_time, second.expire_time);
    assert_eq!(app.sim.flows_for_context("ETC000000012").len(), 1);
    app.finish().await;
}

/// The commit that records a new flow frees the member's lease with it: the answer comes with the
/// lease free already, no write of its own left to follow it.
#[tokio::test]
async fn a_start_answers_with_its_member_lease_freed() {
    let app = spawn_app().await;
    let member = "ETC000000190";
    let db = app.db.as_ref().expect("db");
    db.log_process_writes().await;
    app.start_face(member).await;
    db.assert_lease_freed_by_its_commit(member, "started").await;
    app.finish().await;
}

#[tokio::test]
async fn fifty_concurrent_starts_for_one_member_create_one_upstream_flow() {
    let app = spawn_app().await;
    let calls = (0..50).map(|_| {
        let mut c = app.client.clone();
        async move { c.start_face_auth(authed(face_request("ETC000000013"))).await.map(|r| r.into_inner().flow_id) }
    });
    let results = futures::future::join_all(calls).await;
    let ids: std::collections::BTreeSet<String> =
        results.into_iter().map(|r| r.expect("every call succeeds")).collect();
    assert_eq!(ids.len(), 1, "all callers got the same flow: {ids:?}");
    assert_eq!(app.sim.flows_for_context("ETC000000013").len(), 1);
    assert_eq!(app.sim.calls().face, 1);
    app.finish().await;
}

#[tokio::test]
async fn an_authenticated_member_gets_its_account_and_no_link_without_calling_e_sign() {
    let app = spawn_app().await;
    let started = app.authenticated_member("ETC000000014").await;
    let before = app.sim.calls();
    let again = app.start_face("ETC000000014").await;
    assert!(again.already_authenticated);
    assert!(again.auth_url.is_empty() && again.flow_id.is_empty());
    assert_eq!(again.esign_account_id, started.esign_account_id);
    let after = app.sim.calls();
    assert_eq!((before.account, before.face), (after.account, after.face));
    app.finish().await;
}

#[tokio::test]
async fn each_invalid_field_is_named_and_nothing_is_written_or_sent() {
    let app = spawn_app().await;
    let mut c = app.client.clone();
    let cases: Vec<(&str, Mutation)> = vec![
        ("etc_member_no", Box::new(|r| r.etc_member_no = "bad member".into())),
        ("name", Box::new(|r| r.name = String::new())),
        ("name", Box::new(|r| r.name = "张".repeat(33))),
        ("id_number", Box::new(|r| r.id_number = "110105194912310021".into())),
        ("id_number", Box::new(|r| r.id_number = "11010519491231".into())),
        ("mobile", Box::new(|r| r.mobile = "1500000000".into())),
        ("valid_period", Box::new(|r| r.valid_period = "2010.09.02-2020.09.01".into())),
        ("valid_period", Box::new(|r| r.valid_period = "2019/01/01-2039/01/01".into())),
        ("redirect_url", Box::new(|r| r.redirect_url = "javascript:alert(1)".into())),
    ];
    for (field, mutate) in cases {
        let mut req = face_request("ETC000000015");
        mutate(&mut req);
        let err = c.start_face_auth(authed(req)).await.expect_err("invalid");
        assert_eq!(err.code(), Code::InvalidArgument, "{field}");
        let violations = err.get_error_details().bad_request().expect("field violations").field_violations.clone();
        assert!(violations.iter().any(|v| v.field == field), "{field} not named in {violations:?}");
        assert!(!err.message().contains("110105194912310021"), "no identity number in errors");
    }
    assert_eq!(app.sim.calls().account, 0, "nothing was sent upstream");
    assert_eq!(app.status("ETC000000015").await, S::NotStarted);
    app.finish().await;
}

#[tokio::test]
async fn a_forged_callback_is_refused_with_401_and_changes_nothing() {
    let app = spawn_app().await;
    let started = app.start_face("ETC000000016").await;
    let status = post_callback(&app, "a-wrong-secret", &face_body(&started.flow_id, true)).await;
    assert_eq!(status, reqwest::StatusCode::UNAUTHORIZED);
    assert_eq!(app.status("ETC000000016").await, S::HandlerAuthing);
    app.finish().await;
}

#[tokio::test]
async fn a_duplicated_callback_is_acknowledged_and_applied_once() {
    let app = spawn_app().await;
    app.sim.inject_callback_fault(CallbackFault::Duplicate, FaultTrigger::Times(1));
    let started = app.start_face("ETC000000017").await;
    app.sim.pass_face(&started.flow_id).expect("pass");
    app.wait_status("ETC000000017", S::HandlerAuthed).await;
    let v = version(&app, "ETC000000017").await;
    // Deliver the same event again by hand too: acknowledged, nothing moves.
    assert_eq!(post_callback(&app, APP_SECRET, &face_body(&started.flow_id, true)).await, reqwest::StatusCode::OK);
    eventually(Duration::from_secs(10), "both simulator deliveries", || async {
        (app.sim.callbacks().iter().filter(|c| c.action == "FACE_AUTH_RESULT").count() >= 2).then_some(())
    })
    .await;
    assert_eq!(version(&app, "ETC000000017").await, v, "the process was written once");
    app.finish().await;
}

#[tokio::test]
async fn an_older_event_after_a_newer_one_never_moves_the_process_backwards() {
    let app = spawn_app().await;
    let first = app.start_face("ETC000000018").await;
    app.sim.fail_face(&first.flow_id, Some("blurred")).expect("fail");
    app.wait_status("ETC000000018", S::HandlerAuthFailed).await;
    let second = app.start_face("ETC000000018").await;
    app.sim.pass_face(&second.flow_id).expect("pass");
    app.wait_status("ETC000000018", S::HandlerAuthed).await;
    // The first flow's failure, late and again; and a contradicting result for the second flow.
    assert_eq!(post_callback(&app, APP_SECRET, &face_body(&first.flow_id, false)).await, reqwest::StatusCode::OK);
    assert_eq!(post_callback(&app, APP_SECRET, &face_body(&second.flow_id, false)).await, reqwest::StatusCode::OK);
    assert_eq!(app.status("ETC000000018").await, S::HandlerAuthed);
    app.finish().await;
}

#[tokio::test]
async fn a_face_result_is_applied_in_each_form_e_sign_sends_it() {
    let app = spawn_app().await;
    // esign.md §11: `identity_psn_end` when the application subscribes to actions, no `action` when
    // it does not; both carry the flow id and whether it succeeded, with no body timestamp.
    for (member, action) in [("ETC000000031", r#""action":"identity_psn_end","#), ("ETC000000032", "")] {
        let started = app.start_face(member).await;
        let body = format!(
            r#"{{{action}"flowId":"{}","success":true,"accountId":"{}","contextId":"{member}"}}"#,
            started.flow_id, started.esign_account_id
        );
        assert_eq!(post_callback(&app, APP_SECRET, &body).await, reqwest::StatusCode::OK, "{action}");
        assert_eq!(app.status(member).await, S::HandlerAuthed, "{action}");
    }
    app.finish().await;
}

#[tokio::test]
async fn a_page_opened_notification_is_acknowledged_and_applies_nothing() {
    let app = spawn_app().await;
    let started = app.start_face("ETC000000019").await;
    let body = format!(r#"{{"action":"FACE_AUTH_PAGE_OPENED","flowId":"{}","timestamp":1}}"#, started.flow_id);
    assert_eq!(post_callback(&app, APP_SECRET, &body).await, reqwest::StatusCode::OK);
    assert_eq!(app.status("ETC000000019").await, S::HandlerAuthing);
    app.finish().await;
}

fn fast_polling(cfg: &mut etc_esign::config::AppConfig) {
    cfg.poll_initial = Duration::from_millis(100);
    cfg.poll_max = Duration::from_millis(200);
}

#[tokio::test]
async fn a_dropped_callback_is_completed_by_the_reconciler() {
    let app = spawn_app_with(fast_polling).await;
    app.sim.inject_callback_fault(CallbackFault::Drop, FaultTrigger::Times(10));
    let started = app.start_face("ETC000000020").await;
    app.sim.pass_face(&started.flow_id).expect("pass");
    app.wait_status("ETC000000020", S::HandlerAuthed).await;
    assert!(app.sim.calls().outline >= 1, "the reconciler asked for the flow outline");
    app.finish().await;
}

#[tokio::test]
async fn a_flow_running_across_a_restart_is_finished_after_it() {
    let mut app = spawn_app_with(fast_polling).await;
    let started = app.start_face("ETC000000021").await;
    app.stop_app().await;
    // The person passes while the service is down: the callback cannot be delivered.
    app.sim.pass_face(&started.flow_id).expect("pass");
    app.restart().await;
    app.wait_status("ETC000000021", S::HandlerAuthed).await;
    app.finish().await;
}

#[tokio::test]
async fn e_sign_unavailable_answers_unavailable_and_changes_nothing() {
    let app = spawn_app().await;
    app.sim.inject_fault(Endpoint::Account, FaultKind::Status(503), FaultTrigger::Times(1));
    let mut c = app.client.clone();
    let err = c.start_face_auth(authed(face_request("ETC000000022"))).await.expect_err("unavailable");
    assert_eq!(err.code(), Code::Unavailable);
    assert_eq!(app.status("ETC000000022").await, S::NotStarted);
    // A retry succeeds once e签宝 is back.
    let ok = c.start_face_auth(authed(face_request("ETC000000022"))).await.expect("retry works");
    assert!(!ok.into_inner().flow_id.is_empty());
    app.finish().await;
}

#[tokio::test]
async fn e_sign_refusing_answers_failed_precondition_with_its_code() {
    let app = spawn_app().await;
    app.sim.inject_fault(
        Endpoint::Face,
        FaultKind::Business { code: 30500101, message: "参数错误".into() },
        FaultTrigger::Times(1),
    );
    let mut c = app.client.clone();
    let err = c.start_face_auth(authed(face_request("ETC000000023"))).await.expect_err("refused");
    assert_eq!(err.code(), Code::FailedPrecondition);
    let info = err.get_error_details().error_info().expect("error info").clone();
    assert_eq!(info.domain, "esign.cn");
    assert_eq!(info.metadata.get("code").map(String::as_str), Some("30500101"));
    assert_eq!(app.status("ETC000000023").await, S::NotStarted);
    app.finish().await;
}
