//! e签宝's wire format for the company's seals (esign.md §8): a template seal, the list, set-default.
use serde::{Deserialize, Serialize};

/// `POST /v1/organizations/{orgId}/seals/officialtemplate`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TemplateSealBody {
    pub alias: String,
    /// `RED`, `BLUE`, `BLACK`.
    pub color: String,
    /// `TEMPLATE_ROUND`, `TEMPLATE_OVAL`.
    #[serde(rename = "type")]
    pub seal_type: String,
    /// `STAR`, `NONE`.
    pub central: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub htext: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qtext: Option<String>,
    #[serde(default = "default_size")]
    pub height: i64,
    #[serde(default = "default_size")]
    pub width: i64,
}

/// `POST /v1/organizations/{orgId}/seals/image`: a PNG in base64 without a `data:` prefix.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageSealBody {
    pub alias: String,
    /// `BASE64`.
    #[serde(rename = "type")]
    pub data_type: String,
    pub data: String,
    #[serde(default)]
    pub transparent_flag: bool,
    #[serde(default = "default_size")]
    pub height: i64,
    #[serde(default = "default_size")]
    pub width: i64,
}

/// The picture is not printed.
impl std::fmt::Debug for ImageSealBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ImageSealBody({:?}, {} base64 chars)", self.alias, self.data.len())
    }
}

/// esign.md §8: 159 px when not given.
pub fn default_size() -> i64 {
    159
}

/// What a seal creation answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SealCreatedData {
    pub seal_id: String,
    #[serde(default)]
    pub file_key: Option<String>,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub width: Option<i64>,
    #[serde(default)]
    pub height: Option<i64>,
}

/// One seal of `GET /v1/organizations/{orgId}/seals`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SealData {
    pub seal_id: String,
    #[serde(default)]
    pub alias: Option<String>,
    /// Milliseconds.
    #[serde(default)]
    pub create_date: Option<i64>,
    #[serde(default)]
    pub default_flag: bool,
    #[serde(default)]
    pub file_key: Option<String>,
    #[serde(default)]
    pub width: Option<i64>,
    #[serde(default)]
    pub height: Option<i64>,
    #[serde(default)]
    pub seal_type: Option<i64>,
    /// Valid one hour from the answer.
    #[serde(default)]
    pub url: Option<String>,
}

/// `GET /v1/organizations/{orgId}/seals?offset=…&size=…`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SealListData {
    #[serde(default)]
    pub total: i64,
    #[serde(default)]
    pub seals: Vec<SealData>,
}
