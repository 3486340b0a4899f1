//! The company seal (SAVE_ORG_SEAL) and the walk through every node to AUTHORIZE_FINISH: the node,
//! next node and node list in each of the 18 statuses, each illegal step refused naming the status,
//! the whole walk with callbacks delivered, dropped and duplicated, and the seal's and the letter's
//! one-hour URLs asked of e签宝 again once expired.
use std::sync::Arc;
use std::time::Duration;

use etc_esign::domain::model::{Process, ProcessStatus};
use etc_esign::domain::ports::ChangeSet;
use etc_esign::domain::values::{AccountId, MemberNo};
use etc_esign::grpc::pb::{self, AuthProcessNode as N, AuthProcessStatus as S};
use etc_esign::sim::{CallbackFault, Endpoint, FaultKind, FaultTrigger};
use tonic::Code;
use tonic_types::StatusExt;

use crate::helpers::*;

fn fast_polling(cfg: &mut etc_esign::config::AppConfig) {
    cfg.poll_initial = Duration::from_millis(100);
    cfg.poll_max = Duration::from_millis(200);
    cfg.reconciler.interval = Duration::from_millis(50);
}

async fn authorize(app: &TestApp, member: &str) -> Result<pb::CreateOrgAuthorizationResponse, tonic::Status> {
    let mut c = app.client.clone();
    c.create_org_authorization(authed(create_request(member, "req-1"))).await.map(tonic::Response::into_inner)
}

/// The member's company account at the simulator.
fn org_of(app: &TestApp, member: &str) -> String {
    app.sim.orgs().into_iter().find(|o| o.third_party_user_id == member).expect("company account").org_id
}

/// The whole walk of one member, the handler being the company's legal person: face, company,
/// template seal, authorization signed; answers the final process.
async fn walk(app: &TestApp, member: &str) -> pb::AuthProcess {
    let started = app.start_face(member).await;
    app.sim.pass_face(&started.flow_id).expect("pass");
    app.wait_status(member, S::HandlerAuthed).await;
    let mut c = app.client.clone();
    c.start_org_auth(authed(legal_person_request(member))).await.expect("StartOrgAuth");
    app.wait_status(member, S::CertUnconfirmed).await;
    confirm_evidence(&app.client, member).await;
    let saved = app.create_seal(seal_request(member, "合同章")).await.expect("CreateOrgSeal");
    let p = saved.process.expect("process");
    assert_eq!((p.status(), p.node(), p.next_node()), (S::OrgSealSaved, N::SaveOrgSeal, N::Authorized));
    let seal = p.seal_info.expect("seal info");
    let org = org_of(app, member);
    let upstream = app.sim.seals(&org);
    assert_eq!(upstream.len(), 2, "e签宝's own default seal and the template: {upstream:?}");
    let default = upstream.iter().find(|s| s.default_flag).expect("a default seal");
    assert_eq!((default.seal_id.as_str(), default.alias.as_str()), (seal.seal_id.as_str(), "合同章"));
    assert_eq!((seal.alias.as_str(), seal.create_time.is_some()), ("合同章", true));
    assert!(seal.seal_url.contains(&seal.seal_id), "{}", seal.seal_url);
    // Again: the saved seal is answered and nothing is made.
    let again = app.create_seal(seal_request(member, "合同章")).await.expect("again").process.expect("process");
    assert_eq!(again.seal_info.map(|s| s.seal_id), Some(seal.seal_id.clone()));
    assert_eq!(app.sim.seals(&org).len(), 2);

    let created = authorize(app, member).await.expect("CreateOrgAuthorization");
    assert_eq!(app.sim.authorization(&created.auth_id).map(|a| a.organize_id), Some(org));
    app.sim.sign_authorization(&created.auth_id).expect("sign");
    app.wait_signed_file(member).await
}

async fn whole_walk_with(fault: Option<CallbackFault>, member: &str) {
    let app = spawn_app_with(fast_polling).await;
    if let Some(fault) = fault {
        app.sim.inject_callback_fault(fault, FaultTrigger::Probability(1.0));
    }
    let p = walk(&app, member).await;
    assert_eq!((p.status(), p.node(), p.next_node()), (S::AuthorizeFinish, N::Authorized, N::Unspecified));
    assert_eq!(p.node_list().collect::<Vec<_>>(), vec![N::HandlerAuth, N::OrgAuth, N::SaveOrgSeal, N::Authorized]);
    assert!(p.seal_info.is_some() && !p.signed_file_url.is_empty() && p.member_info.is_some(), "{p:?}");
    // Every move once, in order (a duplicated callback is applied once).
    let mut c = app.client.clone();
    let req = pb::GetProcessHistoryRequest { etc_member_no: member.into(), page_size: 0, page_token: String::new() };
    let list = c.get_process_history(authed(req)).await.expect("history").into_inner().transitions;
    let walked: Vec<S> = list.iter().map(|t| t.to_status()).collect();
    assert_eq!(
        walked,
        vec![
            S::HandlerAuthing,
            S::HandlerAuthed,
            S::OrgNotAuth,
            S::OrgAuthing,
            S::OrgAuthed,
            S::CertUnconfirmed,
            S::CertConfirmed,
            S::OrgSealUnsave,
            S::OrgSealSaved,
            S::Unauthorized,
            S::Authorizing,
            S::AuthorizeFinish
        ],
        "{fault:?}"
    );
    app.finish().await;
}

#[tokio::test]
async fn the_whole_walk_reaches_authorize_finish_with_callbacks_delivered() {
    whole_walk_with(None, "ETC000001000").await;
}

#[tokio::test]
async fn the_whole_walk_reaches_authorize_finish_when_every_callback_is_dropped() {
    whole_walk_with(Some(CallbackFault::Drop), "ETC000001001").await;
}

#[tokio::test]
async fn the_whole_walk_reaches_authorize_finish_when_every_callback_is_duplicated() {
    whole_walk_with(Some(CallbackFault::Duplicate), "ETC000001002").await;
}

/// Stores `member` in `status` directly (the statuses the RPCs reach are walked by the tests above;
/// this sets the ones only a later step reaches), with a verified company account.
async fn put_in(app: &TestApp, member: &str, status: ProcessStatus, payment: bool) {
    let store = app.app.as_ref().expect("running").service.store().clone();
    let mut p = Process::restore(MemberNo::parse(member).expect("member"), status, 0);
    p.needs_pub_payment = payment;
    p.org_account_id = Some(AccountId::parse("org", "ORG-TABLE").expect("org"));
    store.commit(ChangeSet { process: Some(p), ..Default::default() }).await.expect("stored");
}

#[tokio::test]
async fn every_status_answers_its_node_and_refuses_each_step_it_does_not_allow_naming_itself() {
    use ProcessStatus as P;
    let app = spawn_app().await;
    let list = vec![N::HandlerAuth, N::OrgAuth, N::SaveOrgSeal, N::Authorized];
    let with_payment = vec![N::HandlerAuth, N::OrgAuth, N::PubPaymentAuth, N::SaveOrgSeal, N::Authorized];
    // status, a payment needed, node, next node; whether CreateOrgSeal and CreateOrgAuthorization may run.
    let table = [
        (P::NotStarted, false, N::Unspecified, N::HandlerAuth, false, false),
        (P::HandlerNotAuth, false, N::HandlerAuth, N::OrgAuth, false, false),
        (P::HandlerAuthing, false, N::HandlerAuth, N::OrgAuth, false, false),
        (P::HandlerAuthed, false, N::HandlerAuth, N::OrgAuth, false, false),
        (P::HandlerAuthFailed, false, N::HandlerAuth, N::OrgAuth, false, false),
        (P::OrgNotAuth, false, N::OrgAuth, N::SaveOrgSeal, false, false),
        (P::OrgAuthing, false, N::OrgAuth, N::SaveOrgSeal, false, false),
        (P::OrgAuthing, true, N::PubPaymentAuth, N::SaveOrgSeal, false, false),
        (P::OrgAuthed, false, N::OrgAuth, N::SaveOrgSeal, false, false),
        (P::OrgAuthFailed, false, N::OrgAuth, N::SaveOrgSeal, false, false),
        (P::CertUnconfirmed, false, N::OrgAuth, N::SaveOrgSeal, false, false),
        (P::CertConfirmed, false, N::OrgAuth, N::SaveOrgSeal, true, false),
        (P::OrgSealUnsave, false, N::SaveOrgSeal, N::Authorized, true, false),
        (P::OrgSealSaved, false, N::SaveOrgSeal, N::Authorized, false, true),
        (P::OrgSealSaveFailed, false, N::SaveOrgSeal, N::Authorized, true, false),
        (P::Unauthorized, false, N::Authorized, N::Unspecified, false, true),
        (P::Authorizing, false, N::Authorized, N::Unspecified, false, false),
        (P::AuthorizeFailed, false, N::Authorized, N::Unspecified, false, true),
        (P::AuthorizeFinish, false, N::Authorized, N::Unspecified, false, false),
    ];
    let statuses: std::collections::BTreeSet<_> = table.iter().map(|row| row.0.as_str()).collect();
    assert_eq!(statuses.len(), 18, "every status is in the table");
    for (i, (status, payment, node, next, may_seal, may_authorize)) in table.into_iter().enumerate() {
        let member = format!("ETC00000110{i:02}");
        if status != P::NotStarted {
            put_in(&app, &member, status, payment).await;
        }
        let p = app.process(&member).await;
        assert_eq!(p.status().as_str_name().trim_start_matches("AUTH_PROCESS_STATUS_"), status.as_str());
        assert_eq!((p.node(), p.next_node()), (node, next), "{status:?}");
        assert_eq!(
            p.node_list().collect::<Vec<_>>(),
            if payment { with_payment.clone() } else { list.clone() },
            "{status:?}"
        );
        let calls = app.sim.calls();
        if !may_seal {
            let req = pb::CreateOrgSealRequest { etc_member_no: member.clone(), template: None };
            let err = app.create_seal(req).await.expect_err("CreateOrgSeal refused");
            assert_eq!(err.code(), Code::FailedPrecondition, "{status:?}");
            assert!(err.message().contains(status.as_str()), "{status:?}: {}", err.message());
        }
        if !may_authorize {
            let err = authorize(&app, &member).await.expect_err("CreateOrgAuthorization refused");
            assert_eq!(err.code(), Code::FailedPrecondition, "{status:?}");
            assert!(err.message().contains(status.as_str()), "{status:?}: {}", err.message());
        }
        let after = app.sim.calls();
        assert_eq!((after.seal_list, after.auth_create), (calls.seal_list, calls.auth_create), "nothing sent");
    }
    app.finish().await;
}

#[tokio::test]
async fn a_refused_seal_is_org_seal_save_failed_and_a_new_call_saves_it() {
    let app = spawn_app().await;
    let member = "ETC000001200";
    app.verified_member(member).await;
    let refusal = FaultKind::Business { code: 60003, message: "印章创建失败".into() };
    app.sim.inject_fault(Endpoint::SealTemplate, refusal, FaultTrigger::Times(1));
    let err = app.create_seal(seal_request(member, "合同章")).await.expect_err("refused");
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert_eq!(err.get_error_details().error_info().map(|i| i.domain.clone()), Some("esign.cn".into()));
    let p = app.process(member).await;
    assert_eq!((p.status(), p.node()), (S::OrgSealSaveFailed, N::SaveOrgSeal));
    assert!(!p.fail_reason.is_empty());
    let err = authorize(&app, member).await.expect_err("no seal, no authorization");
    assert!(err.message().contains("ORG_SEAL_SAVE_FAILED"), "{}", err.message());
    // Without a template, e签宝's own default seal is kept.
    let req = pb::CreateOrgSealRequest { etc_member_no: member.into(), template: None };
    let p = app.create_seal(req).await.expect("saved").process.expect("process");
    assert_eq!(p.status(), S::OrgSealSaved);
    let seal = p.seal_info.expect("seal");
    let upstream = app.sim.seals(&org_of(&app, member));
    assert_eq!(upstream.len(), 1, "nothing new was made");
    assert_eq!((seal.seal_id.as_str(), seal.alias.as_str()), (upstream[0].seal_id.as_str(), "默认印章"));
    app.finish().await;
}

#[tokio::test]
async fn seal_texts_are_refused_for_a_company_name_over_25_characters_and_nothing_is_sent() {
    let app = spawn_app().await;
    let member = "ETC000001201";
    app.authenticated_member(member).await;
    let mut req = legal_person_request(member);
    req.name = "上海房友房地产经纪咨询服务连锁发展集团控股股份有限公司".into();
    assert!(req.name.chars().count() > 25);
    let mut c = app.client.clone();
    c.start_org_auth(authed(req)).await.expect("StartOrgAuth");
    app.wait_status(member, S::CertUnconfirmed).await;
    confirm_evidence(&app.client, member).await;
    let err = app.create_seal(seal_request(member, "合同章")).await.expect_err("texts refused");
    assert_eq!(err.code(), Code::InvalidArgument);
    let v = err.get_error_details().bad_request().expect("violations").field_violations.clone();
    assert_eq!(v.iter().map(|v| v.field.as_str()).collect::<Vec<_>>(), ["template.htext"]);
    assert_eq!((app.sim.calls().seal_template, app.sim.calls().seal_list), (0, 0));
    assert_eq!(app.status(member).await, S::CertConfirmed, "nothing was written");
    let mut plain = seal_request(member, "合同章");
    if let Some(t) = plain.template.as_mut() {
        t.htext.clear();
        t.qtext.clear();
    }
    assert_eq!(app.create_seal(plain).await.expect("saved").process.map(|p| p.status), Some(S::OrgSealSaved as i32));
    app.finish().await;
}

#[tokio::test]
async fn the_seal_url_and_the_letter_url_are_asked_again_once_expired_and_only_then() {
    let clock = Arc::new(ShiftedClock::default());
    let app = spawn_app_with_clock(|_| {}, clock.clone()).await;
    let member = "ETC000001300";
    let finished = walk(&app, member).await;
    let (seal_url, letter) = (finished.seal_info.expect("seal").seal_url, finished.signed_file_url);
    let (lists, queries) = (app.sim.calls().seal_list, app.sim.calls().auth_query);
    // Within the hour: the store answers, e签宝 is not asked.
    let p = app.process(member).await;
    assert_eq!((p.seal_info.expect("seal").seal_url, p.signed_file_url), (seal_url.clone(), letter.clone()));
    assert_eq!((app.sim.calls().seal_list, app.sim.calls().auth_query), (lists, queries));

    clock.advance(Duration::from_secs(61 * 60));
    let p = app.process(member).await;
    let fresh_seal = p.seal_info.clone().expect("seal").seal_url;
    assert!(!fresh_seal.is_empty() && !p.signed_file_url.is_empty(), "never blank while they exist: {p:?}");
    assert_eq!((app.sim.calls().seal_list, app.sim.calls().auth_query), (lists + 1, queries + 1), "one query each");
    // Fresh again: the next read asks nothing.
    let again = app.process(member).await;
    assert_eq!(again.seal_info.expect("seal").seal_url, fresh_seal);
    assert_eq!((app.sim.calls().seal_list, app.sim.calls().auth_query), (lists + 1, queries + 1));
    app.finish().await;
}

#[tokio::test]
async fn concurrent_seal_saves_for_one_member_make_one_seal() {
    let app = spawn_app().await;
    let member = "ETC000001400";
    app.verified_member(member).await;
    let calls = (0..20).map(|_| app.create_seal(seal_request(member, "合同章")));
    let answers = futures::future::join_all(calls).await;
    let ids: std::collections::BTreeSet<String> = answers
        .into_iter()
        .map(|a| a.expect("saved").process.and_then(|p| p.seal_info).expect("seal").seal_id)
        .collect();
    assert_eq!(ids.len(), 1, "{ids:?}");
    assert_eq!(app.sim.seals(&org_of(&app, member)).len(), 2, "e签宝's own and one template");
    assert_eq!(app.sim.calls().seal_template, 1);
    app.finish().await;
}

#[tokio::test]
async fn a_seal_save_e_sign_did_not_answer_stays_unsave_and_a_retry_reuses_the_seal_made() {
    let app = spawn_app().await;
    let member = "ETC000001401";
    app.verified_member(member).await;
    // The template is made, then setting it default gets no answer.
    app.sim.inject_fault(Endpoint::SealDefault, FaultKind::Status(503), FaultTrigger::Times(1));
    let err = app.create_seal(seal_request(member, "合同章")).await.expect_err("unavailable");
    assert_eq!(err.code(), Code::Unavailable);
    let p = app.process(member).await;
    assert_eq!((p.status(), p.node(), p.next_node()), (S::OrgSealUnsave, N::SaveOrgSeal, N::Authorized));
    let p = app.create_seal(seal_request(member, "合同章")).await.expect("saved").process.expect("process");
    assert_eq!(p.status(), S::OrgSealSaved);
    let upstream = app.sim.seals(&org_of(&app, member));
    assert_eq!(upstream.len(), 2, "the retry found the template by its alias: {upstream:?}");
    assert_eq!(app.sim.calls().seal_template, 1);
    let default = upstream.iter().find(|s| s.default_flag).expect("default");
    assert_eq!(Some(default.seal_id.clone()), p.seal_info.map(|s| s.seal_id));
    app.finish().await;
}

#[tokio::test]
async fn a_refused_authorization_start_rests_at_unauthorized_and_a_retry_moves_on() {
    let app = spawn_app().await;
    let member = "ETC000001402";
    app.sealed_member(member).await;
    let refusal = FaultKind::Business { code: 1435002, message: "参数错误".into() };
    app.sim.inject_fault(Endpoint::AuthCreate, refusal, FaultTrigger::Times(1));
    let err = authorize(&app, member).await.expect_err("refused");
    assert_eq!(err.code(), Code::FailedPrecondition);
    let p = app.process(member).await;
    assert_eq!((p.status(), p.node(), p.next_node()), (S::Unauthorized, N::Authorized, N::Unspecified));
    let created = authorize(&app, member).await.expect("created");
    assert_eq!(app.status(member).await, S::Authorizing);
    app.sim.refuse_authorization(&created.auth_id, Some("不同意")).expect("refuse");
    app.wait_status(member, S::AuthorizeFailed).await;
    // A failed authorization may start again, with a new request id.
    let mut c = app.client.clone();
    let again = c.create_org_authorization(authed(create_request(member, "req-2"))).await.expect("again").into_inner();
    assert_ne!(again.auth_id, created.auth_id);
    assert_eq!(app.status(member).await, S::Authorizing);
    app.finish().await;
}

#[tokio::test]
async fn after_the_whole_walk_the_detail_answers_every_field_of_seed_000_masked() {
    let app = spawn_app().await;
    let member = "ETC000001300";
    walk(&app, member).await;
    let p = app.process(member).await;
    // Top level: identity of the member, the e签宝 account, the nodes, the letter, the instant.
    assert_eq!((p.etc_member_no.as_str(), p.status()), (member, S::AuthorizeFinish));
    assert!(!p.esign_account_id.is_empty() && p.update_time.is_some(), "{p:?}");
    assert!(p.signed_file_url.starts_with("http"), "{}", p.signed_file_url);
    assert!(p.fail_reason.is_empty(), "a finished walk has no failure");
    // 会员信息 and 主体信息: identity numbers and mobiles masked.
    let m = p.member_info.clone().expect("memberInfo");
    assert_eq!(
        (m.name.as_str(), m.mobile.as_str(), m.id_number.as_str()),
        ("张三", "138****8000", "110***********002X")
    );
    let o = m.org_info.expect("orgInfo");
    assert_eq!((o.name.as_str(), o.id_type()), ("房友科技有限公司", pb::OrgIdType::Uscc));
    assert_eq!((o.id_number.as_str(), o.org_legal_name.as_str()), (CREDIT_CODE, "张三"));
    assert_eq!(o.org_legal_id_number, "110***********002X");
    // 证书信息: both evidence records, normal while they verify.
    let c = p.cert_info.clone().expect("certInfo");
    assert!(c.cert_no.len() == 32 && c.org_cert_no.len() == 32 && c.cert_no != c.org_cert_no, "{c:?}");
    assert!(c.cert_create_time.is_some() && c.org_cert_create_time.is_some());
    assert_eq!((c.cert_status(), c.org_cert_status()), (pb::CertStatus::Normal, pb::CertStatus::Normal));
    // 印章信息.
    let s = p.seal_info.clone().expect("sealInfo");
    assert!(!s.seal_id.is_empty() && !s.alias.is_empty() && s.seal_url.starts_with("http") && s.create_time.is_some());
    // OCR information as declared (the pictures are the documents' RPCs').
    let i = p.indiv_ocr_info.clone().expect("indivOcrInfo");
    assert_eq!((i.id_number.as_str(), i.valid_period.as_str()), ("110***********002X", "2019.01.01-2039.01.01"));
    let oo = p.org_ocr_info.clone().expect("orgOcrInfo");
    let declared = [&oo.org_abbreviation, &oo.org_contact, &oo.location, &oo.address, &oo.org_type, &oo.contact_name];
    assert!(declared.iter().all(|f| !f.is_empty()), "{oo:?}");
    assert_eq!((oo.valid_period.as_str(), oo.contact_mobile.as_str()), ("2020.01.01-2035.01.01", "130****1998"));
    app.finish().await;
}
