//! Node HANDLER_AUTH by SMS end to end: StartSmsAuth, the code the simulator sent, VerifySmsCode
//! with right, wrong and three wrong codes, idempotency, refusals and validation.
use etc_esign::grpc::pb::{self, AuthProcessStatus as S, TransitionSource as T};
use etc_esign::sim::{Endpoint, FaultKind, FaultTrigger};
use tonic::Code;
use tonic_types::StatusExt;

use crate::helpers::*;

async fn start(app: &TestApp, member: &str) -> Result<pb::StartSmsAuthResponse, tonic::Status> {
    let mut c = app.client.clone();
    c.start_sms_auth(authed(sms_request(member))).await.map(|r| r.into_inner())
}

async fn verify(app: &TestApp, member: &str, code: &str) -> Result<pb::AuthProcess, tonic::Status> {
    let mut c = app.client.clone();
    let req = pb::VerifySmsCodeRequest { etc_member_no: member.into(), code: code.into() };
    c.verify_sms_code(authed(req)).await.map(|r| r.into_inner().process.expect("process"))
}

/// A code that is not the one sent.
fn wrong(code: &str) -> String {
    let first = if code.starts_with('0') { '1' } else { '0' };
    format!("{first}{}", &code[1..])
}

fn esign_code(err: &tonic::Status) -> Option<String> {
    err.get_error_details().error_info().and_then(|i| i.metadata.get("code").cloned())
}

#[tokio::test]
async fn the_right_code_authenticates_the_handler() {
    let app = spawn_app().await;
    let started = start(&app, "ETC000000400").await.expect("started");
    assert!(!started.flow_id.is_empty() && !started.esign_account_id.is_empty() && !started.already_authenticated);
    assert_eq!(started.status(), S::HandlerAuthing);
    let left = started.code_expire_time.expect("expiry").seconds - chrono::Utc::now().timestamp();
    assert!((14 * 60..=15 * 60).contains(&left), "the code lives 15 minutes, {left}s left");

    let code = app.sim.sms_code(&started.flow_id).expect("an SMS was sent");
    let p = verify(&app, "ETC000000400", &code).await.expect("verified");
    assert_eq!(p.status(), S::HandlerAuthed);
    assert_eq!(p.esign_account_id, started.esign_account_id);
    assert_eq!(p.member_info.expect("member").mobile, "138****8000");

    // The result is applied once: by the RPC, or by e签宝's callback if it came first.
    let mut c = app.client.clone();
    let history = c
        .get_process_history(authed(pb::GetProcessHistoryRequest {
            etc_member_no: "ETC000000400".into(),
            page_size: 0,
            page_token: String::new(),
        }))
        .await
        .expect("history")
        .into_inner()
        .transitions;
    let last = history.last().expect("moves");
    let by = (last.source(), last.method.as_str(), last.action.as_str());
    assert!(by == (T::Rpc, "VerifySmsCode", "") || by == (T::Callback, "", "identity_psn_end"), "made by {by:?}");
    assert_eq!(last.to_status(), S::HandlerAuthed);
    assert_eq!(history.len(), 2);
    // Started again, an authenticated member gets its account and no SMS.
    let again = start(&app, "ETC000000400").await.expect("again");
    assert!(again.already_authenticated && again.flow_id.is_empty());
    assert_eq!(app.sim.calls().sms_start, 1);
    app.finish().await;
}

#[tokio::test]
async fn a_wrong_code_is_refused_with_its_code_and_changes_nothing() {
    let app = spawn_app().await;
    let started = start(&app, "ETC000000401").await.expect("started");
    let code = app.sim.sms_code(&started.flow_id).expect("sms");
    let err = verify(&app, "ETC000000401", &wrong(&code)).await.expect_err("wrong code");
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert_eq!(esign_code(&err).as_deref(), Some("30503002"));
    assert_eq!(app.status("ETC000000401").await, S::HandlerAuthing);
    assert_eq!(verify(&app, "ETC000000401", &code).await.expect("then right").status(), S::HandlerAuthed);
    app.finish().await;
}

#[tokio::test]
async fn three_wrong_codes_fail_the_handler_who_may_start_again() {
    let app = spawn_app().await;
    let started = start(&app, "ETC000000402").await.expect("started");
    let code = app.sim.sms_code(&started.flow_id).expect("sms");
    for _ in 0..2 {
        let err = verify(&app, "ETC000000402", &wrong(&code)).await.expect_err("wrong");
        assert_eq!(esign_code(&err).as_deref(), Some("30503002"));
    }
    let err = verify(&app, "ETC000000402", &wrong(&code)).await.expect_err("third wrong");
    assert_eq!((err.code(), esign_code(&err).as_deref()), (Code::FailedPrecondition, Some("30503004")));
    let p = app.process("ETC000000402").await;
    assert_eq!(p.status(), S::HandlerAuthFailed);
    assert!(!p.fail_reason.is_empty());
    // No code is awaited any more; a new start sends a new one.
    let err = verify(&app, "ETC000000402", &code).await.expect_err("nothing awaited");
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert!(err.message().contains("HANDLER_AUTH_FAILED"), "{}", err.message());
    let again = start(&app, "ETC000000402").await.expect("again");
    assert_ne!(again.flow_id, started.flow_id);
    let code = app.sim.sms_code(&again.flow_id).expect("sms");
    assert_eq!(verify(&app, "ETC000000402", &code).await.expect("right").status(), S::HandlerAuthed);
    app.finish().await;
}

#[tokio::test]
async fn concurrent_starts_send_one_sms_and_answer_the_same_flow() {
    let app = spawn_app().await;
    let calls = (0..20).map(|_| start(&app, "ETC000000403"));
    let answers = futures::future::join_all(calls).await;
    let flows: std::collections::BTreeSet<String> = answers.into_iter().map(|a| a.expect("started").flow_id).collect();
    assert_eq!(flows.len(), 1, "{flows:?}");
    assert_eq!(app.sim.calls().sms_start, 1);
    app.finish().await;
}

#[tokio::test]
async fn factors_e_sign_refuses_answer_failed_precondition_and_change_nothing() {
    let app = spawn_app().await;
    app.sim.inject_fault(
        Endpoint::SmsStart,
        FaultKind::Business { code: 30501005, message: "三要素不一致".into() },
        FaultTrigger::Times(1),
    );
    let err = start(&app, "ETC000000404").await.expect_err("refused");
    assert_eq!((err.code(), esign_code(&err).as_deref()), (Code::FailedPrecondition, Some("30501005")));
    assert_eq!(app.status("ETC000000404").await, S::NotStarted);
    app.finish().await;
}

#[tokio::test]
async fn invalid_fields_are_named_and_nothing_is_sent() {
    let app = spawn_app().await;
    let mut bad = sms_request("ETC000000405");
    bad.mobile = "1234".into();
    bad.id_number = "110105194912310021".into();
    let mut c = app.client.clone();
    let err = c.start_sms_auth(authed(bad)).await.expect_err("invalid");
    assert_eq!(err.code(), Code::InvalidArgument);
    let mut fields: Vec<String> =
        err.get_details_bad_request().expect("bad request").field_violations.into_iter().map(|v| v.field).collect();
    fields.sort();
    assert_eq!(fields, ["id_number", "mobile"]);
    for code in ["12345", "1234567", "12a456", ""] {
        let err = verify(&app, "ETC000000405", code).await.expect_err(code);
        assert_eq!(err.code(), Code::InvalidArgument, "{code}");
        assert!(!err.message().contains(code) || code.is_empty(), "the code is not echoed");
    }
    let calls = app.sim.calls();
    assert_eq!((calls.account, calls.sms_start, calls.sms_verify), (0, 0, 0));
    app.finish().await;
}
