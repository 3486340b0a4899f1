//! Managing a company's seals with the platform's review (issue 18): list (paged, fresh URLs),
//! template and image seals, save, review by a reviewer only, default, delete; bad input and
//! e签宝's refusals.
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use etc_esign::grpc::pb::{self, AuthProcessStatus as S, SealReviewStatus as R};
use etc_esign::sim::{Endpoint, FaultKind, FaultTrigger};
use tonic::{Code, Request};
use tonic_types::StatusExt;

use crate::helpers::*;

type Client = pb::auth_service_client::AuthServiceClient<tonic::transport::Channel>;

/// A request as the tests' seal reviewer (R01, in SEAL_REVIEWERS).
fn as_reviewer<T>(msg: T) -> Request<T> {
    let mut r = Request::new(msg);
    r.metadata_mut().insert("etc-sys-id", REVIEWER_ID.parse().expect("ascii"));
    r.metadata_mut().insert("etc-token", REVIEWER_TOKEN.parse().expect("ascii"));
    r
}

fn png_file() -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/licence.png")).expect("test picture")
}

fn template(member: &str, alias: &str) -> pb::CreateOrgTemplateSealRequest {
    pb::CreateOrgTemplateSealRequest {
        etc_member_no: member.into(),
        template: Some(pb::SealTemplate { alias: alias.into(), htext: "财务专用章".into(), ..Default::default() }),
    }
}

fn image(member: &str, alias: &str, bytes: Vec<u8>) -> pb::CreateOrgImageSealRequest {
    pb::CreateOrgImageSealRequest {
        etc_member_no: member.into(),
        alias: alias.into(),
        image: bytes,
        transparent: true,
        width: 0,
        height: 0,
    }
}

async fn list(c: &mut Client, member: &str, size: i32, num: i32) -> Result<pb::ListOrgSealsResponse, tonic::Status> {
    let req = pb::ListOrgSealsRequest { etc_member_no: member.into(), page_size: size, page_num: num };
    c.list_org_seals(authed(req)).await.map(tonic::Response::into_inner)
}

fn member_seal(member: &str, seal_id: &str) -> (String, String) {
    (member.to_owned(), seal_id.to_owned())
}

async fn save(c: &mut Client, member: &str, seal_id: &str) -> Result<pb::ManagedSeal, tonic::Status> {
    let (etc_member_no, seal_id) = member_seal(member, seal_id);
    let r = c.save_org_seal(authed(pb::SaveOrgSealRequest { etc_member_no, seal_id })).await?;
    Ok(r.into_inner().seal.expect("seal"))
}

async fn set_default(c: &mut Client, member: &str, seal_id: &str) -> Result<pb::ManagedSeal, tonic::Status> {
    let (etc_member_no, seal_id) = member_seal(member, seal_id);
    let r = c.set_default_org_seal(authed(pb::SetDefaultOrgSealRequest { etc_member_no, seal_id })).await?;
    Ok(r.into_inner().seal.expect("seal"))
}

async fn delete(c: &mut Client, member: &str, seal_id: &str) -> Result<(), tonic::Status> {
    let (etc_member_no, seal_id) = member_seal(member, seal_id);
    c.delete_org_seal(authed(pb::DeleteOrgSealRequest { etc_member_no, seal_id })).await.map(|_| ())
}

fn review(seal_id: &str, approve: bool, reason: &str) -> pb::ReviewOrgSealRequest {
    pb::ReviewOrgSealRequest { seal_id: seal_id.into(), approve, reason: reason.into() }
}

fn fields(err: &tonic::Status) -> Vec<String> {
    err.get_error_details()
        .bad_request()
        .map(|b| b.field_violations.iter().map(|v| v.field.clone()).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn seals_are_created_saved_reviewed_made_default_and_deleted() {
    let app = spawn_app().await;
    let member = "ETC000001801";
    app.sealed_member(member).await;
    let mut c = app.client.clone();

    // e签宝's own default seal, kept by CreateOrgSeal: approved on creation, URL fresh.
    let first = list(&mut c, member, 0, 0).await.expect("ListOrgSeals");
    assert_eq!((first.total, first.total_pages), (1, 1));
    let own = first.seals[0].clone();
    assert!(own.default_flag && own.review_status() == R::Approved && own.seal_url.contains(&own.seal_id), "{own:?}");

    // A template seal: UNSAVED; its alias may not be used again (nothing sent).
    let tpl = c.create_org_template_seal(authed(template(member, "财务章"))).await.expect("template");
    let tpl = tpl.into_inner().seal.expect("seal");
    assert_eq!((tpl.review_status(), tpl.default_flag, tpl.alias.as_str()), (R::Unsaved, false, "财务章"));
    let clash = c.create_org_template_seal(authed(template(member, "财务章"))).await.expect_err("alias clash");
    assert_eq!(clash.code(), Code::AlreadyExists);
    assert_eq!(app.sim.calls().seal_template, 1, "the clash was not sent");

    // An image seal from a PNG; anything but a PNG of at most 1 MiB is refused before e签宝.
    let img = c.create_org_image_seal(authed(image(member, "图片章", png_file()))).await.expect("image");
    let img = img.into_inner().seal.expect("seal");
    assert_eq!(img.review_status(), R::Unsaved);
    let not_png = c.create_org_image_seal(authed(image(member, "坏章", b"GIF89a not a png".to_vec()))).await;
    let not_png = not_png.expect_err("not a PNG");
    assert_eq!((not_png.code(), fields(&not_png)), (Code::InvalidArgument, vec!["image".to_owned()]));
    let mut big = png_file();
    big.resize(1024 * 1024 + 1, 0);
    let big = c.create_org_image_seal(authed(image(member, "大章", big))).await.expect_err("too big");
    assert_eq!((big.code(), fields(&big)), (Code::InvalidArgument, vec!["image".to_owned()]));
    assert_eq!(app.sim.calls().seal_image, 1, "bad pictures were not sent");

    // Only an approved seal may be the default.
    let unsaved = set_default(&mut c, member, &img.seal_id).await.expect_err("not approved");
    assert_eq!(unsaved.code(), Code::FailedPrecondition);
    assert_eq!(save(&mut c, member, &tpl.seal_id).await.expect("save").review_status(), R::Pending);
    assert_eq!(save(&mut c, member, &img.seal_id).await.expect("save").review_status(), R::Pending);

    // Reviewing is for reviewers only.
    let denied = c.list_seals_to_review(authed(pb::ListSealsToReviewRequest::default())).await.expect_err("denied");
    assert_eq!(denied.code(), Code::PermissionDenied);
    let denied = c.review_org_seal(authed(review(&img.seal_id, true, ""))).await.expect_err("denied");
    assert_eq!(denied.code(), Code::PermissionDenied);

    // The queue, oldest first, one per page.
    let req = pb::ListSealsToReviewRequest { page_size: 1, page_num: 1 };
    let page1 = c.list_seals_to_review(as_reviewer(req)).await.expect("queue").into_inner();
    assert_eq!((page1.total, page1.total_pages, page1.seals[0].seal_id.as_str()), (2, 2, tpl.seal_id.as_str()));
    assert_eq!(page1.seals[0].etc_member_no, member);
    let req = pb::ListSealsToReviewRequest { page_size: 1, page_num: 2 };
    let page2 = c.list_seals_to_review(as_reviewer(req)).await.expect("queue").into_inner();
    assert_eq!(page2.seals[0].seal_id, img.seal_id);

    // A rejection needs its reason.
    let no_reason = c.review_org_seal(as_reviewer(review(&tpl.seal_id, false, " "))).await.expect_err("reason");
    assert_eq!((no_reason.code(), fields(&no_reason)), (Code::InvalidArgument, vec!["reason".to_owned()]));
    let rejected = c.review_org_seal(as_reviewer(review(&tpl.seal_id, false, "字迹不清"))).await.expect("reject");
    let rejected = rejected.into_inner().seal.expect("seal");
    assert_eq!((rejected.review_status(), rejected.reject_reason.as_str()), (R::Rejected, "字迹不清"));
    assert_eq!(rejected.reviewer, REVIEWER_ID);
    let approved = c.review_org_seal(as_reviewer(review(&img.seal_id, true, ""))).await.expect("approve");
    assert_eq!(approved.into_inner().seal.expect("seal").review_status(), R::Approved);
    let twice = c.review_org_seal(as_reviewer(review(&img.seal_id, false, "x"))).await.expect_err("reviewed");
    assert_eq!(twice.code(), Code::FailedPrecondition);

    // A rejected seal is not made the default; an approved one is, and the process follows it.
    let refused = set_default(&mut c, member, &tpl.seal_id).await.expect_err("rejected");
    assert_eq!(refused.code(), Code::FailedPrecondition);
    let made = set_default(&mut c, member, &img.seal_id).await.expect("default");
    assert!(made.default_flag);
    let p = app.process(member).await;
    assert_eq!(p.seal_info.map(|s| s.seal_id), Some(img.seal_id.clone()), "sealInfo follows the default");

    // The default is never deleted; another seal is, and is gone from the list.
    let kept = delete(&mut c, member, &img.seal_id).await.expect_err("default");
    assert_eq!(kept.code(), Code::FailedPrecondition);
    delete(&mut c, member, &tpl.seal_id).await.expect("deleted");
    let after = list(&mut c, member, 1, 2).await.expect("list");
    assert_eq!((after.total, after.total_pages, after.seals.len()), (2, 2, 1));
    let all = list(&mut c, member, 10, 1).await.expect("list");
    assert!(all.seals.iter().all(|s| s.seal_id != tpl.seal_id), "{all:?}");
    assert_eq!(app.sim.calls().seal_delete, 1, "the refused delete was not sent");

    // Each review is in the member's history, with the reviewer; moves answer as before.
    let req = pb::GetProcessHistoryRequest { etc_member_no: member.into(), page_size: 0, page_token: String::new() };
    let history = c.get_process_history(authed(req)).await.expect("history").into_inner().transitions;
    let reviews: Vec<_> = history.iter().filter(|t| t.kind() == pb::TransitionKind::SealReviewed).collect();
    assert_eq!(reviews.len(), 2, "{history:?}");
    assert!(
        reviews.iter().all(|t| t.caller == REVIEWER_ID && t.from_status == t.to_status && t.method == "ReviewOrgSeal")
    );
    let r = reviews[0].seal_review.clone().expect("review");
    assert_eq!((r.seal_id, r.approved, r.reason.as_str()), (tpl.seal_id.clone(), false, "字迹不清"));
    assert!(history.iter().filter(|t| t.kind() != pb::TransitionKind::SealReviewed).all(|t| t.seal_review.is_none()));

    // The handler's own seals.
    let req = pb::ListPersonSealsRequest { etc_member_no: member.into(), page_size: 0, page_num: 0 };
    let person = c.list_person_seals(authed(req)).await.expect("person seals").into_inner();
    assert_eq!((person.total, person.seals[0].review_status()), (1, R::Approved));
    app.finish().await;
}

#[tokio::test]
async fn seals_need_a_verified_company_and_each_refusal_of_e_sign_is_passed_on() {
    let app = spawn_app().await;
    let early = "ETC000001802";
    app.authenticated_member(early).await;
    let mut c = app.client.clone();
    let err = list(&mut c, early, 0, 0).await.expect_err("no company yet");
    assert_eq!(err.code(), Code::FailedPrecondition);

    let member = "ETC000001803";
    app.verified_member(member).await;
    let refusal = || FaultKind::Business { code: 1435002, message: "参数错误".into() };
    let refused = |e: tonic::Status| {
        assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}");
        assert_eq!(e.get_error_details().error_info().map(|i| i.domain.clone()), Some("esign.cn".into()));
    };
    app.sim.inject_fault(Endpoint::SealList, refusal(), FaultTrigger::Times(1));
    refused(list(&mut c, member, 0, 0).await.expect_err("list refused"));
    app.sim.inject_fault(Endpoint::SealTemplate, refusal(), FaultTrigger::Times(1));
    refused(c.create_org_template_seal(authed(template(member, "甲章"))).await.expect_err("template refused"));
    app.sim.inject_fault(Endpoint::SealImage, refusal(), FaultTrigger::Times(1));
    refused(c.create_org_image_seal(authed(image(member, "乙章", png_file()))).await.expect_err("image refused"));
    app.sim.inject_fault(Endpoint::PersonSeals, refusal(), FaultTrigger::Times(1));
    let req = pb::ListPersonSealsRequest { etc_member_no: member.into(), page_size: 0, page_num: 0 };
    refused(c.list_person_seals(authed(req)).await.expect_err("person list refused"));

    // A seal approved, then set default and deleted against refusals: nothing changes.
    let made = c.create_org_template_seal(authed(template(member, "丙章"))).await.expect("template");
    let made = made.into_inner().seal.expect("seal");
    save(&mut c, member, &made.seal_id).await.expect("save");
    c.review_org_seal(as_reviewer(review(&made.seal_id, true, ""))).await.expect("approve");
    app.sim.inject_fault(Endpoint::SealDefault, refusal(), FaultTrigger::Times(1));
    refused(set_default(&mut c, member, &made.seal_id).await.expect_err("default refused"));
    app.sim.inject_fault(Endpoint::SealDelete, refusal(), FaultTrigger::Times(1));
    refused(delete(&mut c, member, &made.seal_id).await.expect_err("delete refused"));
    let still = list(&mut c, member, 0, 0).await.expect("list");
    let s = still.seals.iter().find(|s| s.seal_id == made.seal_id).expect("still there");
    assert_eq!((s.default_flag, s.review_status()), (false, R::Approved));
    app.finish().await;
}

#[tokio::test]
async fn template_texts_are_refused_for_a_company_name_over_25_characters_and_nothing_is_sent() {
    let app = spawn_app().await;
    let member = "ETC000001804";
    app.authenticated_member(member).await;
    let mut req = legal_person_request(member);
    req.name = "上海房友房地产经纪咨询服务连锁发展集团控股股份有限公司".into();
    let mut c = app.client.clone();
    c.start_org_auth(authed(req)).await.expect("StartOrgAuth");
    app.wait_status(member, S::CertUnconfirmed).await;
    let err = c.create_org_template_seal(authed(template(member, "财务章"))).await.expect_err("texts refused");
    assert_eq!((err.code(), fields(&err)), (Code::InvalidArgument, vec!["template.htext".to_owned()]));
    assert_eq!((app.sim.calls().seal_template, app.sim.calls().seal_list), (0, 0));
    let mut plain = template(member, "财务章");
    if let Some(t) = plain.template.as_mut() {
        t.htext.clear();
    }
    let made = c.create_org_template_seal(authed(plain)).await.expect("plain template");
    assert_eq!(made.into_inner().seal.expect("seal").review_status(), R::Unsaved);
    app.finish().await;
}

#[tokio::test]
async fn a_listed_seal_url_is_never_answered_expired() {
    let clock = Arc::new(ShiftedClock::default());
    let app = spawn_app_with_clock(|_| {}, clock.clone()).await;
    let member = "ETC000001805";
    app.verified_member(member).await;
    let mut c = app.client.clone();
    let before = list(&mut c, member, 0, 0).await.expect("list").seals[0].seal_url.clone();
    let lists = app.sim.calls().seal_list;
    clock.advance(Duration::from_secs(2 * 3600));
    let after = list(&mut c, member, 0, 0).await.expect("list").seals[0].seal_url.clone();
    assert!(app.sim.calls().seal_list > lists, "asked e签宝 again");
    let expiry = |u: &str| u.rsplit("expires=").next().and_then(|e| e.parse::<i64>().ok()).expect("expiry");
    assert!(expiry(&after) >= expiry(&before) && expiry(&after) > chrono::Utc::now().timestamp_millis());
    app.finish().await;
}

#[tokio::test]
async fn the_seal_create_org_seal_saves_is_approved_even_when_created_unreviewed_before() {
    let app = spawn_app().await;
    let member = "ETC000001806";
    app.verified_member(member).await;
    let mut c = app.client.clone();
    let early = c.create_org_template_seal(authed(template(member, "合同章"))).await.expect("template");
    let early = early.into_inner().seal.expect("seal");
    assert_eq!(early.review_status(), R::Unsaved);
    // CreateOrgSeal with that alias reuses the seal and makes it the default: approved on creation.
    let saved = app.create_seal(seal_request(member, "合同章")).await.expect("CreateOrgSeal");
    assert_eq!(saved.process.and_then(|p| p.seal_info).map(|s| s.seal_id), Some(early.seal_id.clone()));
    let listed = list(&mut c, member, 0, 0).await.expect("list");
    let s = listed.seals.iter().find(|s| s.seal_id == early.seal_id).expect("listed");
    assert_eq!((s.default_flag, s.review_status()), (true, R::Approved));
    assert!(listed.seals.iter().all(|s| s.review_status() == R::Approved), "e签宝's own seal too: {listed:?}");
    app.finish().await;
}
