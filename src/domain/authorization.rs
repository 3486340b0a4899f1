//! Node AUTHORIZED: the company signs its authorization letter for silent signing (seed 004),
//! queried and reconciled through seed 002.
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use tokio::time::Instant;

use super::error::DomainError;
use super::model::{AuthType, Authorization, AuthorizationStatus, ProcessStatus, Source};
use super::ports::{AuthorizationInfo, ChangeSet, CreateAuthorizationRequest, Lease, StoreError, UpstreamError};
use super::values::{AccountId, AuthId, Contact, FieldViolation, MemberNo, RequestId};
use super::{Applied, DOWNLOAD_URL_TTL, Service, chrono_dur};

/// What CreateOrgAuthorization asks for, already parsed.
#[derive(Debug, Clone)]
pub struct CreateAuthorization {
    pub member_no: MemberNo,
    pub request_id: RequestId,
    /// The company to authorize: `None` for the member's own (the only one allowed).
    pub organize_id: Option<AccountId>,
    pub contact: Contact,
    pub send_notice: bool,
    pub auth_type: AuthType,
    pub person_id: Option<AccountId>,
    pub valid_date: DateTime<Utc>,
    pub seal_scope: Option<String>,
    pub file_type: Option<String>,
    pub redirect_url: Option<String>,
}

impl CreateAuthorization {
    /// The request's fingerprint with `organize_id`, the company it authorizes (the member's own
    /// whether named or left empty, so that both spellings of one request hash alike).
    fn fingerprint(&self, organize_id: &AccountId) -> String {
        let fields = [
            organize_id.as_str(),
            self.contact.expose(),
            if self.send_notice { "1" } else { "0" },
            fingerprint_code(self.auth_type),
            self.person_id.as_ref().map_or("", AccountId::as_str),
            &self.valid_date.timestamp_millis().to_string(),
            self.seal_scope.as_deref().unwrap_or(""),
            self.file_type.as_deref().unwrap_or(""),
            self.redirect_url.as_deref().unwrap_or(""),
        ];
        // Length-prefixed so that no two field lists hash alike.
        let mut h = Sha256::new();
        for f in fields {
            h.update((f.len() as u64).to_be_bytes());
            h.update(f.as_bytes());
        }
        hex::encode(h.finalize())
    }
}

/// The auth type's spelling in a fingerprint. Frozen: fingerprints of earlier requests are stored,
/// and a retry must hash alike.
fn fingerprint_code(auth_type: AuthType) -> &'static str {
    match auth_type {
        AuthType::Platform => "1",
        AuthType::Handler => "2",
    }
}

impl Service {
    /// Creates the member's authorization, or answers the one created for the same request id. A
    /// wait for another start of the same member ends before `deadline`, the caller's, with `Busy`.
    pub async fn create_authorization(
        &self,
        cmd: CreateAuthorization,
        by: &Source,
        deadline: Option<Instant>,
    ) -> Result<Authorization, DomainError> {
        let process = self.process(&cmd.member_no).await?;
        let organize_id = match (&cmd.organize_id, process.org_account_id.clone()) {
            (Some(named), Some(own)) if *named != own => {
                return Err(DomainError::InvalidArgument(vec![FieldViolation::new(
                    "organize_id",
                    "is not the member's own company (the one verified in ORG_AUTH); leave it empty",
                )]));
            }
            (_, Some(own)) => own,
            // No company verified: nothing to authorize.
            (named, None) => named.clone().ok_or_else(|| needs_seal(process.status()))?,
        };
        let fingerprint = cmd.fingerprint(&organize_id);
        if let Some(existing) = self.existing_authorization(&cmd, &fingerprint).await? {
            return Ok(existing);
        }
        check_may_authorize(&process)?;
        let member = cmd.member_no.clone();
        self.with_member_lease(&member, deadline, |_, _| async {
            if let Some(existing) = self.existing_authorization(&cmd, &fingerprint).await? {
                return Ok(existing);
            }
            // UNAUTHORIZED is written before e签宝 is asked: a refusal leaves the process there.
            self.retry_on_conflict(|| async {
                let mut process = self.process(&cmd.member_no).await?;
                check_may_authorize(&process)?;
                process.authorization_requested(self.now())?;
                if !process.moves().is_empty() {
                    let source = Some(by.clone());
                    self.store.commit(ChangeSet { process: Some(process), source, ..Default::default() }).await?;
                }
                Ok(())
            })
            .await?;
            let auth_id = self
                .esign
                .create_authorization(&CreateAuthorizationRequest {
                    organize_id: organize_id.clone(),
                    contact: cmd.contact.expose().to_owned(),
                    send_notice: cmd.send_notice,
                    auth_type: cmd.auth_type,
                    person_id: cmd.person_id.clone(),
                    valid_date: cmd.valid_date,
                    seal_scope: cmd.seal_scope.clone(),
                    file_type: cmd.file_type.clone(),
                    notify_url: self.settings.notify_url.clone(),
                    redirect_url: cmd.redirect_url.clone(),
                })
                .await?;
            let now = self.now();
            let auth = Authorization {
                auth_id,
                member_no: cmd.member_no.clone(),
                request_id: cmd.request_id.as_str().to_owned(),
                request_fingerprint: fingerprint.clone(),
                organize_id: organize_id.as_str().to_owned(),
                auth_type: cmd.auth_type,
                person_id: cmd.person_id.as_ref().map(|p| p.as_str().to_owned()),
                authorizer_type: None,
                legal_rep_id: None,
                status: AuthorizationStatus::InProgress,
                auth_des: None,
                download_url: None,
                download_url_expires_at: None,
                begin_at: None,
                end_at: None,
                created_at: now,
                updated_at: now,
                next_poll_at: self.next_poll_at(0),
                poll_attempts: 0,
            };
            self.retry_on_conflict(|| async {
                let mut process = self.process(&cmd.member_no).await?;
                process.authorization_started(now)?;
                self.store
                    .commit(ChangeSet {
                        process: Some(process),
                        authorizations: vec![auth.clone()],
                        source: Some(by.clone()),
                        ..Default::default()
                    })
                    .await?;
                Ok(())
            })
            .await?;
            tracing::info!(member = %cmd.member_no, auth_id = %auth.auth_id, "authorization started");
            Ok(auth)
        })
        .await
    }

    async fn existing_authorization(
        &self,
        cmd: &CreateAuthorization,
        fingerprint: &str,
    ) -> Result<Option<Authorization>, DomainError> {
        match self.store.authorization_by_request(&cmd.member_no, cmd.request_id.as_str()).await? {
            Some(a) if a.request_fingerprint == fingerprint => Ok(Some(a)),
            Some(_) => Err(DomainError::InvalidArgument(vec![FieldViolation::new(
                "request_id",
                "was already used with different fields; use a new request id",
            )])),
            None => Ok(None),
        }
    }

    /// An authorization, refreshed from e签宝 while it is not final or its download URL has expired.
    pub async fn query_authorization(&self, auth_id: &AuthId, by: &Source) -> Result<Authorization, DomainError> {
        let auth = self.store.authorization(auth_id).await?.ok_or(DomainError::NotFound("authorization"))?;
        if !auth.needs_refresh(self.now()) {
            return Ok(auth);
        }
        self.refresh_authorization(&auth, by).await?;
        self.store.authorization(auth_id).await?.ok_or(DomainError::NotFound("authorization"))
    }

    /// Asks e签宝 (seed 002) and applies what it says.
    pub async fn refresh_authorization(&self, auth: &Authorization, by: &Source) -> Result<Applied, DomainError> {
        let info = match self.esign.query_authorization(&auth.auth_id).await {
            Ok(info) => info,
            Err(e) => {
                if matches!(e, UpstreamError::Unavailable(_) | UpstreamError::Timeout | UpstreamError::Malformed(_)) {
                    self.back_off_authorization(auth).await?;
                }
                return Err(e.into());
            }
        };
        let applied = self.apply_authorization_info(&info, None, by).await?;
        if !info.status.is_final() {
            self.back_off_authorization(auth).await?;
        }
        Ok(applied)
    }

    /// Schedules an authorization's next poll one backoff step later, releasing its poll lease.
    async fn back_off_authorization(&self, auth: &Authorization) -> Result<(), StoreError> {
        let attempts = auth.poll_attempts + 1;
        self.store.reschedule_authorization(&auth.auth_id, self.next_poll_at(attempts), attempts).await
    }

    /// Applies e签宝's full record of an authorization (from a query).
    pub(super) async fn apply_authorization_info(
        &self,
        info: &AuthorizationInfo,
        inbox_id: Option<i64>,
        by: &Source,
    ) -> Result<Applied, DomainError> {
        self.apply_authorization(&info.auth_id, info.status, info.auth_des.clone(), Some(info), inbox_id, by).await
    }

    /// Applies an authorization's result from a callback (status only; details come from a query).
    pub async fn apply_authorization_result(
        &self,
        auth_id: &AuthId,
        status: AuthorizationStatus,
        auth_des: Option<String>,
        inbox_id: Option<i64>,
        by: &Source,
    ) -> Result<Applied, DomainError> {
        // A callback says "signed" but not where the letter is: ask e签宝 first, so that the process
        // shows AUTHORIZE_FINISH together with the letter's URL in one commit. Only under the item's
        // poll lease: a reconciler (on any replica) may be polling this very authorization, and an
        // item is polled by one holder at a time. Without the lease, or when e签宝 cannot say, the
        // callback's status is applied alone and the item stays due (signed, no URL) for the reconciler.
        if status == AuthorizationStatus::Succeeded
            && let Some(auth) = self.store.authorization(auth_id).await?
            && auth.needs_refresh(self.now())
        {
            let now = self.now();
            let lease = Lease {
                holder: format!("{}/callback", self.settings.holder()),
                until: now + chrono_dur(self.settings.query_lease),
            };
            if self.store.try_lease_authorization(auth_id, &lease, now).await? {
                let applied = match self.esign.query_authorization(auth_id).await {
                    Ok(info) if info.status == AuthorizationStatus::Succeeded => {
                        Some(self.apply_authorization_info(&info, inbox_id, by).await)
                    }
                    Ok(_) => None,
                    Err(e) => {
                        tracing::warn!(auth_id = %auth_id, error = %e, "signed letter not fetched yet; the reconciler will");
                        None
                    }
                };
                // Releases the lease; the item is due again only while its letter's URL is missing.
                self.store.reschedule_authorization(auth_id, now, auth.poll_attempts).await?;
                if let Some(applied) = applied {
                    return applied;
                }
            }
        }
        self.apply_authorization(auth_id, status, auth_des, None, inbox_id, by).await
    }

    async fn apply_authorization(
        &self,
        auth_id: &AuthId,
        status: AuthorizationStatus,
        auth_des: Option<String>,
        info: Option<&AuthorizationInfo>,
        inbox_id: Option<i64>,
        by: &Source,
    ) -> Result<Applied, DomainError> {
        self.retry_on_conflict(|| async {
            let mut changes = ChangeSet { inbox_applied: inbox_id.into_iter().collect(), ..Default::default() };
            let Some(mut auth) = self.store.authorization(auth_id).await? else {
                tracing::warn!(auth_id = %auth_id, "result for an authorization this service never started; ignored");
                self.commit_if_any(changes).await?;
                return Ok(Applied::Unchanged);
            };
            super::record_member(&auth.member_no);
            let now = self.now();
            let was = auth.status;
            // A final status never changes again (a late "in progress" or a second, different
            // final status is an out-of-order event); details of the same status may be refreshed.
            let status_moves = !was.is_final() && status != was;
            let same_status_details = info.is_some() && status == was;
            if !status_moves && !same_status_details {
                self.commit_if_any(changes).await?;
                return Ok(Applied::Unchanged);
            }
            auth.status = if status_moves { status } else { was };
            if auth_des.is_some() {
                auth.auth_des = auth_des.clone();
            }
            if let Some(info) = info {
                auth.authorizer_type = info.authorizer_type.or(auth.authorizer_type);
                auth.legal_rep_id = info.legal_rep_id.clone().or(auth.legal_rep_id.take());
                auth.person_id = info.person_id.clone().or(auth.person_id.take());
                auth.begin_at = info.begin_date.or(auth.begin_at);
                auth.end_at = info.end_date.or(auth.end_at);
                if let Some(url) = &info.auth_download_url {
                    auth.download_url = Some(url.clone());
                    auth.download_url_expires_at = Some(now + chrono_dur(DOWNLOAD_URL_TTL));
                }
            }
            auth.updated_at = now;
            let mut process = self.process(&auth.member_no).await?;
            let latest = self.store.latest_authorization(&auth.member_no).await?;
            let is_latest = latest.as_ref().is_some_and(|l| l.auth_id == auth.auth_id);
            if is_latest {
                let moved = match auth.status {
                    AuthorizationStatus::Succeeded if status_moves => process.authorization_finished(signed_file(&auth), now).is_ok(),
                    AuthorizationStatus::Succeeded
                        // Same final status, fresher letter URL: keep the process's copy current.
                        if process.status() == ProcessStatus::AuthorizeFinish && auth.download_url.is_some() => {
                            process.set_signed_file(signed_file(&auth));
                            true
                        }
                    AuthorizationStatus::Failed | AuthorizationStatus::Cancelled if status_moves => {
                        process.authorization_failed(auth.auth_des.clone(), now).is_ok()
                    }
                    _ => false,
                };
                if moved {
                    changes.process = Some(process);
                    changes.source = Some(by.clone());
                }
            }
            changes.authorizations.push(auth.clone());
            self.store.commit(changes).await?;
            tracing::info!(member = %auth.member_no, auth_id = %auth.auth_id, status = ?auth.status, "authorization result applied");
            Ok(if status_moves { Applied::Changed } else { Applied::Unchanged })
        })
        .await
    }
}

/// FAILED_PRECONDITION for an authorization asked for in `status`, naming the step it needs.
fn needs_seal(status: ProcessStatus) -> DomainError {
    DomainError::FailedPrecondition {
        status,
        message: format!(
            "CreateOrgAuthorization needs the company seal saved (ORG_SEAL_SAVED, or UNAUTHORIZED / \
             AUTHORIZE_FAILED); the process is {}",
            status.as_str()
        ),
    }
}

fn check_may_authorize(process: &super::model::Process) -> Result<(), DomainError> {
    process.check_may_authorize().map_err(|e| needs_seal(e.current))
}

fn signed_file(auth: &Authorization) -> Option<(String, DateTime<Utc>)> {
    auth.download_url.clone().zip(auth.download_url_expires_at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fingerprint_of_a_request_is_the_one_earlier_versions_stored() {
        let cmd = CreateAuthorization {
            member_no: MemberNo::parse("ETC000123456").unwrap(),
            request_id: RequestId::parse("request_id", "req-1").unwrap(),
            organize_id: None,
            contact: Contact::parse("contact", "15300001111").unwrap(),
            send_notice: true,
            auth_type: AuthType::Handler,
            person_id: Some(AccountId::parse("person_id", "37655E43BDB1111829A9C20C4559B689E").unwrap()),
            valid_date: DateTime::from_timestamp_millis(1_924_905_600_000).unwrap(),
            seal_scope: Some("合同专用章".into()),
            file_type: None,
            redirect_url: None,
        };
        // Length-prefixed SHA-256 of the fields, the auth type spelled "2" (computed independently).
        let org = AccountId::parse("organize_id", "CE6E87D111114C81A786CF615E63BFD9").unwrap();
        assert_eq!(cmd.fingerprint(&org), "58c4298057825b3cd6ae924c4038357f9d0206a8fb44e77ceaf661253ad0ac9a");
    }
}
