//! The company's authorization letter for silent signing (seeds 004, 002) on the one client: create
//! it, and query it (a read, retried). The trait methods in `client.rs` hand over to these.
use reqwest::Method;

use super::super::answer::{instant, non_empty, upstream_id};
use super::super::api::{AuthIdData, AuthorizationData, CODE_OK, CreateAuthorizationBody, Endpoint, paths};
use super::super::codes;
use super::{EsignClient, serialize};
use crate::domain::ports::{AuthorizationInfo, CreateAuthorizationRequest, UpstreamError};
use crate::domain::values::AuthId;

impl EsignClient {
    pub(super) async fn authorization_create(&self, req: &CreateAuthorizationRequest) -> Result<AuthId, UpstreamError> {
        const ENDPOINT: &str = Endpoint::AuthCreate.as_str();
        let body = CreateAuthorizationBody {
            organize_id: req.organize_id.as_str().to_owned(),
            contact: req.contact.clone(),
            send_notice: req.send_notice,
            auth_type: codes::auth_type_code(req.auth_type),
            person_id: req.person_id.as_ref().map(|p| p.as_str().to_owned()),
            valid_date: req.valid_date.timestamp_millis(),
            seal_scope: req.seal_scope.clone(),
            file_type: req.file_type.clone(),
            notify_url: Some(req.notify_url.clone()),
            redirect_url: req.redirect_url.clone(),
        };
        let bytes = serialize(ENDPOINT, &body)?;
        self.exchange(ENDPOINT, Method::POST, paths::CREATE_AUTHORIZATION, Some(bytes), |answer| {
            if answer.code != CODE_OK {
                return Err(answer.refused());
            }
            let data: AuthIdData = answer.data(ENDPOINT)?;
            upstream_id(ENDPOINT, AuthId::parse, "authId", &data.auth_id)
        })
        .await
    }

    pub(super) async fn authorization_query(&self, auth_id: &AuthId) -> Result<AuthorizationInfo, UpstreamError> {
        const ENDPOINT: &str = Endpoint::AuthQuery.as_str();
        let path = paths::query_authorization(auth_id.as_str());
        self.read(ENDPOINT, &path, |answer| {
            if answer.code != CODE_OK {
                return Err(answer.refused());
            }
            let data: AuthorizationData = answer.data(ENDPOINT)?;
            let status = codes::auth_status(data.status)
                .ok_or_else(|| UpstreamError::Malformed(format!("{ENDPOINT}: unknown status")))?;
            Ok(AuthorizationInfo {
                auth_id: upstream_id(ENDPOINT, AuthId::parse, "authId", &data.auth_id)?,
                authorizer_type: data.authorizer_type.and_then(codes::authorizer_type),
                organize_id: non_empty(data.organize_id),
                legal_rep_id: non_empty(data.legal_rep_id),
                auth_type: data.auth_type.and_then(codes::auth_type),
                person_id: non_empty(data.person_id),
                auth_download_url: non_empty(data.auth_download_url),
                status,
                auth_des: non_empty(data.auth_des),
                begin_date: instant("beginDate", data.begin_date)?,
                end_date: instant("endDate", data.end_date)?,
            })
        })
        .await
    }
}
