//! The company's endpoints (esign.md §7), strictly as e签宝 answers them: its account (created or
//! found by `thirdPartyUserId`), the 4-factor flow checked against the simulator's company registry
//! (any valid company matches unless a test declared it a mismatch), the flow ending at once when
//! the handler is the legal person, one receiving account per flow, its payment progress, and the
//! payment itself (a person, or a test, pays from the company's account or from another one).
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;
use rand::Rng;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::faults::Endpoint;
use super::state::{SimOrg, SimOrgFlow, SimPayment};
use super::upstream::{bad_param, ok, refuse};
use super::{Shared, codes};
use crate::domain::values::{OrgIdNumber, OrgIdType, ResidentId};
use crate::esign::api::{
    CreateOrgBody, FlowIdData, FlowStatus, FourFactorsBody, OrgData, OrgIdData, OutlineData, PaymentProcessData,
    ReversePaymentData, SubFlow,
};
use crate::esign::codes::{
    ACCOUNT_EXISTS, AGENT_NOT_VERIFIED, FLOW_ENDED, FLOW_EXPIRED, INFO_MISMATCH, ORG_FLOW_NOT_FOUND,
};

mod payment;

type Sim = State<Arc<Shared>>;

/// e签宝 keeps a company flow 30 days.
pub const ORG_FLOW_LIFE_MS: i64 = 30 * 24 * 3600 * 1000;
/// The amount the company pays.
pub const PAYMENT_AMOUNT: &str = "0.01";
/// Who receives the payment (the simulator's stand-in for e签宝's collecting account).
const RECEIVER_NAME: &str = "杭州天谷信息科技有限公司";
const RECEIVER_BANK: &str = "招商银行杭州分行";

/// SHA-256 (hex) of an identity number: how the simulator recognises a person without keeping the number.
pub(crate) fn id_hash(id_number: &str) -> String {
    hex::encode(Sha256::digest(id_number.to_ascii_uppercase().as_bytes()))
}

fn digits(n: usize) -> String {
    let mut rng = rand::rng();
    let mut s = String::with_capacity(n);
    s.push(char::from(b'1' + rng.random_range(0..9u8)));
    while s.len() < n {
        s.push(char::from(b'0' + rng.random_range(0..10u8)));
    }
    s
}

pub(crate) async fn create_org(State(sim): Sim, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let req = match sim.accept::<CreateOrgBody>(Endpoint::OrgAccount, &method, &uri, &headers, &body).await {
        Ok(req) => req,
        Err(answer) => return answer,
    };
    if req.third_party_user_id.is_empty() || req.name.is_empty() || req.org_legal_name.is_empty() {
        return bad_param("thirdPartyUserId, name and orgLegalName are required");
    }
    let Some(kind) = OrgIdType::parse(&req.id_type) else {
        return bad_param("idType");
    };
    let Ok(id_number) = OrgIdNumber::parse("idNumber", kind, &req.id_number) else {
        return bad_param("idNumber");
    };
    let Ok(legal_id) = ResidentId::parse("orgLegalIdNumber", &req.org_legal_id_number) else {
        return bad_param("orgLegalIdNumber");
    };
    let mut st = sim.lock();
    if !st.accounts.values().any(|a| a.account_id == req.creator) {
        return refuse(codes::ACCOUNT_NOT_FOUND, "创建人账号不存在");
    }
    if let Some(existing) = st.orgs.get(&req.third_party_user_id) {
        return super::upstream::envelope(
            axum::http::StatusCode::OK,
            crate::esign::api::Envelope {
                code: ACCOUNT_EXISTS,
                message: Some("机构账号已存在".to_owned()),
                data: Some(OrgIdData { org_id: existing.org_id.clone() }),
            },
        );
    }
    let org_id = st.new_account_id();
    // e签宝 makes the company's default template seal with its account (esign.md §8).
    st.seals.insert(org_id.clone(), vec![super::seal::SimSeal::company_default(&org_id, Shared::now_ms())]);
    st.orgs.insert(
        req.third_party_user_id.clone(),
        SimOrg {
            org_id: org_id.clone(),
            third_party_user_id: req.third_party_user_id,
            creator: req.creator,
            name: req.name,
            id_type: kind.as_str().to_owned(),
            id_number: id_number.as_str().to_owned(),
            org_legal_name: req.org_legal_name,
            org_legal_id_number: legal_id.masked(),
            legal_id_hash: id_hash(legal_id.expose()),
            create_time: Shared::now_ms(),
        },
    );
    ok(OrgIdData { org_id })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ThirdIdQuery {
    third_party_user_id: Option<String>,
}

pub(crate) async fn org_by_third_id(
    State(sim): Sim,
    Query(q): Query<ThirdIdQuery>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = sim.gate(Endpoint::OrgGet, &method, &uri, &headers, &body).await {
        return r;
    }
    let Some(third) = q.third_party_user_id.filter(|t| !t.is_empty()) else {
        return bad_param("thirdPartyUserId");
    };
    let Some(org) = sim.lock().orgs.get(&third).cloned() else {
        return refuse(codes::ACCOUNT_NOT_FOUND, "机构账号不存在");
    };
    ok(OrgData {
        org_id: org.org_id,
        name: Some(org.name),
        id_type: Some(org.id_type),
        id_number: Some(org.id_number),
        third_party_user_id: Some(org.third_party_user_id),
    })
}

pub(crate) async fn four_factors(
    State(sim): Sim,
    Path(org_id): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let req = match sim.accept::<FourFactorsBody>(Endpoint::FourFactors, &method, &uri, &headers, &body).await {
        Ok(req) => req,
        Err(answer) => return answer,
    };
    let flow = {
        let mut st = sim.lock();
        let Some(org) = st.orgs.values().find(|o| o.org_id == org_id).cloned() else {
            return refuse(codes::ACCOUNT_NOT_FOUND, "机构账号不存在");
        };
        let agent = st.accounts.values().find(|a| a.account_id == req.agent_account_id).cloned();
        let agent_passed = st
            .flows
            .get(&req.agent_flow_id)
            .is_some_and(|f| f.account_id == req.agent_account_id && f.status == FlowStatus::Success);
        let Some(agent) = agent.filter(|_| agent_passed) else {
            return refuse(AGENT_NOT_VERIFIED, "经办人未完成个人实名认证");
        };
        let now = Shared::now_ms();
        let flow_id = st.new_flow_id();
        let mismatch = st.mismatches.contains(&org.id_number);
        // frAuthEnable: the handler who passed the named flow is the legal person → SUCCESS at once.
        let legal = req.fr_auth_enable && agent.name == org.org_legal_name && agent.id_hash == org.legal_id_hash;
        let (status, fail_reason) = match (mismatch, legal) {
            (true, _) => (FlowStatus::Fail, Some("企业信息比对不一致".to_owned())),
            (false, true) => (FlowStatus::Success, None),
            (false, false) => (FlowStatus::Ing, None),
        };
        let flow = SimOrgFlow {
            flow_id: flow_id.clone(),
            org_id: org.org_id.clone(),
            context_id: req.context_id,
            notify_url: req.notify_url,
            agent_account_id: req.agent_account_id,
            agent_flow_id: req.agent_flow_id,
            status,
            fail_reason,
            payment: None,
            create_time: now,
            modify_time: now,
        };
        st.org_flows.insert(flow_id, flow.clone());
        flow
    };
    match flow.status {
        FlowStatus::Fail => refuse(INFO_MISMATCH, "企业信息比对不一致"),
        FlowStatus::Success => {
            sim.notify_org_end(&flow);
            ok(FlowIdData { flow_id: flow.flow_id })
        }
        _ => ok(FlowIdData { flow_id: flow.flow_id }),
    }
}

/// The checks both payment calls make: the flow exists, is not expired, and (to pay) has not ended.
fn payment_flow(st: &super::state::SimState, flow_id: &str, must_run: bool) -> Result<SimOrgFlow, Box<Response>> {
    let Some(flow) = st.org_flows.get(flow_id).cloned() else {
        return Err(Box::new(refuse(ORG_FLOW_NOT_FOUND, "认证流程不存在")));
    };
    if !flow.status.is_final() && Shared::now_ms() - flow.create_time > ORG_FLOW_LIFE_MS {
        return Err(Box::new(refuse(FLOW_EXPIRED, "认证流程已过期")));
    }
    if must_run && flow.status.is_final() {
        return Err(Box::new(refuse(FLOW_ENDED, "认证流程已结束")));
    }
    Ok(flow)
}

pub(crate) async fn reverse_payment(
    State(sim): Sim,
    Path(flow_id): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = sim.gate(Endpoint::ReversePayment, &method, &uri, &headers, &body).await {
        return r;
    }
    let mut st = sim.lock();
    let flow = match payment_flow(&st, &flow_id, true) {
        Ok(flow) => flow,
        Err(r) => return *r,
    };
    // One receiving account per flow: asking again answers the same one.
    let payment = match flow.payment {
        Some(p) => p,
        None => {
            let now = Shared::now_ms();
            let p = SimPayment {
                process: "CREATED".into(),
                main_account_name: RECEIVER_NAME.into(),
                sub_account_no: digits(19),
                main_account_bank: RECEIVER_BANK.into(),
                payment_amount: PAYMENT_AMOUNT.into(),
                opp_account_no: None,
                opp_account_name: None,
                opp_bank_name: None,
                pay_amount: None,
                trade_time: None,
                biz_flow_no: None,
                create_time: now,
                modify_time: now,
            };
            if let Some(f) = st.org_flows.get_mut(&flow_id) {
                f.payment = Some(p.clone());
            }
            p
        }
    };
    ok(ReversePaymentData {
        main_account_name: payment.main_account_name,
        sub_account_no: payment.sub_account_no,
        main_account_bank: payment.main_account_bank,
        payment_amount: payment.payment_amount,
    })
}

pub(crate) async fn payment_process(
    State(sim): Sim,
    Path(flow_id): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = sim.gate(Endpoint::PaymentProcess, &method, &uri, &headers, &body).await {
        return r;
    }
    let mut st = sim.lock();
    let flow = match payment_flow(&st, &flow_id, false) {
        Ok(flow) => flow,
        Err(r) => return *r,
    };
    let Some(mut p) = flow.payment else {
        return ok(PaymentProcessData {
            process: Some("INIT".into()),
            message: Some("信息已核验，未发起打款".into()),
            ..PaymentProcessData::default()
        });
    };
    // Once the account exists and has been asked about, e签宝 reports that nothing arrived yet.
    if p.process == "CREATED" {
        p.process = "UN_RECEIVED".into();
        if let Some(f) = st.org_flows.get_mut(&flow_id) {
            f.payment = Some(p.clone());
        }
    }
    let message = match p.process.as_str() {
        "ORGANFINISHED" => "打款成功，企业认证完成",
        "PAY_FAILED" => "打款账户或金额不符",
        "UN_RECEIVED" => "尚未收到打款",
        _ => "收款账户已创建",
    };
    let text = |v: Option<i64>| v.map(|t| t.to_string());
    ok(PaymentProcessData {
        process: Some(p.process.clone()),
        message: Some(message.into()),
        sub_account: Some(p.sub_account_no.clone()),
        sub_account_channel_name: Some(p.main_account_bank.clone()),
        main_account_name: Some(p.main_account_name.clone()),
        opp_account_no: p.opp_account_no.clone(),
        opp_account_name: p.opp_account_name.clone(),
        opp_bank_name: p.opp_bank_name.clone(),
        pay_amount: p.pay_amount.clone(),
        trade_time: text(p.trade_time),
        create_time: text(Some(p.create_time)),
        modify_time: text(Some(p.modify_time)),
        biz_flow_no: p.biz_flow_no.clone(),
    })
}

/// The outline of a company flow (esign.md §4, §7).
pub(crate) fn outline(flow: SimOrgFlow) -> OutlineData {
    let mut sub_flows = vec![SubFlow {
        sub_flow_id: Some(format!("{}-1", flow.flow_id)),
        sub_flow_type: Some("ORGANIZATION_INFO_AUTH".into()),
        status: Some(if flow.status == FlowStatus::Fail { "FAIL" } else { "SUCCESS" }.into()),
    }];
    if let Some(p) = &flow.payment {
        sub_flows.push(SubFlow {
            sub_flow_id: Some(format!("{}-2", flow.flow_id)),
            sub_flow_type: Some("ORGANIZATION_REVERSE_PAYMENT".into()),
            status: Some(if p.process == "ORGANFINISHED" { "SUCCESS" } else { "ING" }.into()),
        });
    }
    OutlineData {
        flow_id: flow.flow_id,
        flow_status: flow.status.as_str().to_owned(),
        object_type: Some("ORGANIZATION".to_owned()),
        context_id: Some(flow.context_id),
        fail_reason: flow.fail_reason,
        create_time: Some(flow.create_time),
        modify_time: Some(flow.modify_time),
        sub_flows,
        related_flows: Vec::new(),
    }
}
