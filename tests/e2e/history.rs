//! CancelProcess and GetProcessHistory end to end: every move recorded with what made it, in order,
//! paged, kept across a cancel; a cancel starts the member over and a late result changes nothing.
use std::time::Duration;

use etc_esign::esign::callback::{ACTION_AUTHORIZATION_RESULT, ACTION_FACE_RESULT};
use etc_esign::grpc::pb::{self, AuthProcessNode as N, AuthProcessStatus as S, TransitionSource as T};
use etc_esign::sim::{CallbackFault, FaultTrigger};
use tonic::Code;
use tonic_types::StatusExt;

use crate::helpers::*;

async fn history_page(app: &TestApp, member: &str, page_size: i32, page_token: &str) -> pb::GetProcessHistoryResponse {
    let mut c = app.client.clone();
    let req = pb::GetProcessHistoryRequest { etc_member_no: member.into(), page_size, page_token: page_token.into() };
    c.get_process_history(authed(req)).await.expect("GetProcessHistory").into_inner()
}

async fn history(app: &TestApp, member: &str) -> Vec<pb::ProcessTransition> {
    history_page(app, member, 0, "").await.transitions
}

async fn cancel(app: &TestApp, member: &str) -> pb::CancelProcessResponse {
    let mut c = app.client.clone();
    c.cancel_process(authed(pb::CancelProcessRequest { etc_member_no: member.into() }))
        .await
        .expect("CancelProcess")
        .into_inner()
}

/// A move as the test states it: statuses, node, source and its detail (method or action).
fn moves(list: &[pb::ProcessTransition]) -> Vec<(S, S, N, T, String)> {
    list.iter()
        .map(|t| {
            let detail =
                if t.source == T::Rpc as i32 { format!("{}@{}", t.method, t.caller) } else { t.action.clone() };
            (t.from_status(), t.to_status(), t.node(), t.source(), detail)
        })
        .collect()
}

#[tokio::test]
async fn a_whole_walk_is_recorded_oldest_first_with_what_made_each_move() {
    let app = spawn_app().await;
    let member = "ETC000000300";
    let before = chrono::Utc::now().timestamp();
    app.sealed_member(member).await;
    let mut c = app.client.clone();
    let created =
        c.create_org_authorization(authed(create_request(member, "req-1"))).await.expect("created").into_inner();
    app.sim.sign_authorization(&created.auth_id).expect("sign");
    app.wait_signed_file(member).await;

    let list = history(&app, member).await;
    let rpc = |m: &str| format!("{m}@{SYS_ID}");
    assert_eq!(
        moves(&list),
        vec![
            (S::NotStarted, S::HandlerAuthing, N::HandlerAuth, T::Rpc, rpc("StartFaceAuth")),
            (S::HandlerAuthing, S::HandlerAuthed, N::HandlerAuth, T::Callback, ACTION_FACE_RESULT.into()),
            (S::HandlerAuthed, S::OrgNotAuth, N::OrgAuth, T::Rpc, rpc("StartOrgAuth")),
            (S::OrgNotAuth, S::OrgAuthing, N::OrgAuth, T::Rpc, rpc("StartOrgAuth")),
            (S::OrgAuthing, S::OrgAuthed, N::OrgAuth, T::Rpc, rpc("StartOrgAuth")),
            (S::OrgAuthed, S::CertUnconfirmed, N::OrgAuth, T::Rpc, rpc("StartOrgAuth")),
            (S::CertUnconfirmed, S::CertConfirmed, N::OrgAuth, T::Rpc, rpc("ConfirmEvidence")),
            (S::CertConfirmed, S::OrgSealUnsave, N::SaveOrgSeal, T::Rpc, rpc("CreateOrgSeal")),
            (S::OrgSealUnsave, S::OrgSealSaved, N::SaveOrgSeal, T::Rpc, rpc("CreateOrgSeal")),
            (S::OrgSealSaved, S::Unauthorized, N::Authorized, T::Rpc, rpc("CreateOrgAuthorization")),
            (S::Unauthorized, S::Authorizing, N::Authorized, T::Rpc, rpc("CreateOrgAuthorization")),
            (S::Authorizing, S::AuthorizeFinish, N::Authorized, T::Callback, ACTION_AUTHORIZATION_RESULT.into()),
        ]
    );
    let times: Vec<i64> = list.iter().map(|t| t.time.expect("time").seconds).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]) && times[0] >= before, "in order, this run: {times:?}");
    let with_cert: Vec<bool> = list.iter().map(|t| !t.cert_no.is_empty()).collect();
    let mut expected = vec![false; list.len()];
    (expected[1], expected[4]) = (true, true);
    assert_eq!(with_cert, expected, "the handler's pass and the company's write evidence records");

    // One at a time, the pages give the same moves and end with an empty token.
    let (mut token, mut paged) = (String::new(), Vec::new());
    for _ in 0..list.len() {
        let page = history_page(&app, member, 1, &token).await;
        assert_eq!(page.transitions.len(), 1);
        paged.extend(page.transitions);
        token = page.next_page_token;
        if token.is_empty() {
            break;
        }
    }
    assert_eq!(paged, list);
    assert!(token.is_empty(), "the last page says there is no other");
    assert!(history(&app, "ETC000000399").await.is_empty(), "a member with no history answers none");
    app.finish().await;
}

#[tokio::test]
async fn a_move_the_reconciler_makes_names_the_reconciler() {
    let app = spawn_app_with(|cfg| {
        cfg.poll_initial = Duration::from_millis(100);
        cfg.poll_max = Duration::from_millis(200);
    })
    .await;
    app.sim.inject_callback_fault(CallbackFault::Drop, FaultTrigger::Times(10));
    let started = app.start_face("ETC000000301").await;
    app.sim.pass_face(&started.flow_id).expect("pass");
    app.wait_status("ETC000000301", S::HandlerAuthed).await;
    let list = history(&app, "ETC000000301").await;
    assert_eq!(list.len(), 2, "{list:?}");
    assert_eq!((list[1].to_status(), list[1].source()), (S::HandlerAuthed, T::Reconciler));
    app.finish().await;
}

#[tokio::test]
async fn cancel_starts_the_member_over_keeps_the_history_and_is_idempotent() {
    let app = spawn_app().await;
    let member = "ETC000000302";
    assert!(!cancel(&app, member).await.cancelled, "nothing to cancel before the start");
    assert!(history(&app, member).await.is_empty(), "and nothing is written");

    app.authenticated_member(member).await;
    let answer = cancel(&app, member).await;
    assert!(answer.cancelled);
    let p = answer.process.expect("process");
    assert_eq!((p.status(), p.next_node()), (S::NotStarted, N::HandlerAuth));
    assert!(p.member_info.is_none() && p.esign_account_id.is_empty(), "the handler is forgotten: {p:?}");
    assert_eq!(app.status(member).await, S::NotStarted);
    assert!(!cancel(&app, member).await.cancelled, "a second cancel changes nothing");

    // The member starts over, with a new face flow.
    app.start_face(member).await;
    assert_eq!(app.status(member).await, S::HandlerAuthing);
    let list = moves(&history(&app, member).await);
    assert_eq!(list.len(), 4, "{list:?}");
    assert_eq!(list[2], (S::HandlerAuthed, S::NotStarted, N::HandlerAuth, T::Rpc, format!("CancelProcess@{SYS_ID}")));
    assert_eq!((list[3].0, list[3].1), (S::NotStarted, S::HandlerAuthing));
    app.finish().await;
}

#[tokio::test]
async fn a_result_of_a_flow_started_before_a_cancel_changes_nothing() {
    let app = spawn_app().await;
    let member = "ETC000000303";
    let started = app.start_face(member).await;
    assert!(cancel(&app, member).await.cancelled);
    app.sim.pass_face(&started.flow_id).expect("pass");
    // The callback is delivered and acknowledged: the flow is final, the process did not move.
    eventually(Duration::from_secs(5), "the late result is stored", || async {
        let store = app.app.as_ref().expect("running").service.store().clone();
        let flow = store.face_flow(&etc_esign::domain::values::FlowId::parse("flow_id", &started.flow_id).ok()?).await;
        flow.ok().flatten().filter(|f| f.status.is_final()).map(|_| ())
    })
    .await;
    assert_eq!(app.status(member).await, S::NotStarted);
    assert_eq!(history(&app, member).await.len(), 2, "start and cancel only");
    app.finish().await;
}

#[tokio::test]
async fn invalid_history_and_cancel_requests_are_named_and_change_nothing() {
    let app = spawn_app().await;
    let mut c = app.client.clone();
    let cases = [
        (
            pb::GetProcessHistoryRequest {
                etc_member_no: "bad member!".into(),
                page_size: 0,
                page_token: String::new(),
            },
            "etc_member_no",
        ),
        (
            pb::GetProcessHistoryRequest {
                etc_member_no: "ETC000000304".into(),
                page_size: -1,
                page_token: String::new(),
            },
            "page_size",
        ),
        (
            pb::GetProcessHistoryRequest {
                etc_member_no: "ETC000000304".into(),
                page_size: 0,
                page_token: "forged".into(),
            },
            "page_token",
        ),
    ];
    for (req, field) in cases {
        let err = c.get_process_history(authed(req)).await.expect_err(field);
        assert_eq!(err.code(), Code::InvalidArgument);
        let fields: Vec<String> =
            err.get_details_bad_request().expect("bad request").field_violations.into_iter().map(|v| v.field).collect();
        assert_eq!(fields, vec![field.to_owned()]);
    }
    let err = c
        .cancel_process(authed(pb::CancelProcessRequest { etc_member_no: String::new() }))
        .await
        .expect_err("empty member");
    assert_eq!(err.code(), Code::InvalidArgument);
    app.finish().await;
}

#[tokio::test]
async fn after_a_cancel_another_handler_and_another_company_get_accounts_of_their_own() {
    let app = spawn_app().await;
    let member = "ETC000000306";
    app.verified_member(member).await;
    assert!(cancel(&app, member).await.cancelled);

    // Another handler: e签宝 reads the factors from the account, so the new life needs its own.
    let mut face = face_request(member);
    (face.name, face.id_number) = ("李四".into(), "110101198003071239".into());
    let mut c = app.client.clone();
    let started = c.start_face_auth(authed(face)).await.expect("another handler starts").into_inner();
    let accounts = app.sim.accounts();
    let first = accounts.iter().find(|a| a.third_party_user_id == member).expect("the first life's account");
    let second = accounts.iter().find(|a| a.third_party_user_id == format!("{member}.1")).expect("a new account");
    assert_eq!((second.name.as_str(), second.account_id.as_str()), ("李四", started.esign_account_id.as_str()));
    assert_ne!(first.account_id, second.account_id);
    app.sim.pass_face(&started.flow_id).expect("pass");
    app.wait_status(member, S::HandlerAuthed).await;

    // Another company, whose legal person is the new handler, is verified on an account of its own.
    let mut org = legal_person_request(member);
    (org.name, org.id_number) = ("上海新房友有限公司".into(), "91310000MA1FL0000N".into());
    (org.org_legal_name, org.org_legal_id_number) = ("李四".into(), "110101198003071239".into());
    c.start_org_auth(authed(org)).await.expect("another company is verified");
    app.wait_status(member, S::CertUnconfirmed).await;
    let orgs = app.sim.orgs();
    assert!(orgs.iter().any(|o| o.third_party_user_id == format!("{member}.1")), "{orgs:?}");
    app.finish().await;
}
