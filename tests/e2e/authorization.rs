//! Node AUTHORIZED end to end: CreateOrgAuthorization, the simulator's Sign/Refuse, QueryAuthorization.
use std::time::Duration;

use etc_esign::grpc::pb::{self, AuthProcessStatus as S, AuthorizationStatus as A};
use etc_esign::sim::CallbackFault;
use etc_esign::sim::FaultTrigger;
use tonic::Code;
use tonic_types::StatusExt;

use crate::helpers::*;

/// A change that makes one field of a valid request invalid.
type Mutation = Box<dyn Fn(&mut pb::CreateOrgAuthorizationRequest)>;

async fn create(
    app: &TestApp,
    req: pb::CreateOrgAuthorizationRequest,
) -> Result<pb::CreateOrgAuthorizationResponse, tonic::Status> {
    let mut c = app.client.clone();
    c.create_org_authorization(authed(req)).await.map(|r| r.into_inner())
}

async fn query(app: &TestApp, auth_id: &str) -> Result<pb::Authorization, tonic::Status> {
    let mut c = app.client.clone();
    c.query_authorization(authed(pb::QueryAuthorizationRequest { auth_id: auth_id.into() }))
        .await
        .map(|r| r.into_inner().authorization.expect("authorization"))
}

#[tokio::test]
async fn a_signed_authorization_finishes_the_process_with_the_signed_file() {
    let app = spawn_app().await;
    app.sealed_member("ETC000000100").await;
    let created = create(&app, create_request("ETC000000100", "req-1")).await.expect("created");
    assert!(!created.auth_id.is_empty());
    assert_eq!(app.status("ETC000000100").await, S::Authorizing);
    let upstream = app.sim.authorization(&created.auth_id).expect("upstream authorization");
    assert!(
        upstream.notify_url.as_deref().is_some_and(|u| u.ends_with("/esign/callback")),
        "the service's own receiver"
    );

    app.sim.sign_authorization(&created.auth_id).expect("sign");
    let p = app.wait_signed_file("ETC000000100").await;
    assert!(p.signed_file_url.starts_with("http"), "signed file URL: {:?}", p.signed_file_url);
    assert_eq!(p.node, pb::AuthProcessNode::Authorized as i32);

    let a = query(&app, &created.auth_id).await.expect("query");
    assert_eq!(a.status, A::Succeeded as i32);
    assert_eq!(a.etc_member_no, "ETC000000100");
    assert_eq!(a.request_id, "req-1");
    assert!(!a.auth_download_url.is_empty());
    let exp = a.auth_download_url_expire_time.expect("expiry").seconds - chrono::Utc::now().timestamp();
    assert!((55 * 60..=60 * 60).contains(&exp), "download URL lives 60 minutes, {exp}s left");
    assert!(a.begin_time.is_some() && a.end_time.is_some());
    app.finish().await;
}

#[tokio::test]
async fn a_refused_authorization_fails_the_process_with_the_reason() {
    let app = spawn_app().await;
    app.sealed_member("ETC000000101").await;
    let created = create(&app, create_request("ETC000000101", "req-1")).await.expect("created");
    app.sim.refuse_authorization(&created.auth_id, Some("不同意")).expect("refuse");
    let p = app.wait_status("ETC000000101", S::AuthorizeFailed).await;
    assert_eq!(p.fail_reason, "不同意");
    let a = query(&app, &created.auth_id).await.expect("query");
    assert_eq!(a.status, A::Failed as i32);
    assert!(a.auth_download_url.is_empty());
    // A failed authorization may be started again with a new request id.
    let again = create(&app, create_request("ETC000000101", "req-2")).await.expect("again");
    assert_ne!(again.auth_id, created.auth_id);
    app.finish().await;
}

#[tokio::test]
async fn a_cancelled_authorization_fails_the_process() {
    let app = spawn_app().await;
    app.sealed_member("ETC000000102").await;
    let created = create(&app, create_request("ETC000000102", "req-1")).await.expect("created");
    app.sim.cancel_authorization(&created.auth_id).expect("cancel");
    app.wait_status("ETC000000102", S::AuthorizeFailed).await;
    assert_eq!(query(&app, &created.auth_id).await.expect("query").status, A::Cancelled as i32);
    app.finish().await;
}

#[tokio::test]
async fn the_same_request_id_returns_the_same_authorization_without_a_second_upstream_call() {
    let app = spawn_app().await;
    app.sealed_member("ETC000000103").await;
    let first = create(&app, create_request("ETC000000103", "req-1")).await.expect("created");
    let second = create(&app, create_request("ETC000000103", "req-1")).await.expect("retried");
    assert_eq!(first.auth_id, second.auth_id);
    assert_eq!(app.sim.calls().auth_create, 1);

    let mut other = create_request("ETC000000103", "req-1");
    other.contact = "15300002222".into();
    let err = create(&app, other).await.expect_err("different fields");
    assert_eq!(err.code(), Code::InvalidArgument);
    let fields: Vec<String> = err
        .get_error_details()
        .bad_request()
        .expect("violations")
        .field_violations
        .iter()
        .map(|v| v.field.clone())
        .collect();
    assert_eq!(fields, vec!["request_id".to_string()]);
    app.finish().await;
}

#[tokio::test]
async fn authorization_before_face_authentication_is_a_failed_precondition_naming_the_status() {
    let app = spawn_app().await;
    let err = create(&app, create_request("ETC000000104", "req-1")).await.expect_err("not allowed");
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert!(err.message().contains("NOT_STARTED"), "{}", err.message());
    assert_eq!(app.sim.calls().auth_create, 0);
    app.finish().await;
}

#[tokio::test]
async fn authorizing_another_company_is_invalid_and_before_the_seal_is_a_failed_precondition() {
    let app = spawn_app().await;
    let member = "ETC000000108";
    app.verified_member(member).await;
    let err = create(&app, create_request(member, "req-1")).await.expect_err("no seal yet");
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert!(err.message().contains("CERT_CONFIRMED") && err.message().contains("ORG_SEAL_SAVED"), "{}", err.message());
    app.create_seal(seal_request(member, "合同章")).await.expect("sealed");
    let mut other = create_request(member, "req-1");
    other.organize_id = "AD12C9BFA89BABDF6E8FA".into();
    let err = create(&app, other).await.expect_err("another company");
    assert_eq!(err.code(), Code::InvalidArgument);
    let v = err.get_error_details().bad_request().expect("violations").field_violations.clone();
    assert_eq!(v.iter().map(|v| v.field.as_str()).collect::<Vec<_>>(), ["organize_id"]);
    assert_eq!(app.sim.calls().auth_create, 0, "nothing was sent upstream");
    // Naming the member's own company is the same as leaving it empty.
    let own = app.process(member).await;
    assert_eq!(own.status(), pb::AuthProcessStatus::OrgSealSaved);
    let org_id = app.sim.orgs().into_iter().find(|o| o.third_party_user_id == member).expect("org").org_id;
    let mut named = create_request(member, "req-1");
    named.organize_id = org_id.clone();
    let first = create(&app, named).await.expect("own company");
    let again = create(&app, create_request(member, "req-1")).await.expect("same request, empty id");
    assert_eq!(first.auth_id, again.auth_id);
    assert_eq!(app.sim.authorizations().into_iter().filter(|a| a.organize_id == org_id).count(), 1);
    app.finish().await;
}

#[tokio::test]
async fn invalid_authorization_fields_are_named() {
    let app = spawn_app().await;
    let cases: Vec<(&str, Mutation)> = vec![
        ("request_id", Box::new(|r| r.request_id = String::new())),
        ("organize_id", Box::new(|r| r.organize_id = "O".repeat(65))),
        ("contact", Box::new(|r| r.contact = "not-a-contact".into())),
        ("handler_person_id", Box::new(|r| r.auth_type = pb::AuthType::Handler as i32)),
        ("handler_person_id", Box::new(|r| r.handler_person_id = "P1".into())),
        ("valid_date", Box::new(|r| r.valid_date = Some(prost_types::Timestamp { seconds: 1_000_000, nanos: 0 }))),
        ("valid_date", Box::new(|r| r.valid_date = None)),
        ("seal_scope", Box::new(|r| r.seal_scope = "章".repeat(65))),
        ("redirect_url", Box::new(|r| r.redirect_url = "ftp://x".into())),
    ];
    for (field, mutate) in cases {
        let mut req = create_request("ETC000000105", "req-1");
        mutate(&mut req);
        let err = create(&app, req).await.expect_err("invalid");
        assert_eq!(err.code(), Code::InvalidArgument, "{field}");
        let v = err.get_error_details().bad_request().expect("violations").field_violations.clone();
        assert!(v.iter().any(|x| x.field == field), "{field} not in {v:?}");
    }
    app.finish().await;
}

#[tokio::test]
async fn an_unknown_authorization_is_not_found() {
    let app = spawn_app().await;
    assert_eq!(query(&app, "no-such-auth").await.expect_err("unknown").code(), Code::NotFound);
    app.finish().await;
}

#[tokio::test]
async fn a_dropped_authorization_callback_is_completed_by_the_reconciler() {
    let app = spawn_app_with(|cfg| {
        cfg.poll_initial = Duration::from_millis(100);
        cfg.poll_max = Duration::from_millis(200);
    })
    .await;
    app.sealed_member("ETC000000106").await;
    let created = create(&app, create_request("ETC000000106", "req-1")).await.expect("created");
    app.sim.inject_callback_fault(CallbackFault::Drop, FaultTrigger::Times(10));
    app.sim.sign_authorization(&created.auth_id).expect("sign");
    let p = app.wait_status("ETC000000106", S::AuthorizeFinish).await;
    assert!(!p.signed_file_url.is_empty());
    assert!(app.sim.calls().auth_query >= 1);
    app.finish().await;
}

#[tokio::test]
async fn query_refreshes_an_authorization_whose_callback_never_came() {
    let app = spawn_app().await;
    app.sealed_member("ETC000000107").await;
    let created = create(&app, create_request("ETC000000107", "req-1")).await.expect("created");
    app.sim.inject_callback_fault(CallbackFault::Drop, FaultTrigger::Times(10));
    app.sim.sign_authorization(&created.auth_id).expect("sign");
    // The reconciler is slow here: the query itself asks e签宝.
    let a = query(&app, &created.auth_id).await.expect("query");
    assert_eq!(a.status, A::Succeeded as i32);
    assert_eq!(app.status("ETC000000107").await, S::AuthorizeFinish);
    app.finish().await;
}
