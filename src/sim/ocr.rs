//! The simulator's OCR (esign.md §9): checks each request as the gateway does, then reads a picture
//! deterministically: what a test registered for the picture's SHA-256 (`SimHandle::set_ocr` or
//! `POST /sim/control/ocr/{sha256}`), else a default reading that matches the dev walk's handler and
//! company. A registration can also refuse with e签宝's codes (30503127, 30503129).
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::{Engine as _, engine::general_purpose::STANDARD as B64};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::upstream::check_request;
use super::{Shared, codes};
use crate::domain::values::{MAX_IMAGE_BYTES, PictureFormat};
use crate::esign::api::{Envelope, IdCardOcrBody, IdCardOcrData, LicenseOcrBody, LicenseOcrData};

/// Two pictures of up to 3 MiB in base64, and the JSON around them.
pub const BODY_LIMIT: usize = 9 * 1024 * 1024;

/// What the simulator reads on one picture.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SimOcr {
    /// An identity card (registered for its portrait side).
    IdCard { name: String, id_no: String, validity_period: String },
    /// A business licence.
    Licence { name: String, cert_no: String, address: String, valid_term: String },
    /// A refusal with this code (30503127: recognition failed; 30503129: portrait not recognised).
    Refuse { code: i64 },
}

/// The dev walk's handler (the README's StartFaceAuth) and company.
pub const DEFAULT_ID_NO: &str = "11010519491231002X";
pub const DEFAULT_CREDIT_CODE: &str = "91350100M000100Y43";

fn default_card() -> SimOcr {
    SimOcr::IdCard {
        name: "张三".into(), id_no: DEFAULT_ID_NO.into(), validity_period: "2019.01.01-2039.01.01".into()
    }
}

fn default_licence() -> SimOcr {
    SimOcr::Licence {
        name: "上海安居房产经纪有限公司".into(),
        cert_no: DEFAULT_CREDIT_CODE.into(),
        address: "上海市浦东新区世纪大道100号".into(),
        valid_term: "2015年01月05日至长期".into(),
    }
}

/// The key a picture is registered under: its SHA-256 in lower-case hex.
pub fn picture_key(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn refuse(code: i64, message: &str) -> Response {
    (StatusCode::OK, Json(Envelope::<()>::refused(code, message))).into_response()
}

/// A picture as e签宝 takes it: base64 without a `data:` prefix, JPEG/PNG/BMP, under 3 MB; else
/// the refusal naming `field`.
fn picture(field: &'static str, b64: &str) -> Result<Vec<u8>, &'static str> {
    if b64.starts_with("data:") {
        return Err(field);
    }
    let bytes = B64.decode(b64).map_err(|_| field)?;
    if bytes.len() > MAX_IMAGE_BYTES || PictureFormat::sniff(&bytes).is_none() {
        return Err(field);
    }
    Ok(bytes)
}

fn bad_picture(field: &str) -> Response {
    refuse(codes::BAD_PARAM, &format!("参数错误: {field}"))
}

fn gateway_refusal(which: &str) -> Response {
    (StatusCode::UNAUTHORIZED, Json(Envelope::<()>::refused(401, which))).into_response()
}

impl Shared {
    /// The gateway's checks (the OCR endpoints have no fault rules of their own).
    fn ocr_gate(&self, method: &Method, uri: &Uri, headers: &HeaderMap, body: &[u8]) -> Result<(), &'static str> {
        check_request(&self.app_id, self.secret.expose_secret().as_bytes(), method, uri, headers, body, Self::now_ms())
            .inspect_err(|_| self.lock().calls.rejected += 1)
    }

    fn reading(&self, bytes: &[u8], default: fn() -> SimOcr) -> SimOcr {
        self.lock().ocr.get(&picture_key(bytes)).cloned().unwrap_or_else(default)
    }

    pub(crate) fn set_ocr(&self, key: String, reading: SimOcr) {
        self.lock().ocr.insert(key, reading);
    }
}

pub(crate) async fn id_card(
    State(sim): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(which) = sim.ocr_gate(&method, &uri, &headers, &body) {
        return gateway_refusal(which);
    }
    let Ok(req) = serde_json::from_slice::<IdCardOcrBody>(&body) else {
        return refuse(codes::BAD_PARAM, "参数错误: body");
    };
    let (info, _emblem) = match (picture("infoImg", &req.info_img), picture("emblemImg", &req.emblem_img)) {
        (Ok(i), Ok(e)) => (i, e),
        (Err(field), _) | (_, Err(field)) => return bad_picture(field),
    };
    match sim.reading(&info, default_card) {
        SimOcr::IdCard { name, id_no, validity_period } => {
            let verify_id = uuid::Uuid::new_v4().simple().to_string();
            tracing::info!(verify_id, "simulator: identity card read");
            let data = IdCardOcrData {
                verify_id,
                name,
                id_no,
                validity_period,
                issued_by: "北京市公安局西城分局".into(),
                ..Default::default()
            };
            (StatusCode::OK, Json(Envelope::ok(data))).into_response()
        }
        SimOcr::Refuse { code } => refuse(code, "证件识别失败"),
        SimOcr::Licence { .. } => refuse(crate::esign::codes::OCR_PORTRAIT_NOT_RECOGNISED, "人像面识别失败"),
    }
}

pub(crate) async fn licence(
    State(sim): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(which) = sim.ocr_gate(&method, &uri, &headers, &body) {
        return gateway_refusal(which);
    }
    let Ok(req) = serde_json::from_slice::<LicenseOcrBody>(&body) else {
        return refuse(codes::BAD_PARAM, "参数错误: body");
    };
    let img = match picture("img", &req.img) {
        Ok(img) => img,
        Err(field) => return bad_picture(field),
    };
    match sim.reading(&img, default_licence) {
        SimOcr::Licence { name, cert_no, address, valid_term } => {
            let verify_id = uuid::Uuid::new_v4().simple().to_string();
            tracing::info!(verify_id, "simulator: business licence read");
            let data = LicenseOcrData {
                verify_id,
                name,
                cert_no,
                address,
                valid_term,
                legal_rep_name: "张三".into(),
                establish_date: "2015年01月05日".into(),
                ..Default::default()
            };
            (StatusCode::OK, Json(Envelope::ok(data))).into_response()
        }
        SimOcr::Refuse { code } => refuse(code, "证件识别失败"),
        SimOcr::IdCard { .. } => refuse(crate::esign::codes::OCR_FAILED, "营业执照识别失败"),
    }
}

/// `POST /sim/control/ocr/{sha256}` with a [`SimOcr`] as JSON.
pub(crate) async fn control_set(
    State(sim): State<Arc<Shared>>,
    Path(key): Path<String>,
    Json(reading): Json<SimOcr>,
) -> Response {
    if key.len() != 64 || !key.bytes().all(|b| b.is_ascii_hexdigit()) {
        return (StatusCode::BAD_REQUEST, "the key is a picture's SHA-256 in hex").into_response();
    }
    sim.set_ocr(key.to_ascii_lowercase(), reading);
    StatusCode::NO_CONTENT.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::doc_ports::{IdCardOcrRequest, LicenceOcrRequest};
    use crate::domain::ports::{ESign, UpstreamError};
    use crate::esign::EsignClient;
    use crate::sim::testing::{client, settings, start_sim};

    fn png() -> Vec<u8> {
        let img =
            image::DynamicImage::ImageRgb8(image::RgbImage::from_fn(8, 8, |x, y| image::Rgb([x as u8, y as u8, 1])));
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Png).unwrap();
        out.into_inner()
    }

    fn refused_code(result: Result<impl std::fmt::Debug, UpstreamError>) -> i64 {
        match result {
            Err(UpstreamError::Refused { code, .. }) => code,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn ocr_reads_the_default_a_registration_or_refuses_as_registered() {
        let sim = start_sim().await;
        let c = client(&sim);
        let card = IdCardOcrRequest { info_img: png(), emblem_img: png() };
        let read = c.ocr_id_card(&card).await.unwrap();
        assert_eq!((read.id_no.as_str(), read.validity_period.as_str()), (DEFAULT_ID_NO, "2019.01.01-2039.01.01"));
        let licence = c.ocr_licence(&LicenceOcrRequest { img: png() }).await.unwrap();
        assert_eq!(
            (licence.cert_no.as_str(), licence.valid_term.as_str()),
            (DEFAULT_CREDIT_CODE, "2015年01月05日至长期")
        );

        let other = SimOcr::IdCard {
            name: "李四".into(),
            id_no: "110101199003070035".into(),
            validity_period: "2020.01.01-长期".into(),
        };
        sim.set_ocr(&png(), other);
        assert_eq!(c.ocr_id_card(&card).await.unwrap().id_no, "110101199003070035");
        sim.set_ocr(&png(), SimOcr::Refuse { code: 30503129 });
        assert_eq!(refused_code(c.ocr_id_card(&card).await), 30503129);
        assert_eq!(refused_code(c.ocr_licence(&LicenceOcrRequest { img: png() }).await), 30503129);
    }

    #[tokio::test]
    async fn ocr_checks_the_signature_and_the_pictures_like_e_sign() {
        let sim = start_sim().await;
        let wrong = EsignClient::new(crate::esign::EsignSettings {
            app_secret: "not-the-secret".to_owned().into(),
            ..settings(sim.base_url())
        })
        .unwrap();
        let card = IdCardOcrRequest { info_img: png(), emblem_img: png() };
        assert_eq!(refused_code(wrong.ocr_id_card(&card).await), 401);
        let not_a_picture = IdCardOcrRequest { info_img: b"GIF89a".to_vec(), emblem_img: png() };
        assert_eq!(refused_code(client(&sim).ocr_id_card(&not_a_picture).await), codes::BAD_PARAM);
        assert_eq!(refused_code(client(&sim).ocr_licence(&LicenceOcrRequest { img: vec![] }).await), codes::BAD_PARAM);
    }
}
