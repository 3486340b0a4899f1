//! The company seal of node SAVE_ORG_SEAL (esign.md §8): the template a member may choose, and the
//! default seal the process keeps. e签宝's seal URL lives one hour: the seal id and file key are what
//! is kept for good; the URL is a cached copy with its expiry.
use chrono::{DateTime, Utc};

use super::process::{IllegalTransition, Process, ProcessStatus};

/// `color` of a template seal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SealColor {
    #[default]
    Red,
    Blue,
    Black,
}

/// `type` of a template seal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SealType {
    #[default]
    TemplateRound,
    TemplateOval,
}

/// `central` of a template seal: a star in the middle, or nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SealCentral {
    #[default]
    Star,
    None,
}

/// The longest company name for which e签宝 accepts `htext`/`qtext` (esign.md §8).
pub const SEAL_TEXT_MAX_NAME_CHARS: usize = 25;
/// `htext` (horizontal text) and `qtext` (bottom text) limits, in characters.
pub const SEAL_HTEXT_MAX_CHARS: usize = 8;
pub const SEAL_QTEXT_MAX_CHARS: usize = 20;
/// Width and height when not given, in pixels.
pub const SEAL_DEFAULT_SIZE: u32 = 159;

/// A template seal the member chose, already validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealTemplate {
    /// Unique per company at e签宝.
    pub alias: String,
    pub color: SealColor,
    pub seal_type: SealType,
    pub central: SealCentral,
    pub htext: Option<String>,
    pub qtext: Option<String>,
    pub width: u32,
    pub height: u32,
}

/// A seal as e签宝 answers it (a creation, or one entry of the list).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamSeal {
    pub seal_id: String,
    pub alias: Option<String>,
    pub file_key: Option<String>,
    /// Valid one hour from the answer.
    pub url: Option<String>,
    pub created_at: Option<DateTime<Utc>>,
    pub default: bool,
}

/// 印章信息: the company's default seal as the process keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgSeal {
    pub seal_id: String,
    pub alias: Option<String>,
    pub file_key: Option<String>,
    pub url: Option<String>,
    /// When `url` stops working (one hour after e签宝 answered it, with or without a URL: then is
    /// when to ask again).
    pub url_expires_at: Option<DateTime<Utc>>,
    pub created_at: Option<DateTime<Utc>>,
}

impl OrgSeal {
    /// Whether e签宝 should be asked for the URL again at `at`: the last answer is an hour old.
    pub fn url_due_at(&self, at: DateTime<Utc>) -> bool {
        self.url_expires_at.is_none_or(|exp| exp <= at)
    }

    /// The seal's URL while it still works at `at`.
    pub fn url_valid_at(&self, at: DateTime<Utc>) -> Option<&str> {
        match (&self.url, self.url_expires_at) {
            (Some(url), Some(exp)) if exp > at => Some(url),
            _ => None,
        }
    }
}

/// The moves of node SAVE_ORG_SEAL; like every move, they go through `Process::go` (`process.rs`),
/// which names the statuses each may start from.
impl Process {
    /// Checks, without moving, that the company seal may be saved now.
    pub fn check_may_save_seal(&self) -> Result<(), IllegalTransition> {
        if self.status().may_save_seal() { Ok(()) } else { Err(IllegalTransition { current: self.status() }) }
    }

    /// The seal is being saved at e签宝: ORG_SEAL_UNSAVE (already there: no move).
    pub fn seal_started(&mut self, now: DateTime<Utc>) -> Result<(), IllegalTransition> {
        if self.status() == ProcessStatus::OrgSealUnsave {
            return Ok(());
        }
        self.go(self.status().may_save_seal(), ProcessStatus::OrgSealUnsave, now)?;
        self.fail_reason = None;
        Ok(())
    }

    /// The seal is saved and is the company's default.
    pub fn seal_saved(&mut self, seal: OrgSeal, now: DateTime<Utc>) -> Result<(), IllegalTransition> {
        self.go(self.status() == ProcessStatus::OrgSealUnsave, ProcessStatus::OrgSealSaved, now)?;
        self.seal = Some(seal);
        self.fail_reason = None;
        Ok(())
    }

    /// e签宝 refused the seal; the member may save one again.
    pub fn seal_failed(&mut self, reason: Option<String>, now: DateTime<Utc>) -> Result<(), IllegalTransition> {
        self.go(self.status() == ProcessStatus::OrgSealUnsave, ProcessStatus::OrgSealSaveFailed, now)?;
        self.fail_reason = reason;
        Ok(())
    }

    /// A fresher copy of the seal's URL (they expire after an hour).
    pub fn set_seal_url(&mut self, url: Option<String>, expires_at: DateTime<Utc>) {
        if let Some(seal) = &mut self.seal {
            seal.url = url;
            seal.url_expires_at = Some(expires_at);
        }
    }
}
