//! The adapter against an independent e签宝 stand-in (`tests/standin/esign_standin.py`, written from
//! esign.md alone, sharing no code with the service or its simulator), chosen by settings alone:
//! every call the service makes is accepted, its callbacks verify here, and a tampered body is refused.
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use etc_esign::esign::content_md5;
use etc_esign::grpc::pb::{self, AuthProcessStatus as S};
use serde_json::Value;

use crate::helpers::*;

struct StandIn {
    child: Child,
    base_url: String,
}

impl StandIn {
    fn start() -> Self {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/standin/esign_standin.py");
        let mut child = Command::new("python3")
            .args([script, "--app-id", APP_ID, "--secret", APP_SECRET])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs the stand-in");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("stand-in says where");
        let base_url = line.trim().strip_prefix("listening on ").expect("a listening line").to_owned();
        Self { child, base_url }
    }

    async fn get(&self, path: &str) -> Value {
        reqwest::get(format!("{}{path}", self.base_url)).await.expect("stand-in").json().await.expect("json")
    }

    async fn control(&self, path: &str) -> Value {
        let r = reqwest::Client::new().post(format!("{}{path}", self.base_url)).send().await.expect("stand-in");
        r.json().await.expect("json")
    }

    async fn delete(&self, path: &str) -> Value {
        let r = reqwest::Client::new().delete(format!("{}{path}", self.base_url)).send().await.expect("stand-in");
        r.json().await.expect("json")
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn every_call_is_accepted_by_an_independent_stand_in_and_a_tampered_body_is_refused() {
    let standin = StandIn::start();
    let base = standin.base_url.clone();
    let app = spawn_app_with(move |c| c.esign.base_url = base).await;
    let member = "ETC000000601";

    // Account and face start, both signed; the stand-in's callback verifies at our receiver.
    let started = app.start_face(member).await;
    let passed = standin.control(&format!("/standin/face/{}/pass", started.flow_id)).await;
    assert_eq!(passed["callbackStatus"], 200, "our receiver accepts the stand-in's signature");
    app.wait_status(member, S::HandlerAuthed).await;

    // The outline read (GET, empty Content-MD5) of a flow still running.
    app.start_face("ETC000000602").await;
    let mut c = app.client.clone();
    let refreshed = c
        .get_process_detail(authed(pb::GetProcessDetailRequest { etc_member_no: "ETC000000602".into(), refresh: true }))
        .await
        .expect("refresh reads the outline");
    assert_eq!(refreshed.into_inner().process.expect("process").status, S::HandlerAuthing as i32);

    // The handler by SMS: the 3-factor start (POST) and the code filled back (PUT), both signed.
    let sms = c.start_sms_auth(authed(sms_request("ETC000000603"))).await.expect("sms start").into_inner();
    let code = standin.get(&format!("/standin/sms/{}", sms.flow_id)).await;
    let code = code["code"].as_str().expect("the stand-in sent a code").to_owned();
    let req = pb::VerifySmsCodeRequest { etc_member_no: "ETC000000603".into(), code };
    let verified = c.verify_sms_code(authed(req)).await.expect("verified").into_inner();
    assert_eq!(verified.process.expect("process").status, S::HandlerAuthed as i32);

    // The company by its legal person (its flow ends at once), then its template seal: created,
    // listed and made the default (POST, GET with a query, PUT), all signed.
    c.start_org_auth(authed(legal_person_request(member))).await.expect("company verified");
    wait_status_of(&c, member, S::CertUnconfirmed).await;
    confirm_evidence(&c, member).await;
    let sealed = c.create_org_seal(authed(seal_request(member, "合同章"))).await.expect("seal saved").into_inner();
    let sealed = sealed.process.expect("process");
    assert_eq!(sealed.status, S::OrgSealSaved as i32);
    let seal = sealed.seal_info.expect("seal info");
    assert!(seal.seal_url.contains(&seal.seal_id) && seal.alias == "合同章", "{seal:?}");

    // Seal management: an image seal (POST with a PNG in base64), the handler's seals (GET), and
    // deleting e签宝's first seal, no longer the default (DELETE), all signed.
    let png = std::fs::read(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/licence.png"))
        .expect("test picture");
    let req = pb::CreateOrgImageSealRequest {
        etc_member_no: member.into(),
        alias: "图片章".into(),
        image: png,
        transparent: true,
        width: 0,
        height: 0,
    };
    let image = c.create_org_image_seal(authed(req)).await.expect("image seal").into_inner().seal.expect("seal");
    assert_eq!(image.review_status(), pb::SealReviewStatus::Unsaved);
    let req = pb::ListPersonSealsRequest { etc_member_no: member.into(), page_size: 0, page_num: 0 };
    assert_eq!(c.list_person_seals(authed(req)).await.expect("person seals").into_inner().total, 1);
    let req = pb::ListOrgSealsRequest { etc_member_no: member.into(), page_size: 0, page_num: 0 };
    let listed = c.list_org_seals(authed(req)).await.expect("seals").into_inner();
    assert_eq!(listed.total, 3, "{listed:?}");
    let first = listed.seals.iter().find(|s| s.alias == "默认印章").expect("e签宝's first seal");
    let req = pb::DeleteOrgSealRequest { etc_member_no: member.into(), seal_id: first.seal_id.clone() };
    c.delete_org_seal(authed(req)).await.expect("deleted");

    // Authorization create, its callback, and the query that fetches the letter.
    let created = c.create_org_authorization(authed(create_request(member, "req-standin"))).await.expect("created");
    let auth_id = created.into_inner().auth_id;
    let signed = standin.control(&format!("/standin/auth/{auth_id}/sign")).await;
    assert_eq!(signed["callbackStatus"], 200);
    let p = app.wait_status(member, S::AuthorizeFinish).await;
    assert!(p.signed_file_url.contains(&auth_id), "the letter from the query: {}", p.signed_file_url);

    let refusals = standin.get("/standin/refusals").await;
    assert_eq!(refusals, Value::Array(vec![]), "the stand-in refused none of the service's calls");
    let requests = standin.get("/standin/requests").await;
    let requests = requests.as_array().expect("a list");
    let called: Vec<String> = requests
        .iter()
        .map(|r| format!("{} {}", r["method"].as_str().unwrap_or(""), r["path"].as_str().unwrap_or("")))
        .collect();
    for expected in [
        "POST /v1/accounts/createByThirdPartyUserId",
        "/face",
        "/outline",
        "POST /v1/authorizations",
        "GET /v1/authorizations/",
        "/seals/officialtemplate",
        "/seals?offset=",
        "/setDefault",
        "POST /v1/organizations/",
        "/seals/image",
        "DELETE /v1/organizations/",
        "GET /v1/accounts/",
    ] {
        assert!(called.iter().any(|c| c.contains(expected)), "{expected} was called: {called:?}");
    }
    for (method, prefix) in
        [("POST", "/v2/identity/auth/api/individual/"), ("PUT", "/v2/identity/auth/pub/individual/")]
    {
        let sms_call = format!("{method} {prefix}");
        assert!(
            called.iter().any(|c| c.starts_with(&sms_call) && c.ends_with("/telecom3Factors")),
            "{method} …/telecom3Factors was called: {called:?}"
        );
    }

    // Replay the account request as sent, then with one body byte changed: only the first passes.
    let account =
        requests.iter().find(|r| r["path"] == "/v1/accounts/createByThirdPartyUserId").expect("the account request");
    let replay = |body: String, fresh_md5: bool| {
        let mut req = reqwest::Client::new().post(format!("{}/v1/accounts/createByThirdPartyUserId", standin.base_url));
        for (name, value) in account["headers"].as_object().expect("headers") {
            match name.to_ascii_lowercase().as_str() {
                "host" | "content-length" => {}
                "content-md5" if fresh_md5 => req = req.header(name, content_md5(body.as_bytes())),
                _ => req = req.header(name, value.as_str().unwrap_or_default()),
            }
        }
        req.body(body).send()
    };
    let sent = account["body"].as_str().expect("body").to_owned();
    let as_sent = replay(sent.clone(), false).await.expect("replayed");
    assert_eq!(as_sent.status(), reqwest::StatusCode::OK, "the request as the service signed it");
    let tampered = sent.replacen("ETC", "ETD", 1);
    let refused = replay(tampered.clone(), false).await.expect("replayed");
    assert_eq!(refused.status(), reqwest::StatusCode::UNAUTHORIZED, "a tampered body is refused");
    // Even with its Content-MD5 made to match, the signature over the old MD5 gives it away.
    let refused = replay(tampered, true).await.expect("replayed");
    assert_eq!(refused.status(), reqwest::StatusCode::UNAUTHORIZED);
    let refusals = standin.get("/standin/refusals").await;
    assert_eq!(refusals[0]["check"], "content md5", "{refusals}");
    assert_eq!(refusals[1]["check"], "signature", "{refusals}");
    app.finish().await;
}

/// StartOrgAuth with the test handler as the company's legal person, or (`paying`) someone else.
fn org_request(member: &str, paying: bool) -> pb::StartOrgAuthRequest {
    let (legal_name, legal_id) = if paying { ("王五", "310104198001011239") } else { ("张三", ID_NUMBER) };
    pb::StartOrgAuthRequest {
        etc_member_no: member.into(),
        name: "房友科技有限公司".into(),
        id_type: pb::OrgIdType::Uscc as i32,
        id_number: "91350100M000100Y43".into(),
        org_legal_name: legal_name.into(),
        org_legal_id_number: legal_id.into(),
        profile: None,
    }
}

#[tokio::test]
async fn the_company_calls_are_accepted_by_the_independent_stand_in() {
    let standin = StandIn::start();
    let base = standin.base_url.clone();
    let app = spawn_app_with(move |c| c.esign.base_url = base).await;
    let mut c = app.client.clone();
    for member in ["ETC000000611", "ETC000000612", "ETC000000613"] {
        let started = app.start_face(member).await;
        standin.control(&format!("/standin/face/{}/pass", started.flow_id)).await;
        app.wait_status(member, S::HandlerAuthed).await;
    }

    // The legal person: the stand-in's outline says SUCCESS at once.
    let legal = c.start_org_auth(authed(org_request("ETC000000611", false))).await.expect("legal person").into_inner();
    assert_eq!(legal.process.expect("process").status, S::CertUnconfirmed as i32);

    // The payer: the account, the payment, its result posted without an `action`, the progress.
    let paying = c.start_org_auth(authed(org_request("ETC000000612", true))).await.expect("payer").into_inner();
    assert!(paying.payment_required);
    let account = c
        .start_reverse_payment(authed(pb::StartReversePaymentRequest { etc_member_no: "ETC000000612".into() }))
        .await
        .expect("account")
        .into_inner();
    assert_eq!((account.sub_account_no.as_str(), account.payment_amount.as_str()), ("6225880212345678901", "0.01"));
    let paid = standin.control(&format!("/standin/pay/{}", paying.flow_id)).await;
    assert_eq!(paid["callbackStatus"], 200, "our receiver accepts the stand-in's signature");
    app.wait_status("ETC000000612", S::CertUnconfirmed).await;
    let progress = c
        .get_reverse_payment(authed(pb::GetReversePaymentRequest {
            etc_member_no: "ETC000000612".into(),
            refresh: true,
        }))
        .await
        .expect("progress")
        .into_inner()
        .payment
        .expect("payment");
    assert_eq!(progress.process, pb::ReversePaymentProcess::Organfinished as i32);
    assert_eq!(progress.opp_account_no, "************2233");

    // A mismatch, then a new start that reuses the account (53000000, then getByThirdId).
    standin.control("/standin/mismatch/91350100M000100Y43").await;
    let err = c.start_org_auth(authed(org_request("ETC000000613", false))).await.expect_err("mismatch");
    assert_eq!(err.code(), tonic::Code::FailedPrecondition);
    assert_eq!(app.status("ETC000000613").await, S::OrgAuthFailed);
    standin.delete("/standin/mismatch/91350100M000100Y43").await;
    let again = c.start_org_auth(authed(org_request("ETC000000613", false))).await.expect("again").into_inner();
    assert_eq!(again.process.expect("process").status, S::CertUnconfirmed as i32);

    let refusals = standin.get("/standin/refusals").await;
    assert_eq!(refusals, Value::Array(vec![]), "the stand-in refused none of the service's calls");
    let requests = standin.get("/standin/requests").await;
    let called: Vec<String> = requests
        .as_array()
        .expect("a list")
        .iter()
        .map(|r| format!("{} {}", r["method"].as_str().unwrap_or(""), r["path"].as_str().unwrap_or("")))
        .collect();
    for expected in [
        "POST /v1/organizations/createByThirdPartyUserId",
        "GET /v1/organizations/getByThirdId?thirdPartyUserId=ETC000000613",
        "/fourFactors",
        "/reversePayment",
        "/query/reversePaymentProcess",
    ] {
        assert!(called.iter().any(|c| c.contains(expected)), "{expected} was called: {called:?}");
    }
    app.finish().await;
}
