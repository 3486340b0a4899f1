//! The company's calls (esign.md §7) on the one client: its account, its 4-factor flow and its
//! reverse payment. The trait methods in `client.rs` hand over to these.
use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use reqwest::Method;

use super::super::answer::{instant, non_empty, upstream_id};
use super::super::api::{
    CODE_OK, CreateOrgBody, Endpoint, FlowIdData, FourFactorsBody, OrgData, OrgIdData, PaymentProcessData,
    ReversePaymentData, paths,
};
use super::super::codes;
use super::{EsignClient, serialize};
use crate::domain::model::{PaymentProcess, PaymentProgress, ReceivingAccount};
use crate::domain::ports::{FourFactorsRequest, OrgAccount, OrgAccountRequest, UpstreamError};
use crate::domain::values::{AccountId, FlowId};

impl EsignClient {
    pub(super) async fn org_account(&self, req: &OrgAccountRequest) -> Result<OrgAccount, UpstreamError> {
        const ENDPOINT: &str = Endpoint::OrgAccount.as_str();
        let body = CreateOrgBody {
            third_party_user_id: req.third_party_user_id.wire(),
            creator: req.creator.as_str().to_owned(),
            name: req.name.as_str().to_owned(),
            id_type: req.id_number.kind().as_str().to_owned(),
            id_number: req.id_number.as_str().to_owned(),
            org_legal_name: req.legal_name.as_str().to_owned(),
            org_legal_id_number: req.legal_id_number.expose().to_owned(),
        };
        let bytes = serialize(ENDPOINT, &body)?;
        tracing::debug!(member = %req.third_party_user_id, "creating the e签宝 company account");
        let created = self
            .exchange(ENDPOINT, Method::POST, paths::CREATE_ORG, Some(bytes), |answer| match answer.code {
                CODE_OK => {
                    let data: OrgIdData = answer.data(ENDPOINT)?;
                    upstream_id(ENDPOINT, AccountId::parse, "orgId", &data.org_id).map(Some)
                }
                // 53000000: the account exists; read it back (esign.md §7).
                codes::ACCOUNT_EXISTS => Ok(None),
                _ => Err(answer.refused()),
            })
            .await?;
        match created {
            Some(org_id) => Ok(OrgAccount {
                org_id,
                name: req.name.as_str().to_owned(),
                id_number: req.id_number.as_str().to_owned(),
            }),
            None => self.org_by_third_id(&req.third_party_user_id.wire()).await,
        }
    }

    async fn org_by_third_id(&self, third_party_user_id: &str) -> Result<OrgAccount, UpstreamError> {
        const ENDPOINT: &str = Endpoint::OrgGet.as_str();
        let path = paths::org_by_third_id(third_party_user_id);
        self.read(ENDPOINT, &path, |answer| {
            if answer.code != CODE_OK {
                return Err(answer.refused());
            }
            let data: OrgData = answer.data(ENDPOINT)?;
            Ok(OrgAccount {
                org_id: upstream_id(ENDPOINT, AccountId::parse, "orgId", &data.org_id)?,
                name: data.name.unwrap_or_default(),
                id_number: data.id_number.unwrap_or_default(),
            })
        })
        .await
    }

    pub(super) async fn four_factors(&self, req: &FourFactorsRequest) -> Result<FlowId, UpstreamError> {
        const ENDPOINT: &str = Endpoint::FourFactors.as_str();
        let body = FourFactorsBody {
            agent_account_id: req.agent_account_id.as_str().to_owned(),
            agent_flow_id: req.agent_flow_id.as_str().to_owned(),
            fr_auth_enable: true,
            repetition: true,
            context_id: req.context_id.clone(),
            notify_url: Some(req.notify_url.clone()),
        };
        let bytes = serialize(ENDPOINT, &body)?;
        let path = paths::org_four_factors(req.org_id.as_str());
        self.exchange(ENDPOINT, Method::POST, &path, Some(bytes), |answer| {
            if answer.code != CODE_OK {
                return Err(answer.refused());
            }
            let data: FlowIdData = answer.data(ENDPOINT)?;
            upstream_id(ENDPOINT, FlowId::parse, "flowId", &data.flow_id)
        })
        .await
    }

    pub(super) async fn reverse_payment(&self, flow_id: &FlowId) -> Result<ReceivingAccount, UpstreamError> {
        const ENDPOINT: &str = Endpoint::ReversePayment.as_str();
        let path = paths::reverse_payment(flow_id.as_str());
        self.exchange(ENDPOINT, Method::POST, &path, Some(b"{}".to_vec()), |answer| {
            if answer.code != CODE_OK {
                return Err(answer.refused());
            }
            let data: ReversePaymentData = answer.data(ENDPOINT)?;
            if data.sub_account_no.is_empty() {
                return Err(UpstreamError::Malformed(format!("{ENDPOINT}: subAccountNo is empty")));
            }
            Ok(ReceivingAccount {
                main_account_name: data.main_account_name,
                sub_account_no: data.sub_account_no,
                main_account_bank: data.main_account_bank,
                payment_amount: data.payment_amount,
            })
        })
        .await
    }

    pub(super) async fn payment_process(
        &self,
        flow_id: &FlowId,
    ) -> Result<(PaymentProcess, PaymentProgress), UpstreamError> {
        const ENDPOINT: &str = Endpoint::PaymentProcess.as_str();
        let path = paths::reverse_payment_process(flow_id.as_str());
        self.read(ENDPOINT, &path, |answer| {
            if answer.code != CODE_OK {
                return Err(answer.refused());
            }
            let d: PaymentProcessData = answer.data(ENDPOINT)?;
            let process = d
                .process
                .as_deref()
                .and_then(PaymentProcess::parse)
                .ok_or_else(|| UpstreamError::Malformed(format!("{ENDPOINT}: unknown process")))?;
            Ok((
                process,
                PaymentProgress {
                    message: non_empty(d.message),
                    sub_account: non_empty(d.sub_account),
                    sub_account_channel_name: non_empty(d.sub_account_channel_name),
                    main_account_name: non_empty(d.main_account_name),
                    opp_account_no: non_empty(d.opp_account_no),
                    opp_account_name: non_empty(d.opp_account_name),
                    opp_bank_name: non_empty(d.opp_bank_name),
                    pay_amount: non_empty(d.pay_amount),
                    trade_time: time_string("tradeTime", d.trade_time)?,
                    create_time: time_string("createTime", d.create_time)?,
                    modify_time: time_string("modifyTime", d.modify_time)?,
                    biz_flow_no: non_empty(d.biz_flow_no),
                },
            ))
        })
        .await
    }
}

/// An instant e签宝 answers as a string: milliseconds (seconds below 10^12), or
/// `yyyy-MM-dd HH:mm:ss` in China Standard Time.
fn time_string(field: &str, s: Option<String>) -> Result<Option<DateTime<Utc>>, UpstreamError> {
    let Some(s) = non_empty(s) else { return Ok(None) };
    if let Ok(n) = s.trim().parse::<i64>() {
        return instant(field, Some(if n < 1_000_000_000_000 { n.saturating_mul(1000) } else { n }));
    }
    let china = chrono::FixedOffset::east_opt(8 * 3600).ok_or_else(|| UpstreamError::Malformed(field.into()))?;
    NaiveDateTime::parse_from_str(s.trim(), "%Y-%m-%d %H:%M:%S")
        .ok()
        .and_then(|t| china.from_local_datetime(&t).single())
        .map(|t| Some(t.with_timezone(&Utc)))
        .ok_or_else(|| UpstreamError::Malformed(format!("{field} is not an instant")))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::domain::ports::{ESign, OutlineStatus, Refusal};
    use crate::domain::values::{AccountKey, MemberNo, OrgIdNumber, OrgIdType, OrgName, PersonName, ResidentId};
    use crate::sim::testing::{account_request, client, face_request, start_sim};

    const NOTIFY: &str = "http://127.0.0.1:9/esign/callback";
    const CODE: &str = "91350100M000100Y43";

    fn org_request(member: &str, creator: &AccountId, legal: (&str, &str)) -> OrgAccountRequest {
        OrgAccountRequest {
            third_party_user_id: AccountKey::new(MemberNo::parse(member).unwrap(), 0),
            creator: creator.clone(),
            name: OrgName::parse("name", "房友科技有限公司").unwrap(),
            id_number: OrgIdNumber::parse("id_number", OrgIdType::Uscc, CODE).unwrap(),
            legal_name: PersonName::parse("n", legal.0).unwrap(),
            legal_id_number: ResidentId::parse("i", legal.1).unwrap(),
        }
    }

    /// A handler (张三, 11010519491231002X) who passed face recognition: its account and flow.
    async fn passed_handler(sim: &crate::sim::SimHandle, c: &EsignClient, member: &str) -> (AccountId, FlowId) {
        let account = c.create_person_account(&account_request(member)).await.unwrap();
        let flow = c.start_face_auth(&face_request(&account, NOTIFY)).await.unwrap().flow_id;
        sim.pass_face(flow.as_str()).unwrap();
        (account, flow)
    }

    fn four(org: &OrgAccount, agent: &AccountId, flow: &FlowId) -> FourFactorsRequest {
        FourFactorsRequest {
            org_id: org.org_id.clone(),
            agent_account_id: agent.clone(),
            agent_flow_id: flow.clone(),
            context_id: "ETC1".into(),
            notify_url: NOTIFY.into(),
        }
    }

    fn code_of(e: UpstreamError) -> i64 {
        match e {
            UpstreamError::Refused { code, .. } => code,
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn the_legal_person_ends_the_flow_at_once_and_the_account_is_reused_on_53000000() {
        let sim = start_sim().await;
        let c = client(&sim);
        let (agent, flow) = passed_handler(&sim, &c, "ETC1").await;
        let req = org_request("ETC1", &agent, ("张三", "11010519491231002X"));
        let org = c.create_org_account(&req).await.unwrap();
        let again = c.create_org_account(&req).await.unwrap();
        assert_eq!((again.org_id, again.id_number.as_str()), (org.org_id.clone(), CODE));
        assert_eq!((sim.calls().org_account, sim.calls().org_get), (2, 1));
        let flow_id = c.start_org_four_factors(&four(&org, &agent, &flow)).await.unwrap();
        assert_eq!(c.flow_outline(&flow_id).await.unwrap().status, OutlineStatus::Success);
        let err = c.start_reverse_payment(&flow_id).await.unwrap_err();
        assert_eq!(code_of(err), codes::FLOW_ENDED);
    }

    #[tokio::test]
    async fn a_payment_flow_answers_one_account_and_its_progress_to_the_end() {
        let sim = start_sim().await;
        let c = client(&sim);
        let (agent, flow) = passed_handler(&sim, &c, "ETC2").await;
        let org = c.create_org_account(&org_request("ETC2", &agent, ("王五", "310104198001011239"))).await.unwrap();
        let flow_id = c.start_org_four_factors(&four(&org, &agent, &flow)).await.unwrap();
        assert_eq!(c.flow_outline(&flow_id).await.unwrap().status, OutlineStatus::Ing);
        assert_eq!(c.reverse_payment_progress(&flow_id).await.unwrap().0, PaymentProcess::Init);
        let account = c.start_reverse_payment(&flow_id).await.unwrap();
        assert_eq!(c.start_reverse_payment(&flow_id).await.unwrap(), account, "one account per flow");
        assert_eq!(account.payment_amount, "0.01");
        assert_eq!(c.reverse_payment_progress(&flow_id).await.unwrap().0, PaymentProcess::UnReceived);
        sim.pay_from_other_account(flow_id.as_str()).unwrap();
        let (process, progress) = c.reverse_payment_progress(&flow_id).await.unwrap();
        assert_eq!(process, PaymentProcess::PayFailed);
        assert!(progress.opp_account_no.is_some() && progress.trade_time.is_some());
        assert_eq!(c.flow_outline(&flow_id).await.unwrap().status, OutlineStatus::Ing);
        sim.pay_from_company(flow_id.as_str()).unwrap();
        let (process, progress) = c.reverse_payment_progress(&flow_id).await.unwrap();
        assert_eq!(
            (process, progress.opp_account_name.as_deref()),
            (PaymentProcess::OrganFinished, Some("房友科技有限公司"))
        );
        assert_eq!(c.flow_outline(&flow_id).await.unwrap().status, OutlineStatus::Success);
        assert!(sim.pay_from_company(flow_id.as_str()).is_err(), "a finished flow takes no payment");
    }

    #[tokio::test]
    async fn the_control_api_and_the_payment_page_drive_the_same_actions() {
        let sim = start_sim().await;
        let c = client(&sim);
        let http = reqwest::Client::new();
        let (agent, flow) = passed_handler(&sim, &c, "ETC4").await;
        let org = c.create_org_account(&org_request("ETC4", &agent, ("王五", "310104198001011239"))).await.unwrap();
        let url = |p: &str| format!("{}{p}", sim.base_url());
        let r = http
            .post(url("/sim/control/registry/mismatches"))
            .json(&serde_json::json!({"idNumber": CODE}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204);
        let err = c.start_org_four_factors(&four(&org, &agent, &flow)).await.unwrap_err();
        assert_eq!(code_of(err), codes::INFO_MISMATCH);
        http.post(url("/sim/control/registry/mismatches"))
            .json(&serde_json::json!({"idNumber": CODE, "mismatch": false}))
            .send()
            .await
            .unwrap();
        let flow_id = c.start_org_four_factors(&four(&org, &agent, &flow)).await.unwrap();
        let account = c.start_reverse_payment(&flow_id).await.unwrap();
        // The page a person sees: the account, and both buttons.
        let page = http.get(url(&format!("/sim/pay/{flow_id}"))).send().await.unwrap().text().await.unwrap();
        assert!(page.contains(&account.sub_account_no) && page.contains("Pay from another account"), "{page}");
        let r = http.post(url(&format!("/sim/pay/{flow_id}/other"))).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(c.reverse_payment_progress(&flow_id).await.unwrap().0, PaymentProcess::PayFailed);
        let r = http.post(url(&format!("/sim/control/org-flows/{flow_id}/pay-company"))).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(c.reverse_payment_progress(&flow_id).await.unwrap().0, PaymentProcess::OrganFinished);
        let r = http.post(url(&format!("/sim/control/org-flows/{flow_id}/pay-company"))).send().await.unwrap();
        assert_eq!(r.status(), 409, "a finished flow takes no second payment");
        let flows: serde_json::Value =
            http.get(url("/sim/control/org-flows")).send().await.unwrap().json().await.unwrap();
        let mut statuses: Vec<&str> =
            flows.as_array().unwrap().iter().map(|f| f["status"].as_str().unwrap_or_default()).collect();
        statuses.sort_unstable();
        assert_eq!(statuses, ["FAIL", "SUCCESS"], "the mismatch's flow is FAIL (esign.md §7): {flows}");
    }

    #[tokio::test]
    async fn the_simulator_refuses_with_e_signs_codes() {
        let sim = start_sim().await;
        let c = client(&sim);
        let (agent, flow) = passed_handler(&sim, &c, "ETC3").await;
        let org = c.create_org_account(&org_request("ETC3", &agent, ("王五", "310104198001011239"))).await.unwrap();
        // An agent flow that did not pass.
        let failed = c.start_face_auth(&face_request(&agent, NOTIFY)).await.unwrap().flow_id;
        let err = c.start_org_four_factors(&four(&org, &agent, &failed)).await.unwrap_err();
        assert_eq!(code_of(err), codes::AGENT_NOT_VERIFIED);
        // The registry's mismatch.
        sim.set_company_mismatch(CODE, true);
        let err = c.start_org_four_factors(&four(&org, &agent, &flow)).await.unwrap_err();
        assert!(matches!(
            err,
            UpstreamError::Refused { code: codes::INFO_MISMATCH, reason: Refusal::InfoMismatch, .. }
        ));
        sim.set_company_mismatch(CODE, false);
        // An unknown flow, and one older than 30 days.
        let unknown = FlowId::parse("f", "404").unwrap();
        let err = c.start_reverse_payment(&unknown).await.unwrap_err();
        assert!(matches!(err, UpstreamError::Refused { reason: Refusal::FlowNotFound, .. }), "{err:?}");
        let flow_id = c.start_org_four_factors(&four(&org, &agent, &flow)).await.unwrap();
        sim.age_org_flow(flow_id.as_str(), Duration::from_secs(31 * 24 * 3600)).unwrap();
        let err = c.start_reverse_payment(&flow_id).await.unwrap_err();
        assert!(matches!(err, UpstreamError::Refused { code: codes::FLOW_EXPIRED, reason: Refusal::FlowExpired, .. }));
    }

    #[test]
    fn payment_times_read_as_milliseconds_or_china_time() {
        let ms = time_string("t", Some("1732262400123".into())).unwrap().unwrap();
        assert_eq!(ms.timestamp_millis(), 1732262400123);
        let text = time_string("t", Some("2024-11-22 16:00:00".into())).unwrap().unwrap();
        assert_eq!(text.timestamp(), 1732262400);
        assert_eq!(time_string("t", None).unwrap(), None);
        assert!(time_string("t", Some("yesterday".into())).is_err());
    }
}
