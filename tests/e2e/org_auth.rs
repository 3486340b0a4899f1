//! Nodes ORG_AUTH and PUB_PAYMENT_AUTH end to end: StartOrgAuth (legal person, payment, mismatch),
//! StartReversePayment / GetReversePayment, the simulator's payment page actions, callbacks in each
//! form, dropped callbacks finished by the reconciler, and e签宝's refusals.
use std::time::Duration;

use etc_esign::domain::values::MemberNo;
use etc_esign::grpc::pb::{self, AuthProcessNode as N, AuthProcessStatus as S, ReversePaymentProcess as P};
use etc_esign::sim::{CallbackFault, Endpoint, FaultKind, FaultTrigger};
use tonic::Code;
use tonic_types::StatusExt;

use crate::helpers::*;

/// The company every request names, and a legal person who is not the test handler.
const OTHER_LEGAL_ID: &str = "310104198001011239";

/// A change that makes one field of a valid request invalid.
type Mutation = Box<dyn Fn(&mut pb::StartOrgAuthRequest)>;

/// StartOrgAuth for a company whose legal person is someone else: the company must pay.
fn paying_request(member: &str) -> pb::StartOrgAuthRequest {
    pb::StartOrgAuthRequest {
        org_legal_name: "王五".into(),
        org_legal_id_number: OTHER_LEGAL_ID.into(),
        ..legal_person_request(member)
    }
}

async fn start_org(app: &TestApp, req: pb::StartOrgAuthRequest) -> Result<pb::StartOrgAuthResponse, tonic::Status> {
    let mut c = app.client.clone();
    c.start_org_auth(authed(req)).await.map(tonic::Response::into_inner)
}

async fn start_payment(app: &TestApp, member: &str) -> Result<pb::StartReversePaymentResponse, tonic::Status> {
    let mut c = app.client.clone();
    c.start_reverse_payment(authed(pb::StartReversePaymentRequest { etc_member_no: member.into() }))
        .await
        .map(tonic::Response::into_inner)
}

async fn payment(app: &TestApp, member: &str, refresh: bool) -> pb::GetReversePaymentResponse {
    let mut c = app.client.clone();
    c.get_reverse_payment(authed(pb::GetReversePaymentRequest { etc_member_no: member.into(), refresh }))
        .await
        .expect("GetReversePayment")
        .into_inner()
}

/// A member whose handler passed and whose company waits for its payment, with the receiving account.
async fn paying_member(app: &TestApp, member: &str) -> (pb::StartOrgAuthResponse, pb::StartReversePaymentResponse) {
    app.authenticated_member(member).await;
    let started = start_org(app, paying_request(member)).await.expect("StartOrgAuth");
    let account = start_payment(app, member).await.expect("StartReversePayment");
    (started, account)
}

async fn version(app: &TestApp, member: &str) -> i64 {
    let store = app.app.as_ref().expect("running").service.store().clone();
    store.process(&MemberNo::parse(member).unwrap()).await.unwrap().expect("stored").version()
}

fn org_end_body(action: Option<&str>, flow_id: &str, success: bool) -> String {
    let action = action.map(|a| format!(r#""action":"{a}","#)).unwrap_or_default();
    format!(
        r#"{{{action}"flowId":"{flow_id}","success":{success},"accountId":"x","contextId":"c","agentFlowId":"a","agentAccountId":"b"}}"#
    )
}

fn fast_polling(cfg: &mut etc_esign::config::AppConfig) {
    cfg.poll_initial = Duration::from_millis(100);
    cfg.poll_max = Duration::from_millis(200);
}

#[tokio::test]
async fn a_handler_who_is_the_legal_person_makes_the_company_org_authed_at_once() {
    let app = spawn_app().await;
    app.authenticated_member("ETC000000101").await;
    let started = start_org(&app, legal_person_request("ETC000000101")).await.expect("StartOrgAuth");
    let process = started.process.clone().expect("process");
    assert_eq!(process.status, S::CertUnconfirmed as i32);
    assert!(!started.payment_required && !started.org_id.is_empty() && !started.flow_id.is_empty());
    assert_eq!(process.node, N::OrgAuth as i32);
    assert!(!process.node_list.contains(&(N::PubPaymentAuth as i32)));
    assert_eq!(app.sim.org_flow(&started.flow_id).expect("upstream flow").status.as_str(), "SUCCESS");

    // GetProcessDetail answers the company and its profile, masked where personal.
    let detail = app.process("ETC000000101").await;
    let org = detail.member_info.and_then(|m| m.org_info).expect("org info");
    assert_eq!((org.name.as_str(), org.id_number.as_str()), ("房友科技有限公司", CREDIT_CODE));
    assert_eq!((org.id_type, org.org_legal_name.as_str()), (pb::OrgIdType::Uscc as i32, "张三"));
    assert_eq!(org.org_legal_id_number, "110***********002X");
    let ocr = detail.org_ocr_info.expect("org ocr info");
    assert_eq!((ocr.org_abbreviation.as_str(), ocr.valid_period.as_str()), ("房友", "2020.01.01-2035.01.01"));
    assert_eq!((ocr.location.as_str(), ocr.contact_mobile.as_str()), ("上海市", "130****1998"));

    // Again: the same answer, nothing upstream.
    let before = app.sim.calls();
    let again = start_org(&app, legal_person_request("ETC000000101")).await.expect("again");
    assert_eq!((again.org_id, again.flow_id), (started.org_id, started.flow_id));
    assert_eq!(app.sim.calls(), before);
    // No payment for this company.
    let err = start_payment(&app, "ETC000000101").await.expect_err("no payment");
    assert_eq!(err.code(), Code::FailedPrecondition);
    app.finish().await;
}

#[tokio::test]
async fn a_company_that_pays_from_its_own_account_is_org_authed_by_the_callback() {
    let app = spawn_app().await;
    let (started, account) = paying_member(&app, "ETC000000102").await;
    let process = started.process.expect("process");
    assert!(started.payment_required);
    assert_eq!((process.status, process.node), (S::OrgAuthing as i32, N::PubPaymentAuth as i32));
    assert_eq!(process.next_node, N::SaveOrgSeal as i32);
    assert!(process.node_list.contains(&(N::PubPaymentAuth as i32)));
    assert_eq!(account.payment_amount, "0.01");
    assert!(account.sub_account_no.len() >= 10 && !account.main_account_name.is_empty());
    assert_eq!(account.process, P::Created as i32);

    // Idempotent: the same account, no second upstream call.
    let again = start_payment(&app, "ETC000000102").await.expect("again");
    assert_eq!(again.sub_account_no, account.sub_account_no);
    assert_eq!(app.sim.calls().reverse_payment, 1);

    let stored = payment(&app, "ETC000000102", false).await;
    let p = stored.payment.expect("payment");
    assert_eq!((p.process, stored.status), (P::Created as i32, S::OrgAuthing as i32));
    let last4 = &account.sub_account_no[account.sub_account_no.len() - 4..];
    assert!(p.sub_account.ends_with(last4) && p.sub_account.starts_with('*'), "{}", p.sub_account);

    app.sim.pay_from_company(&started.flow_id).expect("pay");
    let done = app.wait_status("ETC000000102", S::CertUnconfirmed).await;
    assert_eq!(done.node, N::OrgAuth as i32);
    // The callback carries no payment details; a refresh reads them once.
    let refreshed = payment(&app, "ETC000000102", true).await;
    let p = refreshed.payment.expect("payment");
    assert_eq!(p.process, P::Organfinished as i32);
    assert_eq!(p.pay_amount, "0.01");
    assert!(p.opp_account_no.starts_with('*') && p.opp_account_no.len() > 4, "{}", p.opp_account_no);
    assert_eq!(p.opp_account_name, "房友科技有限公司");
    assert!(p.trade_time.is_some());

    // The history names what made each move of the company's node.
    let mut c = app.client.clone();
    let history = c
        .get_process_history(authed(pb::GetProcessHistoryRequest {
            etc_member_no: "ETC000000102".into(),
            page_size: 0,
            page_token: String::new(),
        }))
        .await
        .expect("history")
        .into_inner();
    let company: Vec<_> = history
        .transitions
        .iter()
        .filter(|t| t.from_status >= S::HandlerAuthed as i32)
        .map(|t| (t.from_status, t.to_status, t.method.as_str(), t.action.as_str()))
        .collect();
    assert_eq!(
        company,
        vec![
            (S::HandlerAuthed as i32, S::OrgNotAuth as i32, "StartOrgAuth", ""),
            (S::OrgNotAuth as i32, S::OrgAuthing as i32, "StartOrgAuth", ""),
            (S::OrgAuthing as i32, S::OrgAuthed as i32, "", "identity_org_end"),
            (S::OrgAuthed as i32, S::CertUnconfirmed as i32, "", "identity_org_end"),
        ]
    );
    app.finish().await;
}

#[tokio::test]
async fn a_payment_whose_callback_is_dropped_is_finished_by_the_reconciler() {
    let app = spawn_app_with(fast_polling).await;
    let (started, _) = paying_member(&app, "ETC000000103").await;
    app.sim.inject_callback_fault(CallbackFault::Drop, FaultTrigger::Times(10));
    app.sim.pay_from_company(&started.flow_id).expect("pay");
    app.wait_status("ETC000000103", S::CertUnconfirmed).await;
    assert!(app.sim.calls().payment_process >= 1, "the reconciler asked for the payment progress");
    let p = payment(&app, "ETC000000103", false).await.payment.expect("payment");
    assert_eq!(p.process, P::Organfinished as i32);
    assert!(p.opp_account_no.starts_with('*'), "details came with the poll: {}", p.opp_account_no);
    app.finish().await;
}

#[tokio::test]
async fn a_duplicated_company_callback_is_applied_once() {
    let app = spawn_app().await;
    let (started, _) = paying_member(&app, "ETC000000104").await;
    app.sim.inject_callback_fault(CallbackFault::Duplicate, FaultTrigger::Times(1));
    app.sim.pay_from_company(&started.flow_id).expect("pay");
    app.wait_status("ETC000000104", S::CertUnconfirmed).await;
    let v = version(&app, "ETC000000104").await;
    eventually(Duration::from_secs(10), "both deliveries", || async {
        let delivered = app
            .sim
            .callbacks()
            .iter()
            .filter(|c| c.subject == started.flow_id && c.state == etc_esign::sim::DeliveryState::Delivered)
            .count();
        (delivered == 2).then_some(())
    })
    .await;
    assert_eq!(
        post_callback(&app, APP_SECRET, &org_end_body(Some("identity_org_end"), &started.flow_id, true)).await,
        200
    );
    assert_eq!(version(&app, "ETC000000104").await, v, "applied once");
    app.finish().await;
}

#[tokio::test]
async fn a_late_failure_after_success_never_moves_the_company_backwards() {
    let app = spawn_app().await;
    let (started, _) = paying_member(&app, "ETC000000105").await;
    app.sim.pay_from_company(&started.flow_id).expect("pay");
    app.wait_status("ETC000000105", S::CertUnconfirmed).await;
    let body = org_end_body(Some("identity_org_end"), &started.flow_id, false);
    assert_eq!(post_callback(&app, APP_SECRET, &body).await, reqwest::StatusCode::OK);
    assert_eq!(app.status("ETC000000105").await, S::CertUnconfirmed);
    app.finish().await;
}

#[tokio::test]
async fn a_company_result_is_applied_in_each_form_e_sign_sends_it() {
    let app = spawn_app().await;
    for (i, action) in [Some("identity_org_end"), None].into_iter().enumerate() {
        let member = format!("ETC00000011{i}");
        let (started, _) = paying_member(&app, &member).await;
        // The simulator's own callback is lost: the result comes only from the posted form.
        app.sim.inject_callback_fault(CallbackFault::Drop, FaultTrigger::Times(1));
        app.sim.pay_from_company(&started.flow_id).expect("pay");
        let body = org_end_body(action, &started.flow_id, true);
        assert_eq!(post_callback(&app, APP_SECRET, &body).await, reqwest::StatusCode::OK, "{action:?}");
        app.wait_status(&member, S::CertUnconfirmed).await;
    }
    app.finish().await;
}

#[tokio::test]
async fn pay_failed_then_a_payment_from_the_company_account_verifies_it() {
    let app = spawn_app().await;
    let (started, _) = paying_member(&app, "ETC000000106").await;
    app.sim.pay_from_other_account(&started.flow_id).expect("wrong payment");
    let seen = payment(&app, "ETC000000106", true).await;
    let p = seen.payment.expect("payment");
    assert_eq!((p.process, seen.status), (P::PayFailed as i32, S::OrgAuthing as i32));
    assert!(p.opp_account_no.starts_with('*') && !p.opp_account_name.is_empty());
    // Stored: a read without refresh answers the same.
    assert_eq!(payment(&app, "ETC000000106", false).await.payment.expect("payment").process, P::PayFailed as i32);
    app.sim.pay_from_company(&started.flow_id).expect("right payment");
    app.wait_status("ETC000000106", S::CertUnconfirmed).await;
    app.finish().await;
}

#[tokio::test]
async fn a_company_mismatch_fails_the_step_and_a_new_start_succeeds() {
    let app = spawn_app().await;
    app.authenticated_member("ETC000000107").await;
    app.sim.set_company_mismatch(CREDIT_CODE, true);
    let err = start_org(&app, legal_person_request("ETC000000107")).await.expect_err("mismatch");
    assert_eq!(err.code(), Code::FailedPrecondition);
    let info = err.get_error_details().error_info().expect("error info").clone();
    assert_eq!((info.domain.as_str(), info.metadata.get("code").map(String::as_str)), ("esign.cn", Some("30504001")));
    let failed = app.process("ETC000000107").await;
    assert_eq!(failed.status, S::OrgAuthFailed as i32);
    assert!(!failed.fail_reason.is_empty());

    app.sim.set_company_mismatch(CREDIT_CODE, false);
    let started = start_org(&app, legal_person_request("ETC000000107")).await.expect("a new start");
    assert_eq!(started.process.expect("process").status, S::CertUnconfirmed as i32);
    assert_eq!(app.sim.orgs().len(), 1, "the company account is reused");
    app.finish().await;
}

/// The commit that records the company's step frees the member's lease, refused or started: no
/// release follows the answer.
#[tokio::test]
async fn a_company_start_answers_with_its_member_lease_freed_whether_refused_or_started() {
    let app = spawn_app().await;
    let member = "ETC000000191";
    app.authenticated_member(member).await;
    let db = app.db.as_ref().expect("db");
    db.log_process_writes().await;
    app.sim.set_company_mismatch(CREDIT_CODE, true);
    start_org(&app, legal_person_request(member)).await.expect_err("mismatch");
    db.assert_lease_freed_by_its_commit(member, "refused").await;
    app.sim.set_company_mismatch(CREDIT_CODE, false);
    start_org(&app, paying_request(member)).await.expect("started");
    db.assert_lease_freed_by_its_commit(member, "started").await;
    app.finish().await;
}

/// StartReversePayment records the account in the commit that frees the member's lease; a repeated
/// call answers the same account without taking the lease at all.
#[tokio::test]
async fn a_reverse_payment_start_answers_with_its_member_lease_freed_and_a_repeat_takes_none() {
    let app = spawn_app().await;
    let member = "ETC000000192";
    let db = app.db.as_ref().expect("db");
    db.log_process_writes().await;
    let (_, first) = paying_member(&app, member).await;
    db.assert_lease_freed_by_its_commit(member, "the payment's account recorded").await;
    assert_eq!(app.sim.calls().reverse_payment, 1);
    let (v, writes) = (version(&app, member).await, db.process_writes(member).await);
    let again = start_payment(&app, member).await.expect("repeated");
    assert_eq!(again, first, "the same account");
    assert_eq!(app.sim.calls().reverse_payment, 1, "e签宝 asked once");
    assert_eq!(db.lease(member).await, Some((None, None)));
    assert_eq!(version(&app, member).await, v, "a repeat writes nothing");
    assert_eq!(db.process_writes(member).await, writes, "a repeat takes no lease");
    app.finish().await;
}

#[tokio::test]
async fn fifty_concurrent_org_starts_for_one_member_make_one_company_flow() {
    let app = spawn_app().await;
    app.authenticated_member("ETC000000108").await;
    let calls = (0..50).map(|_| {
        let mut c = app.client.clone();
        async move { c.start_org_auth(authed(paying_request("ETC000000108"))).await.map(|r| r.into_inner().flow_id) }
    });
    let results = futures::future::join_all(calls).await;
    let ids: std::collections::BTreeSet<String> =
        results.into_iter().map(|r| r.expect("every call succeeds")).collect();
    assert_eq!(ids.len(), 1, "all callers got the same flow: {ids:?}");
    assert_eq!(app.sim.org_flows().len(), 1);
    assert_eq!((app.sim.calls().four_factors, app.sim.calls().org_account), (1, 1));
    app.finish().await;
}

#[tokio::test]
async fn each_invalid_org_field_is_named_and_nothing_is_sent() {
    let app = spawn_app().await;
    app.authenticated_member("ETC000000109").await;
    let mut c = app.client.clone();
    let profile = |f: fn(&mut pb::OrgProfile)| -> Mutation {
        Box::new(move |r: &mut pb::StartOrgAuthRequest| f(r.profile.as_mut().expect("profile")))
    };
    let cases: Vec<(&str, Mutation)> = vec![
        ("etc_member_no", Box::new(|r| r.etc_member_no = "bad member".into())),
        ("name", Box::new(|r| r.name = String::new())),
        ("name", Box::new(|r| r.name = "公".repeat(33))),
        ("id_type", Box::new(|r| r.id_type = 0)),
        ("id_number", Box::new(|r| r.id_number = "91350100M000100Y44".into())),
        ("id_number", Box::new(|r| r.id_type = pb::OrgIdType::Regcode as i32)),
        (
            "id_number",
            Box::new(|r| {
                r.id_type = pb::OrgIdType::Regcode as i32;
                r.id_number = "110108000000017".into();
            }),
        ),
        ("org_legal_name", Box::new(|r| r.org_legal_name = "张".repeat(33))),
        ("org_legal_id_number", Box::new(|r| r.org_legal_id_number = "110105194912310021".into())),
        ("profile.org_abbreviation", profile(|p| p.org_abbreviation = "x".repeat(33))),
        ("profile.address", profile(|p| p.address = "地".repeat(33))),
        ("profile.valid_period", profile(|p| p.valid_period = "2020/01/01".into())),
        ("profile.contact_mobile", profile(|p| p.contact_mobile = "1302122199".into())),
    ];
    for (field, mutate) in cases {
        let mut req = legal_person_request("ETC000000109");
        mutate(&mut req);
        let err = c.start_org_auth(authed(req)).await.expect_err("invalid");
        assert_eq!(err.code(), Code::InvalidArgument, "{field}");
        let violations = err.get_error_details().bad_request().expect("field violations").field_violations.clone();
        assert!(violations.iter().any(|v| v.field == field), "{field} not named in {violations:?}");
        assert!(!err.message().contains("110105194912310021"), "no identity number in errors");
    }
    // A registration number of the right form is accepted.
    let mut req = legal_person_request("ETC000000109");
    req.id_type = pb::OrgIdType::Regcode as i32;
    req.id_number = "110108000000016".into();
    assert_eq!(app.sim.calls().org_account, 0, "nothing was sent upstream");
    assert_eq!(app.status("ETC000000109").await, S::HandlerAuthed);
    start_org(&app, req).await.expect("a registration number");
    app.finish().await;
}

#[tokio::test]
async fn starting_the_company_out_of_order_is_failed_precondition_naming_the_status() {
    let app = spawn_app().await;
    let err = start_org(&app, legal_person_request("ETC000000120")).await.expect_err("not authenticated");
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert!(err.message().contains("NOT_STARTED"), "{}", err.message());
    let err = start_payment(&app, "ETC000000120").await.expect_err("no flow");
    assert_eq!(err.code(), Code::FailedPrecondition);
    let mut c = app.client.clone();
    let err = c
        .get_reverse_payment(authed(pb::GetReversePaymentRequest {
            etc_member_no: "ETC000000120".into(),
            refresh: true,
        }))
        .await
        .expect_err("no flow");
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert_eq!(app.sim.calls().org_account, 0);
    app.finish().await;
}

#[tokio::test]
async fn e_sign_refusing_the_company_calls_answers_failed_precondition_with_its_code() {
    let app = spawn_app().await;
    app.authenticated_member("ETC000000121").await;
    // The account call unreachable: UNAVAILABLE, nothing moves.
    app.sim.inject_fault(Endpoint::OrgAccount, FaultKind::Status(503), FaultTrigger::Times(1));
    let err = start_org(&app, paying_request("ETC000000121")).await.expect_err("unavailable");
    assert_eq!(err.code(), Code::Unavailable);
    assert_eq!(app.status("ETC000000121").await, S::HandlerAuthed);
    // The 4-factor call refused: its code, and the account exists (ORG_NOT_AUTH).
    for code in [30502008, 30500100] {
        app.sim.inject_fault(
            Endpoint::FourFactors,
            FaultKind::Business { code, message: "refused".into() },
            FaultTrigger::Times(1),
        );
        let err = start_org(&app, paying_request("ETC000000121")).await.expect_err("refused");
        assert_eq!(err.code(), Code::FailedPrecondition);
        let info = err.get_error_details().error_info().expect("error info").clone();
        assert_eq!(info.metadata.get("code").map(String::as_str), Some(code.to_string().as_str()));
        assert_eq!(app.status("ETC000000121").await, S::OrgNotAuth);
    }
    let started = start_org(&app, paying_request("ETC000000121")).await.expect("retry works");
    // The payment calls refused: flow ended, expired.
    for code in [30500002, 30500003] {
        app.sim.inject_fault(
            Endpoint::ReversePayment,
            FaultKind::Business { code, message: "refused".into() },
            FaultTrigger::Times(1),
        );
        let err = start_payment(&app, "ETC000000121").await.expect_err("refused");
        assert_eq!(err.code(), Code::FailedPrecondition);
        let info = err.get_error_details().error_info().expect("error info").clone();
        assert_eq!(info.metadata.get("code").map(String::as_str), Some(code.to_string().as_str()));
    }
    // An expired flow is given up: the member may start again and gets a new flow.
    let again = start_org(&app, paying_request("ETC000000121")).await.expect("a new flow");
    assert_ne!(again.flow_id, started.flow_id);
    start_payment(&app, "ETC000000121").await.expect("payment on the new flow");
    app.finish().await;
}

#[tokio::test]
async fn get_process_detail_with_refresh_finishes_a_paid_company() {
    let app = spawn_app().await;
    let (started, _) = paying_member(&app, "ETC000000122").await;
    app.sim.inject_callback_fault(CallbackFault::Drop, FaultTrigger::Times(10));
    app.sim.pay_from_company(&started.flow_id).expect("pay");
    let mut c = app.client.clone();
    let p = c
        .get_process_detail(authed(pb::GetProcessDetailRequest { etc_member_no: "ETC000000122".into(), refresh: true }))
        .await
        .expect("refresh")
        .into_inner()
        .process
        .expect("process");
    assert_eq!(p.status, S::CertUnconfirmed as i32);
    app.finish().await;
}

#[tokio::test]
async fn a_company_flow_past_its_30_days_is_given_up_and_a_new_start_makes_a_new_flow() {
    let app = spawn_app().await;
    app.authenticated_member("ETC000000123").await;
    let first = start_org(&app, paying_request("ETC000000123")).await.expect("StartOrgAuth");
    app.sim.age_org_flow(&first.flow_id, Duration::from_secs(31 * 24 * 3600)).expect("aged");
    let err = start_payment(&app, "ETC000000123").await.expect_err("expired");
    let info = err.get_error_details().error_info().expect("error info").clone();
    assert_eq!(info.metadata.get("code").map(String::as_str), Some("30500003"));
    let second = start_org(&app, paying_request("ETC000000123")).await.expect("a new start");
    assert_ne!(second.flow_id, first.flow_id);
    assert_eq!(second.process.expect("process").status, S::OrgAuthing as i32);
    start_payment(&app, "ETC000000123").await.expect("the new flow's account");
    app.finish().await;
}

#[tokio::test]
async fn after_a_cancel_the_old_payment_is_forgotten_and_its_late_result_changes_nothing() {
    let app = spawn_app().await;
    let (started, _) = paying_member(&app, "ETC000000124").await;
    let mut c = app.client.clone();
    c.cancel_process(authed(pb::CancelProcessRequest { etc_member_no: "ETC000000124".into() }))
        .await
        .expect("cancelled");
    let err = start_payment(&app, "ETC000000124").await.expect_err("no payment after a cancel");
    assert_eq!(err.code(), Code::FailedPrecondition);
    app.sim.pay_from_company(&started.flow_id).expect("a late payment");
    eventually(Duration::from_secs(10), "the late callback delivered", || async {
        let delivered = app
            .sim
            .callbacks()
            .iter()
            .any(|cb| cb.subject == started.flow_id && cb.state == etc_esign::sim::DeliveryState::Delivered);
        delivered.then_some(())
    })
    .await;
    assert_eq!(app.status("ETC000000124").await, S::NotStarted);
    app.finish().await;
}

#[tokio::test]
async fn a_handler_who_passed_by_sms_verifies_the_company_as_its_legal_person() {
    let app = spawn_app().await;
    let mut c = app.client.clone();
    let started = c.start_sms_auth(authed(sms_request("ETC000000125"))).await.expect("sms").into_inner();
    let code = app.sim.sms_code(&started.flow_id).expect("an SMS was sent");
    c.verify_sms_code(authed(pb::VerifySmsCodeRequest { etc_member_no: "ETC000000125".into(), code }))
        .await
        .expect("verified");
    let org = start_org(&app, legal_person_request("ETC000000125")).await.expect("StartOrgAuth");
    assert_eq!(org.process.expect("process").status, S::CertUnconfirmed as i32);
    let upstream = app.sim.org_flow(&org.flow_id).expect("company flow");
    assert_eq!(upstream.agent_flow_id, started.flow_id, "the SMS flow is the agent's passed flow");
    app.finish().await;
}

/// Waits until the member's lease is free (StartReversePayment frees it in its commit; a call
/// answered under the lease without a commit releases it just after its answer).
async fn lease_released(app: &TestApp, member: &str) {
    let db = app.db.as_ref().expect("db");
    eventually(Duration::from_secs(10), "the member's lease released", || async {
        db.lease(member).await?.0.is_none().then_some(())
    })
    .await;
}

#[tokio::test]
async fn polling_the_payment_reads_the_process_as_reads_keep_it_and_sees_a_change_made_in_sql_at_once() {
    let app = spawn_app().await;
    let member = "ETC000000126";
    paying_member(&app, member).await;
    lease_released(&app, member).await;
    let first = payment(&app, member, false).await;
    let hits = || app.app.as_ref().expect("running").service.read_cache().counts().0;
    let before = hits();
    for _ in 0..5 {
        assert_eq!(payment(&app, member, false).await, first);
    }
    // Nothing writes the member meanwhile, so each poll can answer from memory; one may still go to
    // the database if its catch-up check times out on a loaded machine (before: none answered so).
    assert!(hits() >= before + 4, "the polls answer the process from memory: {before} → {}", hits());

    let by_hand = format!("UPDATE processes SET status = 'ORG_AUTH_FAILED' WHERE member_no = '{member}'");
    assert_eq!(app.db.as_ref().expect("db").execute(&by_hand).await, 1);
    let seen = payment(&app, member, false).await;
    assert_eq!(seen.status, S::OrgAuthFailed as i32, "a change made in SQL is seen by the next poll");
    assert_eq!(seen.payment, first.payment, "the payment itself is read as stored");
    app.finish().await;
}
