//! The handler's calls on the one client: the person account (created, or reused on 53000000), the
//! face flow, and the outline of any identity flow (a read, retried). The trait methods in
//! `client.rs` hand over to these.
use reqwest::Method;

use super::super::answer::{instant, non_empty, upstream_id};
use super::super::api::{
    AccountData, CODE_OK, CreateAccountBody, Endpoint, FaceStartBody, FaceStartData, FlowStatus, ID_TYPE_RESIDENT_CARD,
    OutlineData, paths,
};
use super::super::codes;
use super::{EsignClient, serialize};
use crate::domain::ports::{FaceAuthRequest, FaceAuthStarted, FlowOutline, PersonAccountRequest, UpstreamError};
use crate::domain::values::{AccountId, FlowId};

impl EsignClient {
    pub(super) async fn person_account(&self, req: &PersonAccountRequest) -> Result<AccountId, UpstreamError> {
        const ENDPOINT: &str = Endpoint::Account.as_str();
        let body = CreateAccountBody {
            third_party_user_id: req.third_party_user_id.wire(),
            name: req.name.as_str().to_owned(),
            id_type: ID_TYPE_RESIDENT_CARD.to_owned(),
            id_number: req.id_number.expose().to_owned(),
            mobile: req.mobile.expose().to_owned(),
        };
        let bytes = serialize(ENDPOINT, &body)?;
        tracing::debug!(member = %req.third_party_user_id, "creating the e签宝 person account");
        self.exchange(ENDPOINT, Method::POST, paths::CREATE_ACCOUNT, Some(bytes), |answer| match answer.code {
            // 53000000: the account exists already; e签宝 hands back its id, which we reuse.
            CODE_OK | codes::ACCOUNT_EXISTS => {
                let data: AccountData = answer.data(ENDPOINT)?;
                upstream_id(ENDPOINT, AccountId::parse, "accountId", &data.account_id)
            }
            _ => Err(answer.refused()),
        })
        .await
    }

    pub(super) async fn face_start(&self, req: &FaceAuthRequest) -> Result<FaceAuthStarted, UpstreamError> {
        const ENDPOINT: &str = Endpoint::Face.as_str();
        let body = FaceStartBody {
            faceauth_mode: codes::face_auth_mode_name(req.mode).to_owned(),
            repetition: req.repetition,
            callback_url: req.redirect_url.clone(),
            context_id: req.context_id.clone(),
            notify_url: Some(req.notify_url.clone()),
        };
        let bytes = serialize(ENDPOINT, &body)?;
        let path = paths::face_start(req.account_id.as_str());
        self.exchange(ENDPOINT, Method::POST, &path, Some(bytes), |answer| {
            if answer.code != CODE_OK {
                return Err(answer.refused());
            }
            let data: FaceStartData = answer.data(ENDPOINT)?;
            if data.auth_url.is_empty() {
                return Err(UpstreamError::Malformed(format!("{ENDPOINT}: authUrl is empty")));
            }
            Ok(FaceAuthStarted {
                flow_id: upstream_id(ENDPOINT, FlowId::parse, "flowId", &data.flow_id)?,
                auth_url: data.auth_url,
                original_url: data.original_url,
            })
        })
        .await
    }

    pub(super) async fn outline(&self, flow_id: &FlowId) -> Result<FlowOutline, UpstreamError> {
        const ENDPOINT: &str = Endpoint::Outline.as_str();
        let path = paths::flow_outline(flow_id.as_str());
        self.read(ENDPOINT, &path, |answer| {
            if answer.code != CODE_OK {
                return Err(answer.refused());
            }
            let data: OutlineData = answer.data(ENDPOINT)?;
            let status = FlowStatus::parse(&data.flow_status)
                .ok_or_else(|| UpstreamError::Malformed(format!("{ENDPOINT}: unknown flowStatus")))?
                .into();
            Ok(FlowOutline {
                flow_id: upstream_id(ENDPOINT, FlowId::parse, "flowId", &data.flow_id)?,
                status,
                context_id: non_empty(data.context_id),
                fail_reason: non_empty(data.fail_reason),
                modify_time: instant("modifyTime", data.modify_time)?,
            })
        })
        .await
    }
}
