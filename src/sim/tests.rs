//! Simulator tests over real HTTP on 127.0.0.1:0: the gateway's signature checks, the pages and
//! their callbacks, the fault injection and the control API.
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::http::StatusCode;
use chrono::Utc;

use super::testing::*;
use super::*;
use crate::domain::model::InboxEvent;
use crate::domain::ports::ESign;
use crate::esign::callback::{ParsedCallback, parse_callback, verify_callback};
use crate::esign::sign::{ACCEPT, CONTENT_TYPE, content_md5, signature, string_to_sign};

fn assert_verified(r: &Received) -> ParsedCallback {
    verify_callback(SECRET.as_bytes(), APP_ID, &r.headers, r.query.as_deref(), &r.body, Utc::now()).unwrap();
    parse_callback(&r.body).unwrap()
}

// ---------------------------------------------------------------- raw requests and the gateway checks

/// Headers of a correctly signed request, computed from `signed_body` and `path`.
fn signed_request(
    http: &reqwest::Client,
    base: &str,
    method: reqwest::Method,
    path: &str,
    signed_body: &[u8],
    secret: &str,
    timestamp_ms: i64,
) -> reqwest::RequestBuilder {
    let md5 = content_md5(signed_body);
    let sts = string_to_sign(method.as_str(), ACCEPT, &md5, CONTENT_TYPE, path);
    http.request(method, format!("{base}{path}"))
        .header("X-Tsign-Open-App-Id", APP_ID)
        .header("X-Tsign-Open-Auth-Mode", "Signature")
        .header("X-Tsign-Open-Ca-Timestamp", timestamp_ms.to_string())
        .header("X-Tsign-Open-Ca-Signature", signature(secret.as_bytes(), &sts))
        .header("Accept", ACCEPT)
        .header("Content-Type", CONTENT_TYPE)
        .header("Content-MD5", md5)
}

/// Replaces a header (`RequestBuilder::header` appends a second value instead).
fn replace_header(rb: reqwest::RequestBuilder, name: &'static str, value: &str) -> reqwest::RequestBuilder {
    let mut map = reqwest::header::HeaderMap::new();
    map.insert(name, value.parse().unwrap());
    rb.headers(map)
}

const V2_BODY: &str = r#"{"thirdPartyUserId":"ETC000123456","name":"张三","idType":"CRED_PSN_CH_IDCARD","idNumber":"11010519491231002X","mobile":"13800138000"}"#;

async fn refusal(resp: reqwest::Response) -> (StatusCode, serde_json::Value) {
    let status = StatusCode::from_u16(resp.status().as_u16()).unwrap();
    (status, resp.json().await.unwrap())
}

#[tokio::test]
async fn simulator_accepts_a_correctly_signed_raw_request() {
    let sim = start_sim().await;
    let http = reqwest::Client::new();
    let now = Utc::now().timestamp_millis();
    let path = "/v1/accounts/createByThirdPartyUserId";
    let resp = signed_request(&http, sim.base_url(), reqwest::Method::POST, path, V2_BODY.as_bytes(), SECRET, now)
        .body(V2_BODY)
        .send()
        .await
        .unwrap();
    let (status, body) = refusal(resp).await;
    assert_eq!((status, body["code"].as_i64()), (StatusCode::OK, Some(0)), "{body}");
    assert_eq!(sim.accounts()[0].id_number, "110***********002X");
}

#[tokio::test]
async fn simulator_refuses_a_body_changed_after_signing_with_401() {
    let sim = start_sim().await;
    let http = reqwest::Client::new();
    let now = Utc::now().timestamp_millis();
    let path = "/v1/accounts/createByThirdPartyUserId";
    let tampered = V2_BODY.replace("张三", "李四");
    let resp = signed_request(&http, sim.base_url(), reqwest::Method::POST, path, V2_BODY.as_bytes(), SECRET, now)
        .body(tampered.clone())
        .send()
        .await
        .unwrap();
    let (status, body) = refusal(resp).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["code"], 401);
    assert!(body["message"].as_str().unwrap().contains("Content-MD5"), "{body}");
    assert!(body["data"].is_null());

    // The MD5 brought up to date too, but the signature left as it was: the signature check catches it.
    let resp = signed_request(&http, sim.base_url(), reqwest::Method::POST, path, V2_BODY.as_bytes(), SECRET, now);
    let resp =
        replace_header(resp, "Content-MD5", &content_md5(tampered.as_bytes())).body(tampered).send().await.unwrap();
    let (status, body) = refusal(resp).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body["message"].as_str().unwrap().contains("Signature"), "{body}");
    assert!(sim.accounts().is_empty());
    assert_eq!(sim.calls().rejected, 2);
}

#[tokio::test]
async fn simulator_refuses_a_wrong_secret_with_401() {
    let sim = start_sim().await;
    let http = reqwest::Client::new();
    let now = Utc::now().timestamp_millis();
    let resp =
        signed_request(&http, sim.base_url(), reqwest::Method::GET, "/v1/authorizations/1", b"", "not-the-secret", now)
            .send()
            .await
            .unwrap();
    let (status, body) = refusal(resp).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body["message"].as_str().unwrap().contains("Signature"), "{body}");
    assert!(!body.to_string().contains(SECRET));
}

#[tokio::test]
async fn simulator_refuses_a_stale_or_future_timestamp_with_401() {
    let sim = start_sim().await;
    let http = reqwest::Client::new();
    let now = Utc::now().timestamp_millis();
    for ts in [now - 16 * 60 * 1000, now + 16 * 60 * 1000] {
        let resp = signed_request(&http, sim.base_url(), reqwest::Method::GET, "/v1/authorizations/1", b"", SECRET, ts)
            .send()
            .await
            .unwrap();
        let (status, body) = refusal(resp).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(body["message"].as_str().unwrap().contains("Timestamp"), "{body}");
    }
}

#[tokio::test]
async fn simulator_refuses_a_wrong_app_id_or_auth_mode_with_401() {
    let sim = start_sim().await;
    let http = reqwest::Client::new();
    let now = Utc::now().timestamp_millis();
    let path = "/v1/authorizations/1";
    for (name, value, check) in
        [("X-Tsign-Open-App-Id", "999", "App-Id"), ("X-Tsign-Open-Auth-Mode", "Secret", "Auth-Mode")]
    {
        let resp = signed_request(&http, sim.base_url(), reqwest::Method::GET, path, b"", SECRET, now);
        let resp = replace_header(resp, name, value).send().await.unwrap();
        let (status, body) = refusal(resp).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(body["message"].as_str().unwrap().contains(check), "{body}");
    }
}

#[tokio::test]
async fn simulator_checks_the_query_in_sorted_order_and_an_empty_md5_on_get() {
    let sim = start_sim().await;
    let http = reqwest::Client::new();
    let now = Utc::now().timestamp_millis();
    let path = "/v2/identity/auth/api/common/123/outline?z=1&a=2";
    let resp =
        signed_request(&http, sim.base_url(), reqwest::Method::GET, path, b"", SECRET, now).send().await.unwrap();
    let (status, body) = refusal(resp).await;
    assert_eq!((status, body["code"].as_i64()), (StatusCode::OK, Some(crate::esign::codes::FLOW_NOT_FOUND)), "{body}");

    // Hashing the empty body instead of sending "" is refused, as by e签宝.
    let resp = signed_request(&http, sim.base_url(), reqwest::Method::GET, path, b"", SECRET, now);
    let resp = replace_header(resp, "Content-MD5", "1B2M2Y8AsgTpgAmY7PhCfg==").send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 401);
}

// ---------------------------------------------------------------- pages and callbacks

#[tokio::test]
async fn face_page_pass_sends_a_signed_callback_that_verify_accepts() {
    let sim = start_sim().await;
    let receiver = Receiver::start().await;
    let client = client(&sim);
    let account = client.create_person_account(&account_request("ETC000123456")).await.unwrap();
    // The notify URL's query values are part of what e签宝 signs.
    let notify = receiver.url("/esign/callback?memberNo=ETC000123456&kind=face");
    let started = client.start_face_auth(&face_request(&account, &notify)).await.unwrap();
    assert!(started.auth_url.starts_with(sim.base_url()));

    let http = reqwest::Client::new();
    let page = http.get(&started.auth_url).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Pass") && page.contains("Fail"), "{page}");
    let opened = receiver.wait_for(1).await;
    assert_eq!(assert_verified(&opened[0]), ParsedCallback::Ignored { action: "FACE_AUTH_PAGE_OPENED".into() });
    assert_eq!(sim.flow(started.flow_id.as_str()).unwrap().status, FlowStatus::Ing);

    let done = http.post(format!("{}/pass", started.auth_url)).send().await.unwrap();
    assert_eq!(done.status().as_u16(), 200);
    assert!(done.text().await.unwrap().contains("https://etc.example.com/face/done"));
    let got = receiver.wait_for(2).await;
    assert_eq!(got[1].query.as_deref(), Some("memberNo=ETC000123456&kind=face"));
    let ParsedCallback::Event { event: InboxEvent::IdentityResult { flow_id, success, .. }, .. } =
        assert_verified(&got[1])
    else {
        panic!("not a face result");
    };
    assert_eq!((flow_id, success), (started.flow_id.clone(), true));

    // A second completion is refused; the state stays final.
    let again = http.post(format!("{}/fail", started.auth_url)).send().await.unwrap();
    assert_eq!(again.status().as_u16(), 409);
    assert!(matches!(sim.fail_face(started.flow_id.as_str(), None), Err(SimError::AlreadyFinal { .. })));
    assert_eq!(receiver.actions(), ["FACE_AUTH_PAGE_OPENED", "FACE_AUTH_RESULT"]);
    let records = sim.callbacks();
    assert_eq!(records.len(), 2);
    assert!(records.iter().all(|r| r.state == DeliveryState::Delivered), "{records:?}");
}

#[tokio::test]
async fn face_fail_form_carries_its_reason_into_the_callback() {
    let sim = start_sim().await;
    let receiver = Receiver::start().await;
    let client = client(&sim);
    let account = client.create_person_account(&account_request("ETC1")).await.unwrap();
    let started = client.start_face_auth(&face_request(&account, &receiver.url("/cb"))).await.unwrap();
    let http = reqwest::Client::new();
    let resp = http
        .post(format!("{}/fail", started.auth_url))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(
            url::form_urlencoded::Serializer::new(String::new())
                .append_pair("failReason", "not the same person")
                .finish(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let got = receiver.wait_for(1).await;
    let ParsedCallback::Event { event: InboxEvent::IdentityResult { success, fail_reason, .. }, .. } =
        assert_verified(&got[0])
    else {
        panic!("not a face result");
    };
    assert!(!success);
    assert_eq!(fail_reason.as_deref(), Some("not the same person"));
}

#[tokio::test]
async fn authorization_letter_sign_sends_a_callback_and_serves_the_file() {
    let sim = start_sim().await;
    let receiver = Receiver::start().await;
    let client = client(&sim);
    let auth_id = client.create_authorization(&authorization_request(&receiver.url("/cb"))).await.unwrap();
    let http = reqwest::Client::new();
    let page_url = format!("{}/sim/auth/{}", sim.base_url(), auth_id);
    let page = http.get(&page_url).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Sign") && page.contains("Refuse"));
    assert_eq!(http.post(format!("{page_url}/sign")).send().await.unwrap().status().as_u16(), 200);
    let got = receiver.wait_for(1).await;
    let ParsedCallback::Event { event: InboxEvent::AuthorizationResult { auth_id: got_id, status, .. }, .. } =
        assert_verified(&got[0])
    else {
        panic!("not an authorization result");
    };
    assert_eq!((got_id, status), (auth_id.clone(), crate::domain::model::AuthorizationStatus::Succeeded));

    let info = client.query_authorization(&auth_id).await.unwrap();
    let url = info.auth_download_url.unwrap();
    let file = http.get(&url).send().await.unwrap();
    assert_eq!(file.headers()["content-type"], "application/pdf");
    assert!(file.bytes().await.unwrap().starts_with(b"%PDF"));
    let expired = format!("{}/sim/files/{}.pdf?expires=1", sim.base_url(), auth_id);
    assert_eq!(http.get(expired).send().await.unwrap().status().as_u16(), 403);
}

#[tokio::test]
async fn dropped_callbacks_are_not_sent_and_duplicates_are_sent_twice() {
    let sim = start_sim().await;
    let receiver = Receiver::start().await;
    let client = client(&sim);
    let a = client.create_authorization(&authorization_request(&receiver.url("/cb"))).await.unwrap();
    let b = client.create_authorization(&authorization_request(&receiver.url("/cb"))).await.unwrap();
    sim.inject_callback_fault(CallbackFault::Drop, FaultTrigger::Times(1));
    sim.sign_authorization(a.as_str()).unwrap();
    sim.inject_callback_fault(CallbackFault::Duplicate, FaultTrigger::Times(1));
    sim.refuse_authorization(b.as_str(), Some("no")).unwrap();
    let got = receiver.wait_for(2).await;
    assert_eq!(got[0].body, got[1].body);
    assert!(std::str::from_utf8(&got[0].body).unwrap().contains(b.as_str()));
    let records = sim.callbacks();
    assert_eq!(records[0].state, DeliveryState::Dropped);
    assert_eq!(records[2].fault, Some(CallbackFault::Duplicate));
    eventually("both duplicates delivered", || {
        sim.callbacks().iter().filter(|r| r.state == DeliveryState::Delivered).count().eq(&2).then_some(())
    })
    .await;
    assert_eq!(receiver.all().len(), 2);
}

#[tokio::test]
async fn a_reordered_callback_arrives_after_the_next_one() {
    let sim = start_sim().await;
    let receiver = Receiver::start().await;
    let client = client(&sim);
    let a = client.create_authorization(&authorization_request(&receiver.url("/cb"))).await.unwrap();
    let b = client.create_authorization(&authorization_request(&receiver.url("/cb"))).await.unwrap();
    sim.inject_callback_fault(CallbackFault::Reorder, FaultTrigger::Times(1));
    sim.sign_authorization(a.as_str()).unwrap();
    assert_eq!(sim.callbacks()[0].state, DeliveryState::Held);
    sim.cancel_authorization(b.as_str()).unwrap();
    let got = receiver.wait_for(2).await;
    assert!(std::str::from_utf8(&got[0].body).unwrap().contains(b.as_str()));
    assert!(std::str::from_utf8(&got[1].body).unwrap().contains(a.as_str()));
    // Each is signed when sent, so the late one still verifies.
    assert_verified(&got[1]);
}

#[tokio::test]
async fn a_failing_receiver_gets_retries_then_the_callback_is_marked_failed() {
    let sim = start_sim().await;
    let receiver = Receiver::start().await;
    receiver.status.store(500, Ordering::Relaxed);
    let client = client(&sim);
    let a = client.create_authorization(&authorization_request(&receiver.url("/cb"))).await.unwrap();
    sim.sign_authorization(a.as_str()).unwrap();
    let record =
        eventually("the callback to fail", || sim.callbacks().into_iter().find(|r| r.state == DeliveryState::Failed))
            .await;
    // One attempt and two retries (start_sim's setting).
    assert_eq!((record.attempts, record.last_status), (3, Some(500)));
    assert_eq!(receiver.all().len(), 3);
}

// ---------------------------------------------------------------- the control API over HTTP

#[tokio::test]
async fn control_api_drives_flows_faults_and_reads_state() {
    let sim = start_sim().await;
    let receiver = Receiver::start().await;
    let client = client(&sim);
    let http = reqwest::Client::new();
    let control = format!("{}/sim/control", sim.base_url());

    let account = client.create_person_account(&account_request("ETC2")).await.unwrap();
    let started = client.start_face_auth(&face_request(&account, &receiver.url("/cb"))).await.unwrap();
    let flows: serde_json::Value =
        http.get(format!("{control}/flows?contextId=ETC000123456")).send().await.unwrap().json().await.unwrap();
    assert_eq!(flows[0]["flowId"], started.flow_id.as_str());
    assert_eq!(flows[0]["status"], "INIT");

    let resp = http
        .post(format!("{control}/flows/{}/fail", started.flow_id))
        .json(&serde_json::json!({"failReason": "blurred"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(sim.flow(started.flow_id.as_str()).unwrap().fail_reason.as_deref(), Some("blurred"));
    assert_eq!(http.post(format!("{control}/flows/nope/pass")).send().await.unwrap().status().as_u16(), 404);
    assert_eq!(
        http.post(format!("{control}/flows/{}/pass", started.flow_id)).send().await.unwrap().status().as_u16(),
        409
    );

    let fault = serde_json::json!({"endpoint": "outline", "fault": {"kind": "business", "code": 1234, "message": "busy"}, "times": 1});
    assert_eq!(http.post(format!("{control}/faults")).json(&fault).send().await.unwrap().status().as_u16(), 204);
    let err = client.flow_outline(&started.flow_id).await.unwrap_err();
    assert_eq!(
        err,
        crate::domain::ports::UpstreamError::Refused {
            code: 1234,
            message: "busy".into(),
            reason: crate::domain::ports::Refusal::Other
        }
    );
    assert!(client.flow_outline(&started.flow_id).await.is_ok());

    let bad =
        serde_json::json!({"endpoint": "outline", "fault": {"kind": "malformed"}, "times": 1, "probability": 0.5});
    assert_eq!(http.post(format!("{control}/faults")).json(&bad).send().await.unwrap().status().as_u16(), 400);
    let chaos = serde_json::json!({"probability": 0.5, "seed": 1, "maxDelayMs": 5});
    assert_eq!(http.post(format!("{control}/chaos")).json(&chaos).send().await.unwrap().status().as_u16(), 204);
    let faults: serde_json::Value = http.get(format!("{control}/faults")).send().await.unwrap().json().await.unwrap();
    assert_eq!(faults["chaos"]["seed"], 1);
    assert_eq!(http.delete(format!("{control}/faults")).send().await.unwrap().status().as_u16(), 204);
    let cb = serde_json::json!({"fault": "drop", "probability": 1.0});
    assert_eq!(http.post(format!("{control}/callback-faults")).json(&cb).send().await.unwrap().status().as_u16(), 204);

    let state: serde_json::Value = http.get(format!("{control}/state")).send().await.unwrap().json().await.unwrap();
    assert_eq!(state["accounts"][0]["accountId"], account.as_str());
    assert_eq!(state["calls"]["outline"], 2);
    let callbacks: serde_json::Value =
        http.get(format!("{control}/callbacks")).send().await.unwrap().json().await.unwrap();
    assert_eq!(callbacks[0]["action"], "FACE_AUTH_RESULT");
    let index = http.get(format!("{}/sim", sim.base_url())).send().await.unwrap().text().await.unwrap();
    assert!(index.contains(started.flow_id.as_str()));
}

#[tokio::test]
async fn shutdown_stops_serving() {
    let sim = start_sim().await;
    let base = sim.base_url().to_owned();
    sim.shutdown().await;
    let http = reqwest::Client::builder().timeout(Duration::from_millis(500)).build().unwrap();
    assert!(http.get(format!("{base}/sim")).send().await.is_err());
}
