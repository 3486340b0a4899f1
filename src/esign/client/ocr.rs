//! OCR of the handler's identity card and the company's licence (esign.md §9) on the one client:
//! pictures sent as base64 without a prefix. The trait methods in `client.rs` hand over to these.
use base64::{Engine as _, engine::general_purpose::STANDARD as B64};
use reqwest::Method;

use super::super::api::{CODE_OK, IdCardOcrBody, IdCardOcrData, LicenseOcrBody, LicenseOcrData, paths};
use super::{EsignClient, serialize};
use crate::domain::doc_ports::{IdCardOcrRequest, IdCardReading, LicenceOcrRequest, LicenceReading};
use crate::domain::ports::UpstreamError;

impl EsignClient {
    pub(super) async fn id_card_ocr(&self, req: &IdCardOcrRequest) -> Result<IdCardReading, UpstreamError> {
        const ENDPOINT: &str = "ocr_idcard";
        let body = IdCardOcrBody { info_img: B64.encode(&req.info_img), emblem_img: B64.encode(&req.emblem_img) };
        let bytes = serialize(ENDPOINT, &body)?;
        self.exchange(ENDPOINT, Method::POST, paths::OCR_ID_CARD, Some(bytes), |answer| {
            if answer.code != CODE_OK {
                return Err(answer.refused());
            }
            let data: IdCardOcrData = answer.data(ENDPOINT)?;
            if data.id_no.is_empty() {
                return Err(UpstreamError::Malformed(format!("{ENDPOINT}: idNo is empty")));
            }
            Ok(IdCardReading {
                verify_id: data.verify_id,
                name: data.name,
                id_no: data.id_no,
                validity_period: data.validity_period,
                issued_by: data.issued_by,
            })
        })
        .await
    }

    pub(super) async fn licence_ocr(&self, req: &LicenceOcrRequest) -> Result<LicenceReading, UpstreamError> {
        const ENDPOINT: &str = "ocr_license";
        let body = LicenseOcrBody { img: B64.encode(&req.img) };
        let bytes = serialize(ENDPOINT, &body)?;
        self.exchange(ENDPOINT, Method::POST, paths::OCR_LICENSE, Some(bytes), |answer| {
            if answer.code != CODE_OK {
                return Err(answer.refused());
            }
            let data: LicenseOcrData = answer.data(ENDPOINT)?;
            if data.cert_no.is_empty() {
                return Err(UpstreamError::Malformed(format!("{ENDPOINT}: certNo is empty")));
            }
            Ok(LicenceReading {
                verify_id: data.verify_id,
                name: data.name,
                cert_no: data.cert_no,
                address: data.address,
                legal_rep_name: data.legal_rep_name,
                establish_date: data.establish_date,
                valid_term: data.valid_term,
            })
        })
        .await
    }
}
