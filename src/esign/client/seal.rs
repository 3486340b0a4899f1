//! The company's seal calls (esign.md §8) on the one client: create a template seal, list the
//! seals, set the default. The trait methods in `client.rs` hand over to these.
use reqwest::Method;

use super::super::answer::{Answer, instant, non_empty};
use base64::Engine;

use super::super::api::{
    CODE_OK, Endpoint, ImageSealBody, SealCreatedData, SealData, SealListData, TemplateSealBody, paths,
};
use super::{EsignClient, serialize};
use crate::domain::model::{SealCentral, SealColor, SealTemplate, SealType, UpstreamSeal};
use crate::domain::ports::{ImageSealRequest, UpstreamError};
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

/// A seal e签宝 created (template or image), not yet the default.
fn created(endpoint: &str, alias: &str, answer: Answer) -> Result<UpstreamSeal, UpstreamError> {
    if answer.code != CODE_OK {
        return Err(answer.refused());
    }
    let d: SealCreatedData = answer.data(endpoint)?;
    if d.seal_id.is_empty() {
        return Err(UpstreamError::Malformed(format!("{endpoint}: sealId is empty")));
    }
    Ok(UpstreamSeal {
        seal_id: d.seal_id,
        alias: Some(alias.to_owned()),
        file_key: non_empty(d.file_key),
        url: non_empty(d.url),
        created_at: None,
        default: false,
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
        self.exchange(ENDPOINT, Method::POST, &path, Some(bytes), |answer| created(ENDPOINT, &t.alias, answer)).await
    }

    pub(super) async fn org_seals(&self, org_id: &AccountId) -> Result<Vec<UpstreamSeal>, UpstreamError> {
        self.all_seals(Endpoint::SealList.as_str(), |offset, size| paths::seals(org_id.as_str(), offset, size)).await
    }

    pub(super) async fn person_seals(&self, account_id: &AccountId) -> Result<Vec<UpstreamSeal>, UpstreamError> {
        self.all_seals(Endpoint::PersonSeals.as_str(), |offset, size| {
            paths::person_seals(account_id.as_str(), offset, size)
        })
        .await
    }

    /// Every seal of a paged list, page by page.
    async fn all_seals(
        &self,
        endpoint: &'static str,
        path_of: impl Fn(u32, u32) -> String,
    ) -> Result<Vec<UpstreamSeal>, UpstreamError> {
        let mut seals = Vec::new();
        for page in 0..MAX_PAGES {
            let path = path_of(page * PAGE, PAGE);
            let data = self
                .read(endpoint, &path, |answer| {
                    if answer.code != CODE_OK {
                        return Err(answer.refused());
                    }
                    answer.data::<SealListData>(endpoint)
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

    pub(super) async fn image_seal(
        &self,
        org_id: &AccountId,
        seal: &ImageSealRequest,
    ) -> Result<UpstreamSeal, UpstreamError> {
        const ENDPOINT: &str = Endpoint::SealImage.as_str();
        let body = ImageSealBody {
            alias: seal.alias.clone(),
            data_type: "BASE64".into(),
            data: base64::engine::general_purpose::STANDARD.encode(&seal.png),
            transparent_flag: seal.transparent,
            height: i64::from(seal.height),
            width: i64::from(seal.width),
        };
        let bytes = serialize(ENDPOINT, &body)?;
        let path = paths::seal_image(org_id.as_str());
        self.exchange(ENDPOINT, Method::POST, &path, Some(bytes), |answer| created(ENDPOINT, &seal.alias, answer)).await
    }

    pub(super) async fn remove_seal(&self, org_id: &AccountId, seal_id: &str) -> Result<(), UpstreamError> {
        const ENDPOINT: &str = Endpoint::SealDelete.as_str();
        let path = paths::seal(org_id.as_str(), seal_id);
        self.exchange(ENDPOINT, Method::DELETE, &path, None, |answer| {
            if answer.code != CODE_OK {
                return Err(answer.refused());
            }
            Ok(())
        })
        .await
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

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;
    use crate::domain::ports::{ESign, OrgAccountRequest};
    use crate::domain::values::{AccountKey, MemberNo, OrgIdNumber, OrgIdType, OrgName, PersonName, ResidentId};
    use crate::esign::codes::{SEAL_ALIAS_EXISTS, SEAL_DEFAULT_UNDELETABLE};
    use crate::esign::sign::{ACCEPT, CONTENT_TYPE, content_md5, signature, string_to_sign};
    use crate::sim::testing::{SECRET, account_request, client, start_sim};

    fn template(alias: &str) -> SealTemplate {
        SealTemplate {
            alias: alias.into(),
            color: SealColor::Blue,
            seal_type: SealType::TemplateOval,
            central: SealCentral::None,
            htext: Some("合同专用章".into()),
            qtext: None,
            width: 159,
            height: 159,
        }
    }

    /// `DELETE /v1/organizations/{orgId}/seals/{sealId}`, signed as e签宝 wants (the service never
    /// deletes a seal; the simulator still keeps e签宝's rule).
    async fn delete(base: &str, org_id: &str, seal_id: &str) -> serde_json::Value {
        let path = paths::seal(org_id, seal_id);
        let md5 = content_md5(b"");
        let sts = string_to_sign("DELETE", ACCEPT, &md5, CONTENT_TYPE, &path);
        reqwest::Client::new()
            .delete(format!("{base}{path}"))
            .header("X-Tsign-Open-App-Id", crate::config::DEV_APP_ID)
            .header("X-Tsign-Open-Auth-Mode", "Signature")
            .header("X-Tsign-Open-Ca-Timestamp", Utc::now().timestamp_millis().to_string())
            .header("X-Tsign-Open-Ca-Signature", signature(SECRET.as_bytes(), &sts))
            .header("Accept", ACCEPT)
            .header("Content-Type", CONTENT_TYPE)
            .header("Content-MD5", md5)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    fn code_of(e: UpstreamError) -> i64 {
        match e {
            UpstreamError::Refused { code, .. } => code,
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn a_company_has_e_signs_default_seal_unique_aliases_one_hour_urls_and_an_undeletable_default() {
        let sim = start_sim().await;
        let c = client(&sim);
        let creator = c.create_person_account(&account_request("ETC1")).await.unwrap();
        let org = c
            .create_org_account(&OrgAccountRequest {
                third_party_user_id: AccountKey::new(MemberNo::parse("ETC1").unwrap(), 0),
                creator,
                name: OrgName::parse("name", "房友科技有限公司").unwrap(),
                id_number: OrgIdNumber::parse("id_number", OrgIdType::Uscc, "91350100M000100Y43").unwrap(),
                legal_name: PersonName::parse("n", "张三").unwrap(),
                legal_id_number: ResidentId::parse("i", "11010519491231002X").unwrap(),
            })
            .await
            .unwrap();
        let seals = c.list_org_seals(&org.org_id).await.unwrap();
        assert_eq!(seals.len(), 1, "e签宝 makes the default seal with the account");
        let first = seals[0].clone();
        assert!(first.default && first.alias.as_deref() == Some("默认印章") && first.created_at.is_some());
        let url = first.url.clone().unwrap();
        let expires: i64 = url.rsplit("expires=").next().unwrap().parse().unwrap();
        let hour = expires - Utc::now().timestamp_millis();
        assert!((3_590_000..=3_600_000).contains(&hour), "the URL lives one hour: {url}");

        let made = c.create_template_seal(&org.org_id, &template("合同章")).await.unwrap();
        assert!(!made.default && made.url.as_deref().is_some_and(|u| u.contains(&made.seal_id)));
        let again = c.create_template_seal(&org.org_id, &template("合同章")).await.unwrap_err();
        assert_eq!(code_of(again), SEAL_ALIAS_EXISTS, "aliases are unique per company");
        c.set_default_seal(&org.org_id, &made.seal_id).await.unwrap();
        let seals = c.list_org_seals(&org.org_id).await.unwrap();
        let defaults: Vec<_> = seals.iter().filter(|s| s.default).map(|s| s.seal_id.clone()).collect();
        assert_eq!(defaults, vec![made.seal_id.clone()], "one default at a time");
        assert_eq!(sim.seals(org.org_id.as_str())[1].color, "BLUE");

        let refused = delete(sim.base_url(), org.org_id.as_str(), &made.seal_id).await;
        assert_eq!(refused["code"].as_i64(), Some(SEAL_DEFAULT_UNDELETABLE), "{refused}");
        let deleted = delete(sim.base_url(), org.org_id.as_str(), &first.seal_id).await;
        assert_eq!(deleted["code"].as_i64(), Some(0), "{deleted}");
        assert_eq!(c.list_org_seals(&org.org_id).await.unwrap().len(), 1);
        let calls = sim.calls();
        assert_eq!((calls.seal_template, calls.seal_default, calls.seal_delete, calls.rejected), (2, 1, 2, 0));
    }
}
