//! One e签宝 company identity flow of a member (nodes ORG_AUTH and PUB_PAYMENT_AUTH) as the service
//! keeps it: the 4-factor check and, when the handler is not the legal person, the reverse payment.
use chrono::{DateTime, Utc};

use crate::domain::values::{AccountId, FlowId, MemberNo, mask_account};

/// Where a company flow stands, as the service keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrgFlowStatus {
    Running,
    Succeeded,
    Failed,
    /// e签宝 no longer knows it or it expired (30 days); the member may start again.
    Abandoned,
}

impl OrgFlowStatus {
    pub fn is_final(self) -> bool {
        self != Self::Running
    }
}

/// e签宝's `process` of a reverse payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentProcess {
    Unavailable,
    Init,
    Created,
    UnReceived,
    PayFailed,
    OrganFinished,
}

impl PaymentProcess {
    pub const ALL: [Self; 6] =
        [Self::Unavailable, Self::Init, Self::Created, Self::UnReceived, Self::PayFailed, Self::OrganFinished];

    /// e签宝's spelling, which the store keeps too.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unavailable => "UNAVAILABLE",
            Self::Init => "INIT",
            Self::Created => "CREATED",
            Self::UnReceived => "UN_RECEIVED",
            Self::PayFailed => "PAY_FAILED",
            Self::OrganFinished => "ORGANFINISHED",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

/// The account the company pays into (e签宝's answer to a reverse payment start).
#[derive(Clone, PartialEq, Eq)]
pub struct ReceivingAccount {
    pub main_account_name: String,
    /// Stored encrypted; answered in full only by StartReversePayment (the company pays into it).
    pub sub_account_no: String,
    pub main_account_bank: String,
    pub payment_amount: String,
}

impl std::fmt::Debug for ReceivingAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReceivingAccount")
            .field("main_account_name", &self.main_account_name)
            .field("sub_account_no", &mask_account(&self.sub_account_no))
            .field("main_account_bank", &self.main_account_bank)
            .field("payment_amount", &self.payment_amount)
            .finish()
    }
}

/// A reverse payment's progress, every field e签宝 answers (esign.md §7).
#[derive(Clone, PartialEq, Eq, Default)]
pub struct PaymentProgress {
    pub message: Option<String>,
    /// Stored encrypted, answered masked.
    pub sub_account: Option<String>,
    pub sub_account_channel_name: Option<String>,
    pub main_account_name: Option<String>,
    /// The payer's account: stored encrypted, answered masked.
    pub opp_account_no: Option<String>,
    pub opp_account_name: Option<String>,
    pub opp_bank_name: Option<String>,
    pub pay_amount: Option<String>,
    pub trade_time: Option<DateTime<Utc>>,
    pub create_time: Option<DateTime<Utc>>,
    pub modify_time: Option<DateTime<Utc>>,
    pub biz_flow_no: Option<String>,
}

impl std::fmt::Debug for PaymentProgress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PaymentProgress")
            .field("message", &self.message)
            .field("sub_account", &self.sub_account.as_deref().map(mask_account))
            .field("opp_account_no", &self.opp_account_no.as_deref().map(mask_account))
            .field("pay_amount", &self.pay_amount)
            .field("biz_flow_no", &self.biz_flow_no)
            .finish_non_exhaustive()
    }
}

/// One e签宝 company identity flow of a member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgFlow {
    pub flow_id: FlowId,
    pub member_no: MemberNo,
    /// The company's e签宝 account (orgId).
    pub org_id: AccountId,
    /// True when the handler is not the legal person: the company pays 0.01.
    pub needs_payment: bool,
    pub created_at: DateTime<Utc>,
    /// e签宝 keeps a flow 30 days.
    pub expires_at: DateTime<Utc>,
    pub status: OrgFlowStatus,
    pub fail_reason: Option<String>,
    pub finished_at: Option<DateTime<Utc>>,
    /// Where the payment stands: `Init` once the information is checked.
    pub payment_process: PaymentProcess,
    pub receiving: Option<ReceivingAccount>,
    pub progress: PaymentProgress,
    pub next_poll_at: DateTime<Utc>,
    pub poll_attempts: i32,
}
