//! `org_flows`: one row per e签宝 company flow, polled by the reconciler until it ends, with its
//! reverse payment. The receiving account number and the payment's progress (which holds the
//! payer's account number) are sealed with the data keys.
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::Condition;
use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

use crate::code_table::code_table;
use crate::domain::model::{OrgFlow, OrgFlowStatus, PaymentProcess, PaymentProgress, ReceivingAccount};
use crate::domain::ports::StoreError;
use crate::domain::values::{AccountId, FlowId, MemberNo};
use crate::store::cipher::Cipher;
use crate::store::columns::{aad, from_ms, ms, opt_ms};
use crate::store::lease::{Leased, Polled};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "org_flows")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub flow_id: String,
    pub member_no: String,
    pub org_id: String,
    pub needs_payment: bool,
    pub created_at: i64,
    pub expires_at: i64,
    pub status: String,
    pub fail_reason: Option<String>,
    pub finished_at: Option<i64>,
    pub payment_process: String,
    pub main_account_name: Option<String>,
    pub sub_account_no: Option<String>,
    pub main_account_bank: Option<String>,
    pub payment_amount: Option<String>,
    pub progress: Option<String>,
    pub next_poll_at: i64,
    pub poll_attempts: i32,
    pub lease_holder: Option<String>,
    pub lease_until: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

code_table! {
    /// Stored `status`. Frozen: rows already written hold these.
    pub fn status_name / status: OrgFlowStatus => &'static str, from &str {
        Running = "RUNNING",
        Succeeded = "SUCCEEDED",
        Failed = "FAILED",
        Abandoned = "ABANDONED",
    }
}

impl Leased for Entity {
    const KEY: Column = Column::FlowId;
    const LEASE_HOLDER: Column = Column::LeaseHolder;
    const LEASE_UNTIL: Column = Column::LeaseUntil;
}

impl Polled for Entity {
    const NEXT_POLL_AT: Column = Column::NextPollAt;
    const POLL_ATTEMPTS: Column = Column::PollAttempts;
    const CREATED_AT: Column = Column::CreatedAt;

    /// A flow still running.
    fn outstanding() -> Condition {
        Condition::all().add(Column::Status.eq(status_name(OrgFlowStatus::Running)))
    }
}

const TABLE: &str = "org_flows";

/// The payment's progress as sealed JSON; its own, frozen field names.
#[derive(Serialize, Deserialize, Default)]
struct StoredProgress {
    message: Option<String>,
    sub_account: Option<String>,
    sub_account_channel_name: Option<String>,
    main_account_name: Option<String>,
    opp_account_no: Option<String>,
    opp_account_name: Option<String>,
    opp_bank_name: Option<String>,
    pay_amount: Option<String>,
    trade_time: Option<i64>,
    create_time: Option<i64>,
    modify_time: Option<i64>,
    biz_flow_no: Option<String>,
}

impl Model {
    /// The flow this row holds, its sealed columns opened with `cipher`.
    pub fn open(self, cipher: &Cipher) -> Result<OrgFlow, StoreError> {
        let m = self;
        let open = |col: &str, v: &Option<String>| {
            v.as_ref().map(|v| cipher.open(&aad(TABLE, col, &m.flow_id), v)).transpose()
        };
        let sub_account_no = open("sub_account_no", &m.sub_account_no)?;
        let progress = match open("progress", &m.progress)? {
            None => PaymentProgress::default(),
            Some(json) => {
                let p: StoredProgress =
                    serde_json::from_str(&json).map_err(|_| StoreError::Corrupt("org flow progress".into()))?;
                PaymentProgress {
                    message: p.message,
                    sub_account: p.sub_account,
                    sub_account_channel_name: p.sub_account_channel_name,
                    main_account_name: p.main_account_name,
                    opp_account_no: p.opp_account_no,
                    opp_account_name: p.opp_account_name,
                    opp_bank_name: p.opp_bank_name,
                    pay_amount: p.pay_amount,
                    trade_time: opt_ms(p.trade_time)?,
                    create_time: opt_ms(p.create_time)?,
                    modify_time: opt_ms(p.modify_time)?,
                    biz_flow_no: p.biz_flow_no,
                }
            }
        };
        let receiving = sub_account_no.map(|sub_account_no| ReceivingAccount {
            main_account_name: m.main_account_name.clone().unwrap_or_default(),
            sub_account_no,
            main_account_bank: m.main_account_bank.clone().unwrap_or_default(),
            payment_amount: m.payment_amount.clone().unwrap_or_default(),
        });
        Ok(OrgFlow {
            flow_id: FlowId::parse("flow_id", &m.flow_id)?,
            member_no: MemberNo::parse(&m.member_no)?,
            org_id: AccountId::parse("org_id", &m.org_id)?,
            needs_payment: m.needs_payment,
            created_at: from_ms(m.created_at)?,
            expires_at: from_ms(m.expires_at)?,
            status: status(&m.status).ok_or_else(|| StoreError::Corrupt(format!("org flow status {}", m.status)))?,
            fail_reason: m.fail_reason,
            finished_at: opt_ms(m.finished_at)?,
            payment_process: PaymentProcess::parse(&m.payment_process)
                .ok_or_else(|| StoreError::Corrupt(format!("payment process {}", m.payment_process)))?,
            receiving,
            progress,
            next_poll_at: from_ms(m.next_poll_at)?,
            poll_attempts: m.poll_attempts,
        })
    }
}

impl ActiveModel {
    /// The row of `f`, its account numbers sealed with `cipher`. The lease is not set: it belongs to
    /// whoever polls the row (a new row starts free).
    pub fn seal(f: &OrgFlow, cipher: &Cipher) -> Result<Self, StoreError> {
        let key = f.flow_id.as_str();
        let seal = |col: &str, v: Option<&str>| v.map(|v| cipher.seal(&aad(TABLE, col, key), v)).transpose();
        let r = f.receiving.as_ref();
        let p = &f.progress;
        let has_progress = *p != PaymentProgress::default();
        let progress = has_progress
            .then(|| {
                serde_json::to_string(&StoredProgress {
                    message: p.message.clone(),
                    sub_account: p.sub_account.clone(),
                    sub_account_channel_name: p.sub_account_channel_name.clone(),
                    main_account_name: p.main_account_name.clone(),
                    opp_account_no: p.opp_account_no.clone(),
                    opp_account_name: p.opp_account_name.clone(),
                    opp_bank_name: p.opp_bank_name.clone(),
                    pay_amount: p.pay_amount.clone(),
                    trade_time: p.trade_time.map(ms),
                    create_time: p.create_time.map(ms),
                    modify_time: p.modify_time.map(ms),
                    biz_flow_no: p.biz_flow_no.clone(),
                })
                .map_err(|_| StoreError::Corrupt("org flow progress".into()))
            })
            .transpose()?;
        Ok(Self {
            flow_id: Set(key.to_owned()),
            member_no: Set(f.member_no.as_str().to_owned()),
            org_id: Set(f.org_id.as_str().to_owned()),
            needs_payment: Set(f.needs_payment),
            created_at: Set(ms(f.created_at)),
            expires_at: Set(ms(f.expires_at)),
            status: Set(status_name(f.status).to_owned()),
            fail_reason: Set(f.fail_reason.clone()),
            finished_at: Set(f.finished_at.map(ms)),
            payment_process: Set(f.payment_process.as_str().to_owned()),
            main_account_name: Set(r.map(|r| r.main_account_name.clone())),
            sub_account_no: Set(seal("sub_account_no", r.map(|r| r.sub_account_no.as_str()))?),
            main_account_bank: Set(r.map(|r| r.main_account_bank.clone())),
            payment_amount: Set(r.map(|r| r.payment_amount.clone())),
            progress: Set(seal("progress", progress.as_deref())?),
            next_poll_at: Set(ms(f.next_poll_at)),
            poll_attempts: Set(f.poll_attempts),
            lease_holder: NotSet,
            lease_until: NotSet,
        })
    }
}
