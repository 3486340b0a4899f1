//! Node SAVE_ORG_SEAL: the company's default seal (esign.md §8; the platform's
//! `organization/defaultSeal`), and answering its one-hour URL fresh on read. Also the read of a
//! process that brings expired URLs (the seal's, the signed letter's) up to date.
use std::sync::Arc;

use tokio::time::Instant;

use super::error::DomainError;
use super::model::{
    AuthorizationStatus, OrgSeal, Process, ProcessStatus, SEAL_TEXT_MAX_NAME_CHARS, SealRecord, SealReviewStatus,
    SealTemplate, Source, UpstreamSeal,
};
use super::ports::{ChangeSet, Lease, UpstreamError};
use super::values::{AccountId, FieldViolation, MemberNo};
use super::{Service, chrono_dur};

/// e签宝's seal URL lives one hour from when it was answered.
pub const SEAL_URL_TTL: std::time::Duration = std::time::Duration::from_secs(60 * 60);

/// A URL this close to its expiry is treated as expired: the caller needs time to fetch it.
fn read_margin() -> chrono::Duration {
    chrono::Duration::minutes(1)
}

/// What CreateOrgSeal asks for, already parsed.
#[derive(Debug, Clone)]
pub struct CreateOrgSeal {
    pub member_no: MemberNo,
    /// `None`: keep the seal e签宝 made with the company account.
    pub template: Option<SealTemplate>,
}

impl Service {
    /// Saves the company's default seal: ORG_SEAL_UNSAVE while e签宝 is asked, then ORG_SEAL_SAVED
    /// (or ORG_SEAL_SAVE_FAILED on a refusal). Idempotent: a saved seal is answered again. A wait
    /// for another start of the member ends before `deadline`, the caller's, with `Busy`.
    pub async fn create_org_seal(
        &self,
        cmd: CreateOrgSeal,
        by: &Source,
        deadline: Option<Instant>,
    ) -> Result<Process, DomainError> {
        if let Some(saved) = self.seal_answer_without_upstream(&cmd).await? {
            return Ok(saved);
        }
        let member = cmd.member_no.clone();
        self.with_member_lease(&member, deadline, |_, _| async {
            if let Some(saved) = self.seal_answer_without_upstream(&cmd).await? {
                return Ok(saved);
            }
            let org_id = self
                .retry_on_conflict(|| async {
                    let mut process = self.process(&cmd.member_no).await?;
                    let org_id = own_company(&process)?;
                    process.seal_started(self.now())?;
                    if !process.moves().is_empty() {
                        let source = Some(by.clone());
                        self.store.commit(ChangeSet { process: Some(process), source, ..Default::default() }).await?;
                    }
                    Ok(org_id)
                })
                .await?;
            let saved = self.save_seal_upstream(&org_id, cmd.template.as_ref()).await;
            let refusal = match &saved {
                Err(UpstreamError::Refused { message, .. }) => Some(message.clone()),
                _ => None,
            };
            let process = self
                .retry_on_conflict(|| async {
                    let mut process = self.process(&cmd.member_no).await?;
                    let now = self.now();
                    match (&saved, &refusal) {
                        (Ok(seal), _) => process.seal_saved(seal.clone(), now)?,
                        (Err(_), Some(reason)) => process.seal_failed(Some(reason.clone()), now)?,
                        // Unreachable or no answer: stays ORG_SEAL_UNSAVE; a retry looks again.
                        (Err(_), None) => return Ok(process),
                    }
                    let source = Some(by.clone());
                    self.store
                        .commit(ChangeSet { process: Some(process.clone()), source, ..Default::default() })
                        .await?;
                    Ok(process)
                })
                .await?;
            match saved {
                Ok(seal) => {
                    tracing::info!(member = %cmd.member_no, seal_id = %seal.seal_id, "company seal saved");
                    self.approve_saved_seal(&cmd.member_no, &org_id, &seal).await?;
                    Ok(process)
                }
                Err(e) => Err(e.into()),
            }
        })
        .await
    }

    /// The seal CreateOrgSeal saved is approved on creation (issue 18): its review record says so,
    /// also when the member had created it earlier with CreateOrgTemplateSeal and not had it reviewed.
    async fn approve_saved_seal(
        &self,
        member: &MemberNo,
        org_id: &AccountId,
        seal: &OrgSeal,
    ) -> Result<(), DomainError> {
        let now = self.now();
        let approved = SealRecord::approved_on_creation(
            seal.seal_id.clone(),
            member.clone(),
            org_id.clone(),
            seal.alias.clone(),
            seal.created_at.unwrap_or(now),
        );
        match self.store.seal_record(&seal.seal_id).await? {
            None => self.store.insert_seal_records(std::slice::from_ref(&approved)).await?,
            Some(r) if r.status != SealReviewStatus::Approved => {
                let approved = SealRecord { saved_at: r.saved_at, ..approved };
                self.store.update_seal_record(&approved, r.status, None).await?;
            }
            Some(_) => {}
        }
        Ok(())
    }

    /// The saved process when the seal is saved already; the refusal of a step out of order or of a
    /// template e签宝 would refuse; `None` when e签宝 must be asked.
    async fn seal_answer_without_upstream(&self, cmd: &CreateOrgSeal) -> Result<Option<Process>, DomainError> {
        let process = self.process(&cmd.member_no).await?;
        if process.seal.is_some() {
            // Only ORG_SEAL_SAVED keeps a seal, and every status after it: the seal is there.
            return Ok(Some(process));
        }
        process.check_may_save_seal().map_err(|e| DomainError::FailedPrecondition {
            status: e.current,
            message: format!(
                "CreateOrgSeal needs the company's evidence confirmed (CERT_CONFIRMED: ConfirmEvidence) or a \
                 failed seal step; the process is {}",
                e.current.as_str()
            ),
        })?;
        own_company(&process)?;
        if let Some(t) = &cmd.template
            && (t.htext.is_some() || t.qtext.is_some())
        {
            let name_chars = process.org.as_ref().map_or(0, |o| o.name.chars().count());
            if name_chars > SEAL_TEXT_MAX_NAME_CHARS {
                return Err(DomainError::InvalidArgument(vec![FieldViolation::new(
                    "template.htext",
                    "is not allowed: the company's name is longer than 25 characters (leave htext and qtext empty)",
                )]));
            }
        }
        Ok(None)
    }

    /// Creates the chosen template seal and makes it the default, or finds e签宝's own default seal.
    /// A template whose alias exists already (an earlier try whose answer was lost) is reused.
    async fn save_seal_upstream(
        &self,
        org_id: &AccountId,
        template: Option<&SealTemplate>,
    ) -> Result<OrgSeal, UpstreamError> {
        let seals = self.esign.list_org_seals(org_id).await?;
        let chosen = match template {
            None => seals
                .into_iter()
                .find(|s| s.default)
                .ok_or_else(|| UpstreamError::Malformed("the company has no default seal at e签宝".into()))?,
            Some(t) => {
                let existing = seals.into_iter().find(|s| s.alias.as_deref() == Some(t.alias.as_str()));
                let mut seal = match existing {
                    Some(s) => s,
                    None => self.esign.create_template_seal(org_id, t).await?,
                };
                if !seal.default {
                    self.esign.set_default_seal(org_id, &seal.seal_id).await?;
                    seal.default = true;
                }
                seal
            }
        };
        Ok(self.kept_seal(chosen))
    }

    fn kept_seal(&self, s: UpstreamSeal) -> OrgSeal {
        let now = self.now();
        OrgSeal {
            url_expires_at: Some(now + chrono_dur(SEAL_URL_TTL)),
            created_at: Some(s.created_at.unwrap_or(now)),
            seal_id: s.seal_id,
            alias: s.alias,
            file_key: s.file_key,
            url: s.url,
        }
    }

    /// The member's process for an answer: the seal's URL and the signed letter's URL, when expired,
    /// are first asked of e签宝 again (one query each, under a lease), so that neither is answered
    /// stale or blank while the seal or the letter exists. Otherwise the store alone answers.
    pub async fn process_for_read(
        &self,
        member: &MemberNo,
        by: &Source,
        deadline: Option<Instant>,
    ) -> Result<Arc<Process>, DomainError> {
        let process = self.process_detail(member).await?;
        let soon = self.now() + read_margin();
        let seal_stale = process.seal.as_ref().is_some_and(|s| s.url_due_at(soon));
        let letter_stale = process.status() == ProcessStatus::AuthorizeFinish
            && process.signed_file_url.is_some()
            && process.signed_file_url_valid_at(soon).is_none();
        if !seal_stale && !letter_stale {
            return Ok(process);
        }
        // Boxed: the refreshes' futures (a lease, e签宝 calls, a commit) are tens of KiB, which
        // every read's future would otherwise carry and copy, though few reads refresh.
        Box::pin(async {
            if seal_stale {
                self.refresh_seal_url(member, deadline).await?;
            }
            if letter_stale {
                self.refresh_letter_url(member, by).await?;
            }
            self.process_detail(member).await
        })
        .await
    }

    /// Re-lists the company's seals under the member's lease (one query: a reader that waited
    /// finds the URL fresh and asks nothing) and keeps the seal's new URL.
    async fn refresh_seal_url(&self, member: &MemberNo, deadline: Option<Instant>) -> Result<(), DomainError> {
        self.with_member_lease(member, deadline, |process, _| async move {
            let (Some(seal), Some(org_id)) = (process.seal.clone(), process.org_account_id.clone()) else {
                return Ok(());
            };
            if !seal.url_due_at(self.now() + read_margin()) {
                return Ok(());
            }
            let listed = self.esign.list_org_seals(&org_id).await?;
            // A seal e签宝 no longer lists (or lists without a URL) is answered without one, and
            // asked about again an hour later, not at every read.
            let url = listed.into_iter().find(|s| s.seal_id == seal.seal_id).and_then(|s| s.url);
            if url.is_none() {
                tracing::warn!(member = %member, seal_id = %seal.seal_id, "e签宝 lists no URL for the saved seal");
            }
            self.retry_on_conflict(|| async {
                let mut process = self.process(member).await?;
                if process.seal.as_ref().map(|s| &s.seal_id) != Some(&seal.seal_id) {
                    return Ok(());
                }
                process.set_seal_url(url.clone(), self.now() + chrono_dur(SEAL_URL_TTL));
                self.store.commit(ChangeSet { process: Some(process), ..Default::default() }).await?;
                Ok(())
            })
            .await
        })
        .await
    }

    /// Asks e签宝 for the signed letter's URL again under the authorization's poll lease (the one a
    /// reconciler or a callback takes): one query. Another holder busy with it: nothing is asked.
    async fn refresh_letter_url(&self, member: &MemberNo, by: &Source) -> Result<(), DomainError> {
        let Some(auth) = self.store.latest_authorization(member).await? else { return Ok(()) };
        if auth.status != AuthorizationStatus::Succeeded {
            return Ok(());
        }
        let now = self.now();
        let lease = Lease {
            holder: format!("{}/read", self.settings.holder()),
            until: now + chrono_dur(self.settings.query_lease),
        };
        if !self.store.try_lease_authorization(&auth.auth_id, &lease, now).await? {
            return Ok(());
        }
        let asked = self.esign.query_authorization(&auth.auth_id).await;
        let applied = match asked {
            Ok(info) => self.apply_authorization_info(&info, None, by).await.map(|_| ()),
            Err(e) => Err(e.into()),
        };
        // Releases the lease; the item is due again only while its letter's URL is missing.
        self.store.reschedule_authorization(&auth.auth_id, now, auth.poll_attempts).await?;
        applied
    }
}

/// The company account created in ORG_AUTH; FAILED_PRECONDITION without one.
pub(super) fn own_company(process: &Process) -> Result<AccountId, DomainError> {
    process.org_account_id.clone().filter(|_| process.org_verified()).ok_or_else(|| DomainError::FailedPrecondition {
        status: process.status(),
        message: format!("the member's company is not verified (the process is {})", process.status().as_str()),
    })
}
