//! The handler's telecom 3-factor check by SMS (esign.md §10), strictly as e签宝 answers it: a
//! flow whose code lives 15 minutes, `30503002` for a wrong code, the third wrong code failing the
//! flow (`30503004`), `30500002` once it has ended; the end is sent as `identity_psn_end`. The codes
//! it "sent" are listed on `/sim/sms` (dev) and read by tests through the handle.
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, Uri};
use axum::response::{Html, Response};
use rand::Rng;

use super::faults::Endpoint;
use super::pages::escape;
use super::state::{SimFlow, SimSms};
use super::upstream::{Sim, bad_param, ok, refuse};
use super::{Shared, codes};
use crate::domain::values::{Mobile, mask_mobile};
use crate::esign::api::{FlowStatus, SmsStartBody, SmsStartData, SmsVerifyBody};
use crate::esign::codes::{FLOW_ENDED, FLOW_NOT_FOUND, SMS_CODE_EXPIRED, SMS_CODE_TOO_MANY_WRONG, SMS_CODE_WRONG};

/// `subFlowType` of a telecom 3-factor flow in its outline.
pub(crate) const SMS_SUB_FLOW_TYPE: &str = "INDIVIDUAL_TELECOM_3_FACTOR";
/// How long a code may be filled back.
const CODE_LIFE_MS: i64 = 15 * 60 * 1000;
/// The wrong code that fails the flow.
const MAX_WRONG_CODES: u8 = 3;

pub(crate) async fn start_sms(
    State(sim): Sim,
    Path(account_id): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let req = match sim.accept::<SmsStartBody>(Endpoint::SmsStart, &method, &uri, &headers, &body).await {
        Ok(req) => req,
        Err(answer) => return answer,
    };
    if Mobile::parse("mobileNo", &req.mobile_no).is_err() {
        return bad_param("mobileNo");
    }
    let mut st = sim.lock();
    if !st.accounts.values().any(|a| a.account_id == account_id) {
        return refuse(codes::ACCOUNT_NOT_FOUND, "账号不存在");
    }
    let flow_id = st.new_flow_id();
    let now = Shared::now_ms();
    let code = format!("{:06}", rand::rng().random_range(0..1_000_000u32));
    st.flows.insert(
        flow_id.clone(),
        SimFlow {
            flow_id: flow_id.clone(),
            account_id,
            context_id: req.context_id,
            faceauth_mode: String::new(),
            notify_url: req.notify_url,
            callback_url: None,
            // The SMS is out: the flow is under way.
            status: FlowStatus::Ing,
            fail_reason: None,
            create_time: now,
            modify_time: now,
            sms: Some(SimSms { mobile: mask_mobile(&req.mobile_no), code, sent_at: now, wrong_codes: 0 }),
        },
    );
    tracing::info!(flow_id = %flow_id, "simulator: telecom 3-factor flow started, SMS sent");
    ok(SmsStartData { flow_id })
}

pub(crate) async fn verify_sms(
    State(sim): Sim,
    Path(flow_id): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let req = match sim.accept::<SmsVerifyBody>(Endpoint::SmsVerify, &method, &uri, &headers, &body).await {
        Ok(req) => req,
        Err(answer) => return answer,
    };
    let now = Shared::now_ms();
    let (ended, answer) = {
        let mut st = sim.lock();
        let Some(flow) = st.flows.get_mut(&flow_id) else {
            return refuse(FLOW_NOT_FOUND, "认证流程不存在");
        };
        let Some(sms) = flow.sms.as_mut() else {
            return refuse(FLOW_NOT_FOUND, "认证流程不存在");
        };
        if flow.status.is_final() {
            return refuse(FLOW_ENDED, "认证流程已结束");
        }
        if now - sms.sent_at > CODE_LIFE_MS {
            return refuse(SMS_CODE_EXPIRED, "验证码已过期");
        }
        if req.authcode == sms.code {
            flow.status = FlowStatus::Success;
            flow.modify_time = now;
            (Some(flow.clone()), ok(()))
        } else {
            sms.wrong_codes += 1;
            if sms.wrong_codes >= MAX_WRONG_CODES {
                flow.status = FlowStatus::Fail;
                flow.fail_reason = Some("验证码错误次数过多".to_owned());
                flow.modify_time = now;
                (Some(flow.clone()), refuse(SMS_CODE_TOO_MANY_WRONG, "验证码错误次数过多"))
            } else {
                (None, refuse(SMS_CODE_WRONG, "验证码错误"))
            }
        }
    };
    if let Some(flow) = ended {
        tracing::info!(flow_id = %flow.flow_id, status = flow.status.as_str(), "simulator: telecom 3-factor flow ended");
        sim.notify_person_end(&flow);
    }
    answer
}

/// `/sim/sms`: the codes the simulator "sent", newest first (dev only: it is the handler's phone).
pub(crate) async fn outbox(State(sim): Sim) -> Html<String> {
    let mut sent: Vec<SimFlow> = sim.lock().flows.values().filter(|f| f.sms.is_some()).cloned().collect();
    sent.sort_by_key(|f| std::cmp::Reverse(f.create_time));
    let rows: String = sent
        .iter()
        .filter_map(|f| f.sms.as_ref().map(|s| (f, s)))
        .map(|(f, s)| {
            format!(
                "<tr><td>{}</td><td>{}</td><td><b>{}</b></td><td>{}</td></tr>",
                escape(&f.flow_id),
                escape(&s.mobile),
                escape(&s.code),
                escape(f.status.as_str())
            )
        })
        .collect();
    Html(format!(
        "<!doctype html><html lang=\"zh\"><head><meta charset=\"utf-8\"><title>SMS</title></head><body>\
         <h1>SMS sent</h1><table><tr><th>flowId</th><th>mobile</th><th>code</th><th>flow</th></tr>{rows}</table>\
         <p><a href=\"/sim\">e签宝 simulator</a></p></body></html>"
    ))
}
