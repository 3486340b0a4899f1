//! The handler's telecom 3-factor check by SMS (esign.md §10) on the one client: the start, which
//! sends the code, and the code filled back. The trait methods in `client.rs` hand over to these.
use reqwest::Method;

use super::super::answer::upstream_id;
use super::super::api::{CODE_OK, Endpoint, SmsStartBody, SmsStartData, SmsVerifyBody, paths};
use super::{EsignClient, serialize};
use crate::domain::ports::{SmsAuthRequest, UpstreamError};
use crate::domain::values::{FlowId, SmsCode};

impl EsignClient {
    pub(super) async fn sms_start(&self, req: &SmsAuthRequest) -> Result<FlowId, UpstreamError> {
        const ENDPOINT: &str = Endpoint::SmsStart.as_str();
        let body = SmsStartBody {
            mobile_no: req.mobile.expose().to_owned(),
            repetition: true,
            context_id: req.context_id.clone(),
            notify_url: Some(req.notify_url.clone()),
        };
        let bytes = serialize(ENDPOINT, &body)?;
        let path = paths::sms_start(req.account_id.as_str());
        self.exchange(ENDPOINT, Method::POST, &path, Some(bytes), |answer| {
            if answer.code != CODE_OK {
                return Err(answer.refused());
            }
            let data: SmsStartData = answer.data(ENDPOINT)?;
            upstream_id(ENDPOINT, FlowId::parse, "flowId", &data.flow_id)
        })
        .await
    }

    pub(super) async fn sms_verify(&self, flow_id: &FlowId, code: &SmsCode) -> Result<(), UpstreamError> {
        const ENDPOINT: &str = Endpoint::SmsVerify.as_str();
        let bytes = serialize(ENDPOINT, &SmsVerifyBody { authcode: code.expose().to_owned() })?;
        let path = paths::sms_verify(flow_id.as_str());
        // `data` is null on success: the code alone says it.
        self.exchange(ENDPOINT, Method::PUT, &path, Some(bytes), |answer| {
            if answer.code != CODE_OK {
                return Err(answer.refused());
            }
            Ok(())
        })
        .await
    }
}
