//! The company's seal calls (esign.md §8) on the one client: create a template seal, list the
//! seals, set the default. The trait methods in `client.rs` hand over to these.
use reqwest::Method;

use super::super::answer::{instant, non_empty};
use super::super::api::{CODE_OK, Endpoint, SealCreatedData, SealData, SealListData, TemplateSealBody, paths};
use super::{EsignClient, serialize};
use crate::domain::model::{SealCentral, SealColor, SealTemplate, SealType, UpstreamSeal};
use crate::domain::ports::UpstreamError;
use crate::domain::values::AccountId;

/// Seals read per page; a company with more than this many seals is read page by page.
const PAGE: u32 = 50;
/// No company has more seals than this; a list that claims more is read no further.
const MAX_PAGES: u32 = 20;

pub fn color_str(c: SealColor) -> &'static str {
    match c {
        SealColor::Red => "RED",
        SealColor::Blue => "BLUE",
        SealColor::Black => "BLACK",
    }
}

pub fn type_str(t: SealType) -> &'static str {
    match t {
        SealType::TemplateRound => "TEMPLATE_ROUND",
        SealType::TemplateOval => "TEMPLATE_OVAL",
    }
}

pub fn central_str(c: SealCentral) -> &'static str {
    match c {
        SealCentral::Star => "STAR",
        SealCentral::None => "NONE",
    }
}

fn seal_of(d: SealData) -> Result<UpstreamSeal, UpstreamError> {
    Ok(UpstreamSeal {
        seal_id: d.seal_id,
        alias: non_empty(d.alias),
        file_key: non_empty(d.file_key),
        url: non_empty(d.url),
        created_at: instant("createDate", d.create_date)?,
        default: d.default_flag,
    })
}

impl EsignClient {
    pub(super) async fn template_seal(
        &self,
        org_id: &AccountId,
        t: &SealTemplate,
    ) -> Result<UpstreamSeal, UpstreamError> {
        const ENDPOINT: &str = Endpoint::SealTemplate.as_str();
        let body = TemplateSealBody {
            alias: t.alias.clone(),
            color: color_str(t.color).to_owned(),
            seal_type: type_str(t.seal_type).to_owned(),
            central: central_str(t.central).to_owned(),
            htext: t.htext.clone(),
            qtext: t.qtext.clone(),
            height: i64::from(t.height),
            width: i64::from(t.width),
        };
        let bytes = serialize(ENDPOINT, &body)?;
        let path = paths::seal_template(org_id.as_str());
        self.exchange(ENDPOINT, Method::POST, &path, Some(bytes), |answer| {
            if answer.code != CODE_OK {
                return Err(answer.refused());
            }
            let d: SealCreatedData = answer.data(ENDPOINT)?;
            if d.seal_id.is_empty() {
                return Err(UpstreamError::Malformed(format!("{ENDPOINT}: sealId is empty")));
            }
            Ok(UpstreamSeal {
                seal_id: d.seal_id,
                alias: Some(t.alias.clone()),
                file_key: non_empty(d.file_key),
                url: non_empty(d.url),
                created_at: None,
                default: false,
            })
        })
        .await
    }

    pub(super) async fn org_seals(&self, org_id: &AccountId) -> Result<Vec<UpstreamSeal>, UpstreamError> {
        const ENDPOINT: &str = Endpoint::SealList.as_str();
        let mut seals = Vec::new();
        for page in 0..MAX_PAGES {
            let path = paths::seals(org_id.as_str(), page * PAGE, PAGE);
            let data = self
                .read(ENDPOINT, &path, |answer| {
                    if answer.code != CODE_OK {
                        return Err(answer.refused());
                    }
                    answer.data::<SealListData>(ENDPOINT)
                })
                .await?;
            let got = data.seals.len();
            for d in data.seals {
                seals.push(seal_of(d)?);
            }
            if got < PAGE as usize || seals.len() as i64 >= data.total {
                break;
            }
        }
        Ok(seals)
    }

    pub(super) async fn default_seal(&self, org_id: &AccountId, seal_id: &str) -> Result<(), UpstreamError> {
        const ENDPOINT: &str = Endpoint::SealDefault.as_str();
        let path = paths::seal_default(org_id.as_str(), seal_id);
        self.exchange(ENDPOINT, Method::PUT, &path, Some(b"{}".to_vec()), |answer| {
            if answer.code != CODE_OK {
                return Err(answer.refused());
            }
            Ok(())
        })
        .await
    }
}
