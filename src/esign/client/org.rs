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
            third_party_user_id: req.third_party_user_id.as_str().to_owned(),
            creator: req.creator.as_str().to_owned(),
            name: req.name.as_str().to_owned(),
            id_type: req.id_number.kind().as_str().to_owned(),
            id_number: req.id_number.as_str().to_owned(),
            org_legal_name: req.legal_name.as_str().to_owned(),
            org_legal_id_number: req.legal_id_number.expose().to_owned(),
        };
        let bytes = serialize(ENDPOINT, &body)?;
        tracing::info!(member = %req.third_party_user_id, "creating the e签宝 company account");
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
            None => self.org_by_third_id(req.third_party_user_id.as_str()).await,
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
    use super::*;

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
