//! The company's seals (esign.md §8), as e签宝 keeps them: a default template seal made with the
//! company account, template seals with aliases unique per company, one default at a time (the
//! default cannot be deleted: 60000), and URLs that live one hour from each answer.
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;
use serde::{Deserialize, Serialize};

use super::Shared;
use super::faults::Endpoint;
use super::upstream::{bad_param, ok, refuse};
use crate::esign::api::{ImageSealBody, SealCreatedData, SealData, SealListData, TemplateSealBody};
use crate::esign::codes::{SEAL_ALIAS_EXISTS, SEAL_DEFAULT_UNDELETABLE, SEAL_NOT_FOUND, SEAL_TEXT_NOT_ALLOWED};

type Sim = State<Arc<Shared>>;

/// A seal's URL lives one hour from the answer that gave it.
pub const SEAL_URL_LIFE_MS: i64 = 60 * 60 * 1000;
/// The alias of the seal e签宝 makes with the company account.
pub const DEFAULT_ALIAS: &str = "默认印章";

/// One seal of a company.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SimSeal {
    pub seal_id: String,
    pub org_id: String,
    pub alias: String,
    pub file_key: String,
    pub color: String,
    pub seal_type: String,
    pub central: String,
    pub htext: Option<String>,
    pub qtext: Option<String>,
    pub width: i64,
    pub height: i64,
    pub create_time: i64,
    pub default_flag: bool,
}

impl SimSeal {
    /// The seal e签宝 makes by itself when the company account is created: the default one.
    pub fn company_default(org_id: &str, now: i64) -> Self {
        let seal_id = uuid::Uuid::new_v4().to_string();
        Self {
            file_key: format!("$seal-{seal_id}$"),
            seal_id,
            org_id: org_id.to_owned(),
            alias: DEFAULT_ALIAS.to_owned(),
            color: "RED".into(),
            seal_type: "TEMPLATE_ROUND".into(),
            central: "STAR".into(),
            htext: None,
            qtext: None,
            width: 159,
            height: 159,
            create_time: now,
            default_flag: true,
        }
    }
}

impl Shared {
    /// A seal's picture URL, valid one hour from now.
    pub(crate) fn seal_url(&self, seal_id: &str) -> String {
        let expires = Self::now_ms() + SEAL_URL_LIFE_MS;
        format!("{}/sim/seals/{seal_id}.png?expires={expires}", self.base_url)
    }
}

fn org_name(sim: &Shared, org_id: &str) -> Option<String> {
    sim.lock().orgs.values().find(|o| o.org_id == org_id).map(|o| o.name.clone())
}

const COLORS: [&str; 3] = ["RED", "BLUE", "BLACK"];
const TYPES: [&str; 2] = ["TEMPLATE_ROUND", "TEMPLATE_OVAL"];
const CENTRALS: [&str; 2] = ["STAR", "NONE"];

pub(crate) async fn create_template(
    State(sim): Sim,
    Path(org_id): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let req = match sim.accept::<TemplateSealBody>(Endpoint::SealTemplate, &method, &uri, &headers, &body).await {
        Ok(req) => req,
        Err(answer) => return answer,
    };
    let chars = |s: &Option<String>| s.as_deref().map_or(0, |s| s.chars().count());
    if req.alias.trim().is_empty() || req.alias.chars().count() > 32 {
        return bad_param("alias");
    }
    if !COLORS.contains(&req.color.as_str()) {
        return bad_param("color");
    }
    if !TYPES.contains(&req.seal_type.as_str()) {
        return bad_param("type");
    }
    if !CENTRALS.contains(&req.central.as_str()) {
        return bad_param("central");
    }
    if chars(&req.htext) > 8 || chars(&req.qtext) > 20 {
        return bad_param("htext/qtext");
    }
    if !(1..=1000).contains(&req.width) || !(1..=1000).contains(&req.height) {
        return bad_param("width/height");
    }
    let Some(name) = org_name(&sim, &org_id) else {
        return refuse(super::codes::ACCOUNT_NOT_FOUND, "机构账号不存在");
    };
    if (chars(&req.htext) > 0 || chars(&req.qtext) > 0) && name.chars().count() > 25 {
        return refuse(SEAL_TEXT_NOT_ALLOWED, "企业名称超过25个字，不支持横向文和下弦文");
    }
    let seal = {
        let mut st = sim.lock();
        let seals = st.seals.entry(org_id.clone()).or_default();
        if seals.iter().any(|s| s.alias == req.alias) {
            return refuse(SEAL_ALIAS_EXISTS, "印章别名已存在");
        }
        let seal_id = uuid::Uuid::new_v4().to_string();
        let seal = SimSeal {
            file_key: format!("$seal-{seal_id}$"),
            seal_id,
            org_id: org_id.clone(),
            alias: req.alias,
            color: req.color,
            seal_type: req.seal_type,
            central: req.central,
            htext: req.htext.filter(|t| !t.is_empty()),
            qtext: req.qtext.filter(|t| !t.is_empty()),
            width: req.width,
            height: req.height,
            create_time: Shared::now_ms(),
            default_flag: false,
        };
        seals.push(seal.clone());
        seal
    };
    tracing::info!(org_id, seal_id = seal.seal_id, "simulator: template seal created");
    created(&sim, seal)
}

/// e签宝's answer to a created seal (template or image), with its 1-hour URL.
fn created(sim: &Shared, seal: SimSeal) -> Response {
    ok(SealCreatedData {
        url: Some(sim.seal_url(&seal.seal_id)),
        seal_id: seal.seal_id,
        file_key: Some(seal.file_key),
        width: Some(seal.width),
        height: Some(seal.height),
    })
}

#[derive(Deserialize)]
pub(crate) struct Page {
    offset: Option<i64>,
    size: Option<i64>,
}

impl Page {
    /// (offset, size) with e签宝's defaults; `None` when out of range (its parameter error).
    fn checked(&self) -> Option<(i64, i64)> {
        let (offset, size) = (self.offset.unwrap_or(0), self.size.unwrap_or(20));
        (offset >= 0 && (1..=100).contains(&size)).then_some((offset, size))
    }
}

pub(crate) async fn list(
    State(sim): Sim,
    Path(org_id): Path<String>,
    Query(page): Query<Page>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = sim.gate(Endpoint::SealList, &method, &uri, &headers, &body).await {
        return r;
    }
    let Some((offset, size)) = page.checked() else { return bad_param("offset/size") };
    if org_name(&sim, &org_id).is_none() {
        return refuse(super::codes::ACCOUNT_NOT_FOUND, "机构账号不存在");
    }
    let all = sim.lock().seals.get(&org_id).cloned().unwrap_or_default();
    let total = all.len() as i64;
    let seals = all
        .into_iter()
        .skip(offset as usize)
        .take(size as usize)
        .map(|s| SealData {
            url: Some(sim.seal_url(&s.seal_id)),
            seal_id: s.seal_id,
            alias: Some(s.alias),
            create_date: Some(s.create_time),
            default_flag: s.default_flag,
            file_key: Some(s.file_key),
            width: Some(s.width),
            height: Some(s.height),
            seal_type: Some(1),
        })
        .collect();
    ok(SealListData { total, seals })
}

pub(crate) async fn set_default(
    State(sim): Sim,
    Path((org_id, seal_id)): Path<(String, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = sim.gate(Endpoint::SealDefault, &method, &uri, &headers, &body).await {
        return r;
    }
    let mut st = sim.lock();
    let Some(seals) = st.seals.get_mut(&org_id).filter(|s| s.iter().any(|s| s.seal_id == seal_id)) else {
        return refuse(SEAL_NOT_FOUND, "印章不存在");
    };
    for s in seals.iter_mut() {
        s.default_flag = s.seal_id == seal_id;
    }
    ok(serde_json::Value::Null)
}

pub(crate) async fn delete(
    State(sim): Sim,
    Path((org_id, seal_id)): Path<(String, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = sim.gate(Endpoint::SealDelete, &method, &uri, &headers, &body).await {
        return r;
    }
    let mut st = sim.lock();
    let Some(seals) = st.seals.get_mut(&org_id) else {
        return refuse(SEAL_NOT_FOUND, "印章不存在");
    };
    match seals.iter().position(|s| s.seal_id == seal_id) {
        None => refuse(SEAL_NOT_FOUND, "印章不存在"),
        Some(i) if seals[i].default_flag => refuse(SEAL_DEFAULT_UNDELETABLE, "默认印章不能删除"),
        Some(i) => {
            seals.remove(i);
            ok(serde_json::Value::Null)
        }
    }
}

/// The largest picture e签宝 takes for an image seal.
const IMAGE_MAX_BYTES: usize = 1024 * 1024;

/// `POST /v1/organizations/{orgId}/seals/image`: a PNG (checked by its content), unique alias.
pub(crate) async fn create_image(
    State(sim): Sim,
    Path(org_id): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let req = match sim.accept::<ImageSealBody>(Endpoint::SealImage, &method, &uri, &headers, &body).await {
        Ok(req) => req,
        Err(answer) => return answer,
    };
    if req.alias.trim().is_empty() || req.alias.chars().count() > 32 {
        return bad_param("alias");
    }
    if req.data_type != "BASE64" {
        return bad_param("type");
    }
    use base64::Engine;
    let Ok(png) = base64::engine::general_purpose::STANDARD.decode(req.data.as_bytes()) else {
        return bad_param("data");
    };
    if png.len() > IMAGE_MAX_BYTES || image::guess_format(&png).ok() != Some(image::ImageFormat::Png) {
        return bad_param("data");
    }
    if !(1..=1000).contains(&req.width) || !(1..=1000).contains(&req.height) {
        return bad_param("width/height");
    }
    if org_name(&sim, &org_id).is_none() {
        return refuse(super::codes::ACCOUNT_NOT_FOUND, "机构账号不存在");
    }
    let seal = {
        let mut st = sim.lock();
        let seals = st.seals.entry(org_id.clone()).or_default();
        if seals.iter().any(|s| s.alias == req.alias) {
            return refuse(SEAL_ALIAS_EXISTS, "印章别名已存在");
        }
        let seal_id = uuid::Uuid::new_v4().to_string();
        let seal = SimSeal {
            file_key: format!("$seal-{seal_id}$"),
            seal_id,
            org_id: org_id.clone(),
            alias: req.alias,
            color: String::new(),
            seal_type: "IMAGE".into(),
            central: String::new(),
            htext: None,
            qtext: None,
            width: req.width,
            height: req.height,
            create_time: Shared::now_ms(),
            default_flag: false,
        };
        seals.push(seal.clone());
        seal
    };
    tracing::info!(org_id, seal_id = seal.seal_id, "simulator: image seal created");
    created(&sim, seal)
}

/// `GET /v1/accounts/{accountId}/seals`: a person's seals. The simulator's people have one, their
/// default signature seal, made with the account.
pub(crate) async fn list_person(
    State(sim): Sim,
    Path(account_id): Path<String>,
    Query(page): Query<Page>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = sim.gate(Endpoint::PersonSeals, &method, &uri, &headers, &body).await {
        return r;
    }
    let Some((offset, size)) = page.checked() else { return bad_param("offset/size") };
    // A stable id per account, so that two lists answer the same seal.
    let seal_id = format!("psn-{account_id}");
    let all = vec![SealData {
        url: Some(sim.seal_url(&seal_id)),
        file_key: Some(format!("$seal-{seal_id}$")),
        seal_id,
        alias: Some("个人签名".into()),
        create_date: Some(1_700_000_000_000),
        default_flag: true,
        width: Some(95),
        height: Some(95),
        seal_type: Some(1),
    }];
    let total = all.len() as i64;
    let seals = all.into_iter().skip(offset as usize).take(size as usize).collect();
    ok(SealListData { total, seals })
}
