//! What the simulator remembers, in memory: accounts, identity flows (face and SMS), authorizations, call counters
//! and the callbacks it sent. Identity data is kept masked only: the simulator has no use for more.
use std::collections::{BTreeMap, BTreeSet};

use rand::Rng;
use serde::Serialize;

use super::faults::{CallbackFault, Endpoint, FaultBook};
use super::notify::Delivery;
use crate::esign::api::FlowStatus;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SimAccount {
    pub account_id: String,
    pub third_party_user_id: String,
    pub name: String,
    /// Masked (`110***********002X`).
    pub id_number: String,
    /// Masked (`138****8000`).
    pub mobile: String,
    pub create_time: i64,
    /// SHA-256 of the identity number: enough to tell whether this person is a company's legal
    /// person, without keeping the number.
    #[serde(skip)]
    pub id_hash: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SimFlow {
    pub flow_id: String,
    pub account_id: String,
    pub context_id: String,
    pub faceauth_mode: String,
    pub notify_url: Option<String>,
    /// Where the person's browser goes afterwards.
    pub callback_url: Option<String>,
    pub status: FlowStatus,
    pub fail_reason: Option<String>,
    /// Milliseconds.
    pub create_time: i64,
    pub modify_time: i64,
    /// The SMS of a telecom 3-factor flow; `None` for a face flow.
    pub sms: Option<SimSms>,
}

/// The code a telecom 3-factor flow "sent" (dev and tests read it here, as a person reads a phone).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SimSms {
    /// Masked (`138****8000`).
    pub mobile: String,
    pub code: String,
    /// Milliseconds; the code lives 15 minutes from here.
    pub sent_at: i64,
    /// Wrong codes filled back so far; the third fails the flow.
    pub wrong_codes: u8,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SimAuthorization {
    pub auth_id: String,
    pub organize_id: String,
    /// Masked.
    pub contact: String,
    pub send_notice: bool,
    pub auth_type: i64,
    pub person_id: Option<String>,
    /// 1 in progress, 2 succeeded, 3 failed, 4 cancelled.
    pub status: i64,
    pub auth_des: Option<String>,
    /// `validDate` as asked, milliseconds.
    pub valid_date: i64,
    pub begin_date: Option<i64>,
    pub end_date: Option<i64>,
    pub seal_scope: Option<String>,
    pub file_type: Option<String>,
    pub notify_url: Option<String>,
    pub redirect_url: Option<String>,
    pub create_time: i64,
    pub modify_time: i64,
}

/// A company account (esign.md §7). The company's numbers are public; the legal person's identity
/// number is kept masked and hashed only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SimOrg {
    pub org_id: String,
    pub third_party_user_id: String,
    /// The person account that created it.
    pub creator: String,
    pub name: String,
    pub id_type: String,
    pub id_number: String,
    pub org_legal_name: String,
    /// Masked.
    pub org_legal_id_number: String,
    #[serde(skip)]
    pub legal_id_hash: String,
    pub create_time: i64,
}

/// A company's reverse payment: the receiving account and, once paid, the payer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SimPayment {
    /// `CREATED`, `UN_RECEIVED`, `PAY_FAILED` or `ORGANFINISHED`.
    pub process: String,
    pub main_account_name: String,
    pub sub_account_no: String,
    pub main_account_bank: String,
    pub payment_amount: String,
    pub opp_account_no: Option<String>,
    pub opp_account_name: Option<String>,
    pub opp_bank_name: Option<String>,
    pub pay_amount: Option<String>,
    pub trade_time: Option<i64>,
    pub biz_flow_no: Option<String>,
    pub create_time: i64,
    pub modify_time: i64,
}

/// A company identity flow: 4 factors, then (unless the handler is the legal person) the payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SimOrgFlow {
    pub flow_id: String,
    pub org_id: String,
    pub context_id: String,
    pub notify_url: Option<String>,
    pub agent_account_id: String,
    pub agent_flow_id: String,
    pub status: FlowStatus,
    pub fail_reason: Option<String>,
    /// One receiving account per flow, once asked for.
    pub payment: Option<SimPayment>,
    pub create_time: i64,
    pub modify_time: i64,
}

/// Requests that reached each endpoint (signed correctly or not), and how many were refused with 401.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CallCounts {
    pub account: u64,
    pub face: u64,
    pub outline: u64,
    pub auth_create: u64,
    pub auth_query: u64,
    pub org_account: u64,
    pub org_get: u64,
    pub four_factors: u64,
    pub reverse_payment: u64,
    pub payment_process: u64,
    pub sms_start: u64,
    pub sms_verify: u64,
    pub seal_template: u64,
    pub seal_list: u64,
    pub seal_default: u64,
    pub seal_delete: u64,
    pub seal_image: u64,
    pub person_seals: u64,
    /// Refused by the signature checks (HTTP 401).
    pub rejected: u64,
    /// Answered with an injected fault (an armed rule or chaos) instead of, or after, the normal answer.
    pub faulted: u64,
}

impl CallCounts {
    pub fn get(&self, endpoint: Endpoint) -> u64 {
        match endpoint {
            Endpoint::Account => self.account,
            Endpoint::Face => self.face,
            Endpoint::Outline => self.outline,
            Endpoint::AuthCreate => self.auth_create,
            Endpoint::AuthQuery => self.auth_query,
            Endpoint::OrgAccount => self.org_account,
            Endpoint::OrgGet => self.org_get,
            Endpoint::FourFactors => self.four_factors,
            Endpoint::ReversePayment => self.reverse_payment,
            Endpoint::PaymentProcess => self.payment_process,
            Endpoint::SmsStart => self.sms_start,
            Endpoint::SmsVerify => self.sms_verify,
            Endpoint::SealTemplate => self.seal_template,
            Endpoint::SealList => self.seal_list,
            Endpoint::SealDefault => self.seal_default,
            Endpoint::SealDelete => self.seal_delete,
            Endpoint::SealImage => self.seal_image,
            Endpoint::PersonSeals => self.person_seals,
        }
    }

    pub(crate) fn bump(&mut self, endpoint: Endpoint) {
        let slot = match endpoint {
            Endpoint::Account => &mut self.account,
            Endpoint::Face => &mut self.face,
            Endpoint::Outline => &mut self.outline,
            Endpoint::AuthCreate => &mut self.auth_create,
            Endpoint::AuthQuery => &mut self.auth_query,
            Endpoint::OrgAccount => &mut self.org_account,
            Endpoint::OrgGet => &mut self.org_get,
            Endpoint::FourFactors => &mut self.four_factors,
            Endpoint::ReversePayment => &mut self.reverse_payment,
            Endpoint::PaymentProcess => &mut self.payment_process,
            Endpoint::SmsStart => &mut self.sms_start,
            Endpoint::SmsVerify => &mut self.sms_verify,
            Endpoint::SealTemplate => &mut self.seal_template,
            Endpoint::SealList => &mut self.seal_list,
            Endpoint::SealDefault => &mut self.seal_default,
            Endpoint::SealDelete => &mut self.seal_delete,
            Endpoint::SealImage => &mut self.seal_image,
            Endpoint::PersonSeals => &mut self.person_seals,
        };
        *slot += 1;
    }
}

/// Where the delivery of a callback is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Waiting for the sender.
    Queued,
    /// Held back by a `reorder` fault until the next callback is sent.
    Held,
    /// Not sent, by a `drop` fault.
    Dropped,
    /// The receiver answered 2xx.
    Delivered,
    /// Every attempt failed (non-2xx, no answer within 5 s, or unreachable).
    Failed,
    /// A failed attempt; another will follow.
    Retrying,
}

/// One callback the simulator sent (or was told not to send). The signature is not kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CallbackRecord {
    pub seq: u64,
    pub action: String,
    /// The flow or authorization the callback is about.
    pub subject: String,
    pub url: String,
    /// The exact body bytes (UTF-8 JSON).
    pub body: String,
    pub fault: Option<CallbackFault>,
    pub state: DeliveryState,
    pub attempts: u32,
    pub last_status: Option<u16>,
    pub last_error: Option<String>,
}

/// Everything behind the simulator's one mutex. Never held across an `.await`.
#[derive(Debug, Default)]
pub(crate) struct SimState {
    pub accounts: BTreeMap<String, SimAccount>,
    pub flows: BTreeMap<String, SimFlow>,
    pub authorizations: BTreeMap<String, SimAuthorization>,
    /// Company accounts, by `thirdPartyUserId`.
    pub orgs: BTreeMap<String, SimOrg>,
    /// Company identity flows (4 factors and reverse payment), by flow id.
    pub org_flows: BTreeMap<String, SimOrgFlow>,
    /// Company seals, by the company's orgId, oldest first.
    pub seals: BTreeMap<String, Vec<super::seal::SimSeal>>,
    /// The company registry's declared mismatches: document numbers whose 4 factors never match.
    pub mismatches: BTreeSet<String>,
    pub calls: CallCounts,
    pub faults: FaultBook,
    pub callbacks: Vec<CallbackRecord>,
    /// Callbacks held back by `reorder`, oldest first.
    pub held: Vec<Delivery>,
    pub next_seq: u64,
    /// OCR readings registered by picture SHA-256 (`super::ocr`).
    pub ocr: BTreeMap<String, super::ocr::SimOcr>,
}

impl SimState {
    pub fn callback_mut(&mut self, seq: u64) -> Option<&mut CallbackRecord> {
        self.callbacks.iter_mut().find(|c| c.seq == seq)
    }

    /// A fresh account id: 32 lower-case hex digits, like e签宝's.
    pub fn new_account_id(&self) -> String {
        loop {
            let id = uuid::Uuid::new_v4().simple().to_string();
            if !self.accounts.values().any(|a| a.account_id == id) {
                return id;
            }
        }
    }

    /// A fresh flow id: 18 digits, like e签宝's.
    pub fn new_flow_id(&self) -> String {
        loop {
            let id = rand::rng().random_range(100_000_000_000_000_000u64..1_000_000_000_000_000_000).to_string();
            if !self.flows.contains_key(&id) && !self.org_flows.contains_key(&id) {
                return id;
            }
        }
    }

    /// A fresh authorization id: 19 digits.
    pub fn new_auth_id(&self) -> String {
        loop {
            let id = rand::rng().random_range(1_000_000_000_000_000_000u64..10_000_000_000_000_000_000).to_string();
            if !self.authorizations.contains_key(&id) {
                return id;
            }
        }
    }
}
