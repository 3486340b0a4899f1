//! The company's side of a reverse payment in the simulator: the payment itself (from the company's
//! account, or from another), the registry's declared mismatches, and the `identity_org_end`
//! callback e签宝 posts when a company flow ends.
use serde::Serialize;

use super::super::state::SimOrgFlow;
use super::super::{Shared, SimError};
use super::{PAYMENT_AMOUNT, digits};
use crate::esign::api::FlowStatus;
use crate::esign::callback::ACTION_ORG_END;

/// `identity_org_end` as e签宝 posts it (esign.md §11).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OrgEndBody<'a> {
    action: &'a str,
    flow_id: &'a str,
    success: bool,
    account_id: &'a str,
    context_id: &'a str,
    agent_flow_id: &'a str,
    agent_account_id: &'a str,
    timestamp: i64,
}

impl Shared {
    pub(crate) fn notify_org_end(&self, flow: &SimOrgFlow) {
        let body = OrgEndBody {
            action: ACTION_ORG_END,
            flow_id: &flow.flow_id,
            success: flow.status == FlowStatus::Success,
            account_id: &flow.org_id,
            context_id: &flow.context_id,
            agent_flow_id: &flow.agent_flow_id,
            agent_account_id: &flow.agent_account_id,
            timestamp: flow.modify_time,
        };
        self.notify(flow.notify_url.as_deref(), ACTION_ORG_END, &flow.flow_id, &body);
    }

    /// The company pays: 0.01 from its own account ends the flow SUCCESS (and e签宝 calls back);
    /// from another account the payment is PAY_FAILED and a correct one may still follow.
    pub(crate) fn pay(&self, flow_id: &str, from_company: bool) -> Result<SimOrgFlow, SimError> {
        let flow = {
            let mut st = self.lock();
            let org_name = {
                let flow = st.org_flows.get(flow_id).ok_or_else(|| Self::not_found("payment", flow_id))?;
                st.orgs.values().find(|o| o.org_id == flow.org_id).map(|o| o.name.clone()).unwrap_or_default()
            };
            let flow = st.org_flows.get_mut(flow_id).ok_or_else(|| Self::not_found("payment", flow_id))?;
            let final_status = flow.status.is_final();
            let Some(payment) = flow.payment.as_mut().filter(|_| !final_status) else {
                return Err(SimError::AlreadyFinal {
                    what: "payment",
                    id: flow_id.to_owned(),
                    status: flow.payment.as_ref().map_or("no receiving account", |p| p.process.as_str()).to_owned(),
                });
            };
            let now = Self::now_ms();
            payment.trade_time = Some(now);
            payment.modify_time = now;
            payment.biz_flow_no = Some(digits(20));
            payment.opp_bank_name = Some("中国工商银行上海分行".into());
            payment.opp_account_no = Some(digits(19));
            if from_company {
                payment.process = "ORGANFINISHED".into();
                payment.opp_account_name = Some(org_name);
                payment.pay_amount = Some(PAYMENT_AMOUNT.into());
                flow.status = FlowStatus::Success;
            } else {
                payment.process = "PAY_FAILED".into();
                payment.opp_account_name = Some("张某某".into());
                payment.pay_amount = Some(PAYMENT_AMOUNT.into());
            }
            flow.modify_time = now;
            flow.clone()
        };
        tracing::info!(flow_id, from_company, "simulator: reverse payment made");
        if flow.status == FlowStatus::Success {
            self.notify_org_end(&flow);
        }
        Ok(flow)
    }

    /// The registry's answer for a company from now on: `mismatch` makes its 4 factors never match.
    pub(crate) fn set_company_mismatch(&self, id_number: &str, mismatch: bool) {
        let id = id_number.to_ascii_uppercase();
        let mut st = self.lock();
        if mismatch {
            st.mismatches.insert(id);
        } else {
            st.mismatches.remove(&id);
        }
    }
}
