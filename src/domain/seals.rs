//! Managing a company's seals (issue 18; esign.md §8): list, create (template or image), submit for
//! the platform's review, review, make the default, delete. Every seal e签宝 holds for the company has
//! a review record; lists are read from e签宝 at every call, so their one-hour URLs are fresh.
use chrono::{DateTime, Utc};
use tokio::time::Instant;

use super::error::DomainError;
use super::model::{
    Process, SEAL_TEXT_MAX_NAME_CHARS, SealRecord, SealReview, SealReviewStatus, SealTemplate, Source, UpstreamSeal,
};
use super::ports::{ChangeSet, ImageSealRequest};
use super::seal::own_company;
use super::values::{AccountId, FieldViolation, MemberNo};
use super::{Service, chrono_dur};

/// A page when the caller names no size, and the most one page holds.
pub const SEAL_PAGE_DEFAULT: u32 = 10;
pub const SEAL_PAGE_MAX: u32 = 100;

/// One seal as answered: what e签宝 lists (a fresh URL) and its review (none for a person's seal,
/// and a pending seal listed for a reviewer has no URL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagedSeal {
    pub seal_id: String,
    pub alias: Option<String>,
    pub url: Option<String>,
    pub default: bool,
    pub created_at: Option<DateTime<Utc>>,
    pub record: Option<SealRecord>,
}

/// A page of seals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealPage {
    pub seals: Vec<ManagedSeal>,
    pub total: u64,
    pub total_pages: u64,
}

/// Which page: `size` 1 to [`SEAL_PAGE_MAX`], `num` from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageAsk {
    pub size: u32,
    pub num: u32,
}

impl PageAsk {
    fn offset(self) -> u64 {
        u64::from(self.num.saturating_sub(1)) * u64::from(self.size)
    }

    fn page<T>(self, all: Vec<T>) -> (Vec<T>, u64, u64) {
        let total = all.len() as u64;
        let seals = all.into_iter().skip(self.offset() as usize).take(self.size as usize).collect();
        (seals, total, self.pages(total))
    }

    fn pages(self, total: u64) -> u64 {
        total.div_ceil(u64::from(self.size.max(1)))
    }
}

/// What CreateOrgImageSeal asks for, already checked (the PNG by its content).
#[derive(Debug, Clone)]
pub struct CreateImageSeal {
    pub member_no: MemberNo,
    pub seal: ImageSealRequest,
}

fn managed(s: UpstreamSeal, record: Option<SealRecord>) -> ManagedSeal {
    ManagedSeal { seal_id: s.seal_id, alias: s.alias, url: s.url, default: s.default, created_at: s.created_at, record }
}

fn seal_not_found() -> DomainError {
    DomainError::NotFound("seal")
}

impl Service {
    /// The member's process and its company account (ORG_AUTHED or later).
    async fn company_of(&self, member: &MemberNo) -> Result<(Process, AccountId), DomainError> {
        let process = self.process(member).await?;
        let org_id = own_company(&process)?;
        Ok((process, org_id))
    }

    /// Lists the company's seals at e签宝 and gives each a review record. Seals made here are
    /// recorded when made; one not seen before is approved when it is e签宝's default, the company's
    /// oldest (the one e签宝 made with the account) or the process's saved seal (CreateOrgSeal's),
    /// and UNSAVED otherwise.
    async fn synced_seals(
        &self,
        process: &Process,
        org_id: &AccountId,
    ) -> Result<Vec<(UpstreamSeal, SealRecord)>, DomainError> {
        let listed = self.esign.list_org_seals(org_id).await?;
        let member = process.member_no();
        let mut known = self.store.seal_records(member).await?;
        let now = self.now();
        let saved_id = process.seal.as_ref().map(|s| s.seal_id.as_str());
        // e签宝 makes its default seal with the company account: the company's oldest seal.
        let oldest =
            listed.iter().filter(|s| s.created_at.is_some()).min_by_key(|s| s.created_at).map(|s| s.seal_id.as_str());
        let new: Vec<SealRecord> = listed
            .iter()
            .filter(|s| !known.iter().any(|r| r.seal_id == s.seal_id))
            .map(|s| {
                let at = s.created_at.unwrap_or(now);
                let (id, member, org, alias) = (s.seal_id.clone(), member.clone(), org_id.clone(), s.alias.clone());
                let id_ref = Some(s.seal_id.as_str());
                if s.default || saved_id == id_ref || oldest == id_ref {
                    SealRecord::approved_on_creation(id, member, org, alias, at)
                } else {
                    SealRecord::unsaved(id, member, org, alias, at)
                }
            })
            .collect();
        if !new.is_empty() {
            self.store.insert_seal_records(&new).await?;
            known = self.store.seal_records(member).await?;
        }
        Ok(listed
            .into_iter()
            .filter_map(|s| {
                let r = known.iter().find(|r| r.seal_id == s.seal_id)?.clone();
                Some((s, r))
            })
            .collect())
    }

    /// A page of the company's seals, each with its fresh URL and its review.
    pub async fn list_company_seals(&self, member: &MemberNo, page: PageAsk) -> Result<SealPage, DomainError> {
        let (process, org_id) = self.company_of(member).await?;
        let all = self.synced_seals(&process, &org_id).await?;
        let (seals, total, total_pages) = page.page(all);
        Ok(SealPage { seals: seals.into_iter().map(|(s, r)| managed(s, Some(r))).collect(), total, total_pages })
    }

    /// A page of the handler's own seals (a person's seals are not reviewed).
    pub async fn list_handler_seals(&self, member: &MemberNo, page: PageAsk) -> Result<SealPage, DomainError> {
        let (process, _) = self.company_of(member).await?;
        let account = process.esign_account_id.clone().ok_or_else(|| DomainError::FailedPrecondition {
            status: process.status(),
            message: "the handler has no e签宝 account".into(),
        })?;
        let all = self.esign.list_person_seals(&account).await?;
        let (seals, total, total_pages) = page.page(all);
        Ok(SealPage { seals: seals.into_iter().map(|s| managed(s, None)).collect(), total, total_pages })
    }

    /// The seal `seal_id` of `process`'s company, with its review: NOT_FOUND when e签宝 does not
    /// list it for the company.
    async fn company_seal(
        &self,
        process: Process,
        seal_id: &str,
    ) -> Result<(Process, AccountId, UpstreamSeal, SealRecord), DomainError> {
        let org_id = own_company(&process)?;
        let (seal, record) = self
            .synced_seals(&process, &org_id)
            .await?
            .into_iter()
            .find(|(s, _)| s.seal_id == seal_id)
            .ok_or_else(seal_not_found)?;
        Ok((process, org_id, seal, record))
    }

    /// Refuses an alias the company uses already, before anything is sent.
    async fn check_alias_free(&self, process: &Process, org_id: &AccountId, alias: &str) -> Result<(), DomainError> {
        let seals = self.synced_seals(process, org_id).await?;
        if seals.iter().any(|(s, _)| s.alias.as_deref() == Some(alias)) {
            return Err(DomainError::AlreadyExists(format!("the company has a seal named {alias} already")));
        }
        Ok(())
    }

    /// Creates a template seal of the company: UNSAVED. Under the member's lease, so that two
    /// creations with one alias make one seal.
    pub async fn create_template_seal(
        &self,
        member: &MemberNo,
        template: &SealTemplate,
        deadline: Option<Instant>,
    ) -> Result<ManagedSeal, DomainError> {
        self.with_member_lease(member, deadline, |process, _| async move {
            let org_id = own_company(&process)?;
            if template.htext.is_some() || template.qtext.is_some() {
                let name_chars = process.org.as_ref().map_or(0, |o| o.name.chars().count());
                if name_chars > SEAL_TEXT_MAX_NAME_CHARS {
                    return Err(DomainError::InvalidArgument(vec![FieldViolation::new(
                        "template.htext",
                        "is not allowed: the company's name is longer than 25 characters (leave htext and qtext empty)",
                    )]));
                }
            }
            self.check_alias_free(&process, &org_id, &template.alias).await?;
            let made = self.esign.create_template_seal(&org_id, template).await?;
            self.record_created(member, &org_id, made).await
        })
        .await
    }

    /// Creates a seal of the company from a checked PNG: UNSAVED.
    pub async fn create_image_seal(
        &self,
        cmd: &CreateImageSeal,
        deadline: Option<Instant>,
    ) -> Result<ManagedSeal, DomainError> {
        let member = &cmd.member_no;
        self.with_member_lease(member, deadline, |process, _| async move {
            let org_id = own_company(&process)?;
            self.check_alias_free(&process, &org_id, &cmd.seal.alias).await?;
            let made = self.esign.create_image_seal(&org_id, &cmd.seal).await?;
            self.record_created(member, &org_id, made).await
        })
        .await
    }

    async fn record_created(
        &self,
        member: &MemberNo,
        org_id: &AccountId,
        made: UpstreamSeal,
    ) -> Result<ManagedSeal, DomainError> {
        let now = self.now();
        let record = SealRecord::unsaved(made.seal_id.clone(), member.clone(), org_id.clone(), made.alias.clone(), now);
        self.store.insert_seal_records(std::slice::from_ref(&record)).await?;
        tracing::info!(member = %member, seal_id = %made.seal_id, "company seal created");
        let made = UpstreamSeal { created_at: made.created_at.or(Some(now)), ..made };
        Ok(managed(made, Some(record)))
    }

    /// Submits a seal for review: PENDING. A pending or reviewed seal is answered as it is.
    pub async fn save_company_seal(&self, member: &MemberNo, seal_id: &str) -> Result<ManagedSeal, DomainError> {
        let (_, _, seal, record) = self.company_seal(self.process(member).await?, seal_id).await?;
        if record.status != SealReviewStatus::Unsaved {
            return Ok(managed(seal, Some(record)));
        }
        let pending = SealRecord { status: SealReviewStatus::Pending, saved_at: Some(self.now()), ..record.clone() };
        if !self.store.update_seal_record(&pending, SealReviewStatus::Unsaved, None).await? {
            // Another call moved it first: answer what it made.
            let now = self.store.seal_record(seal_id).await?.ok_or_else(seal_not_found)?;
            return Ok(managed(seal, Some(now)));
        }
        tracing::info!(member = %member, seal_id, "company seal submitted for review");
        Ok(managed(seal, Some(pending)))
    }

    /// Makes an approved seal the company's default; the process's seal follows it.
    pub async fn set_default_company_seal(
        &self,
        member: &MemberNo,
        seal_id: &str,
        deadline: Option<Instant>,
    ) -> Result<ManagedSeal, DomainError> {
        self.with_member_lease(member, deadline, |process, _| async move {
            let (process, org_id, mut seal, record) = self.company_seal(process, seal_id).await?;
            if record.status != SealReviewStatus::Approved {
                return Err(DomainError::FailedPrecondition {
                    status: process.status(),
                    message: format!(
                        "only an approved seal may be the default; this one is {}",
                        record.status.as_str()
                    ),
                });
            }
            if !seal.default {
                self.esign.set_default_seal(&org_id, seal_id).await?;
                seal.default = true;
            }
            let kept = self.kept_default(seal.clone());
            self.retry_on_conflict(|| async {
                let mut process = self.process(member).await?;
                if process.seal.is_none() || process.seal.as_ref().map(|s| &s.seal_id) == Some(&kept.seal_id) {
                    return Ok(());
                }
                process.seal = Some(kept.clone());
                self.store.commit(ChangeSet { process: Some(process), ..Default::default() }).await?;
                Ok(())
            })
            .await?;
            tracing::info!(member = %member, seal_id, "company default seal set");
            Ok(managed(seal, Some(record)))
        })
        .await
    }

    fn kept_default(&self, s: UpstreamSeal) -> super::model::OrgSeal {
        let now = self.now();
        super::model::OrgSeal {
            url_expires_at: Some(now + chrono_dur(super::SEAL_URL_TTL)),
            created_at: Some(s.created_at.unwrap_or(now)),
            seal_id: s.seal_id,
            alias: s.alias,
            file_key: s.file_key,
            url: s.url,
        }
    }

    /// Deletes a seal of the company; never the default.
    pub async fn delete_company_seal(
        &self,
        member: &MemberNo,
        seal_id: &str,
        deadline: Option<Instant>,
    ) -> Result<(), DomainError> {
        self.with_member_lease(member, deadline, |process, _| async move {
            let (process, org_id, seal, _) = self.company_seal(process, seal_id).await?;
            let is_saved = process.seal.as_ref().is_some_and(|s| s.seal_id == seal_id);
            if seal.default || is_saved {
                return Err(DomainError::FailedPrecondition {
                    status: process.status(),
                    message: "the company's default seal cannot be deleted; make another the default first".into(),
                });
            }
            self.esign.delete_seal(&org_id, seal_id).await?;
            self.store.delete_seal_record(seal_id).await?;
            tracing::info!(member = %member, seal_id, "company seal deleted");
            Ok(())
        })
        .await
    }

    /// Refuses a caller who is not a reviewer.
    fn check_reviewer(&self, by: &Source) -> Result<String, DomainError> {
        match by {
            Source::Rpc { caller, .. } if self.settings.seal_reviewers.iter().any(|r| r == caller) => {
                Ok(caller.clone())
            }
            _ => Err(DomainError::PermissionDenied("only a seal reviewer (SEAL_REVIEWERS) may review seals".into())),
        }
    }

    /// A page of the seals waiting for review, oldest submission first.
    pub async fn seals_to_review(&self, page: PageAsk, by: &Source) -> Result<SealPage, DomainError> {
        self.check_reviewer(by)?;
        let (records, total) = self.store.seals_to_review(page.offset(), u64::from(page.size)).await?;
        let seals = records
            .into_iter()
            .map(|r| ManagedSeal {
                seal_id: r.seal_id.clone(),
                alias: r.alias.clone(),
                url: None,
                default: false,
                created_at: Some(r.created_at),
                record: Some(r),
            })
            .collect();
        Ok(SealPage { seals, total, total_pages: page.pages(total) })
    }

    /// Approves or rejects a pending seal, recorded in the member's history with the reviewer.
    pub async fn review_seal(
        &self,
        seal_id: &str,
        approve: bool,
        reason: Option<String>,
        by: &Source,
    ) -> Result<ManagedSeal, DomainError> {
        let reviewer = self.check_reviewer(by)?;
        let record = self.store.seal_record(seal_id).await?.ok_or_else(seal_not_found)?;
        let process = self.process(&record.member_no).await?;
        if record.status != SealReviewStatus::Pending {
            return Err(DomainError::FailedPrecondition {
                status: process.status(),
                message: format!("only a pending seal may be reviewed; this one is {}", record.status.as_str()),
            });
        }
        let now = self.now();
        let reviewed = SealRecord {
            status: if approve { SealReviewStatus::Approved } else { SealReviewStatus::Rejected },
            reject_reason: if approve { None } else { reason.clone() },
            reviewer: Some(reviewer),
            reviewed_at: Some(now),
            ..record
        };
        let review =
            SealReview { seal_id: seal_id.to_owned(), approved: approve, reason: reviewed.reject_reason.clone() };
        if !self
            .store
            .update_seal_record(&reviewed, SealReviewStatus::Pending, Some((process.status(), review, by.clone())))
            .await?
        {
            return Err(DomainError::FailedPrecondition {
                status: process.status(),
                message: "the seal was reviewed by another call".into(),
            });
        }
        tracing::info!(member = %reviewed.member_no, seal_id, approve, "company seal reviewed");
        Ok(ManagedSeal {
            seal_id: reviewed.seal_id.clone(),
            alias: reviewed.alias.clone(),
            url: None,
            default: false,
            created_at: Some(reviewed.created_at),
            record: Some(reviewed),
        })
    }
}
