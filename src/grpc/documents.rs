//! proto ⇄ domain for RecognizeIdCard and RecognizeBusinessLicense, and the detail's certificate
//! pictures: links minted fresh on each answer (they expire), never stored.
use chrono::{DateTime, Utc};

use super::convert::process;
use super::pb;
use crate::domain::error::AllValid;
use crate::domain::model::{KeptPicture, Process};
use crate::domain::values::{MemberNo, Picture, mask_id};
use crate::domain::{DomainError, RecognizeIdCard, RecognizeLicence, RecognizedCard, RecognizedLicence};
use crate::files::LinkSigner;

/// The RPCs whose requests carry pictures (and so a larger size limit): the two OCR calls, and an
/// image seal (whose own 1 MiB limit is then answered as a field violation).
pub const LARGE_PATHS: &[&str] = &[
    "/etc.esign.v1.AuthService/RecognizeIdCard",
    "/etc.esign.v1.AuthService/RecognizeBusinessLicense",
    "/etc.esign.v1.AuthService/CreateOrgImageSeal",
];

/// Checks both pictures (decoding them: run it off the runtime's threads).
pub fn recognize_id_card(req: pb::RecognizeIdCardRequest) -> Result<RecognizeIdCard, DomainError> {
    let pb::RecognizeIdCardRequest { etc_member_no, info_img, emblem_img } = req;
    let (member_no, info, emblem) = (
        MemberNo::parse(&etc_member_no),
        Picture::parse("info_img", info_img),
        Picture::parse("emblem_img", emblem_img),
    )
        .all_valid()?;
    Ok(RecognizeIdCard { member_no, info, emblem })
}

pub fn recognize_licence(req: pb::RecognizeBusinessLicenseRequest) -> Result<RecognizeLicence, DomainError> {
    let pb::RecognizeBusinessLicenseRequest { etc_member_no, img } = req;
    let (member_no, picture) = (MemberNo::parse(&etc_member_no), Picture::parse("img", img)).all_valid()?;
    Ok(RecognizeLicence { member_no, picture })
}

/// The detail with its pictures' links: the card's on `indiv_ocr_info`, the licence's (and what
/// it read) on `org_ocr_info`.
pub fn process_with_documents(p: &Process, links: &LinkSigner, now: DateTime<Utc>) -> pb::AuthProcess {
    let mut answer = process(p, now);
    let link = |k: &KeptPicture| (links.mint(&k.original, now), links.mint(&k.thumbnail, now));
    if let (Some(card), Some(info)) = (&p.id_card, answer.indiv_ocr_info.as_mut()) {
        let (front_url, thumbnail_front_url) = link(&card.front);
        let (back_url, thumbnail_back_url) = link(&card.back);
        info.cert_image = Some(pb::CertImage { front_url, thumbnail_front_url, back_url, thumbnail_back_url });
    }
    if let Some(licence) = &p.licence {
        let (front_url, thumbnail_front_url) = link(&licence.picture);
        // What the caller gave (StartOrgAuth's merchant profile) wins; the licence fills the rest.
        let org = answer.org_ocr_info.get_or_insert_with(Default::default);
        if org.address.is_empty() {
            org.address = licence.address.clone().unwrap_or_default();
        }
        if org.valid_period.is_empty() {
            org.valid_period = licence.valid_period.clone().unwrap_or_default();
        }
        org.cert_image = Some(pb::CertImage {
            front_url,
            thumbnail_front_url,
            back_url: String::new(),
            thumbnail_back_url: String::new(),
        });
    }
    answer
}

pub fn card_answer(r: &RecognizedCard, links: &LinkSigner, now: DateTime<Utc>) -> pb::RecognizeIdCardResponse {
    pb::RecognizeIdCardResponse {
        name: r.reading.name.clone(),
        id_number: mask_id(&r.reading.id_no),
        valid_period: r.valid_period.to_string(),
        issued_by: r.reading.issued_by.clone(),
        verify_id: r.reading.verify_id.clone(),
        process: Some(process_with_documents(&r.process, links, now)),
    }
}

pub fn licence_answer(
    r: &RecognizedLicence,
    links: &LinkSigner,
    now: DateTime<Utc>,
) -> pb::RecognizeBusinessLicenseResponse {
    pb::RecognizeBusinessLicenseResponse {
        name: r.reading.name.clone(),
        cert_no: r.reading.cert_no.clone(),
        legal_rep_name: r.reading.legal_rep_name.clone(),
        address: r.reading.address.clone(),
        valid_period: r.process.licence.as_ref().and_then(|l| l.valid_period.clone()).unwrap_or_default(),
        verify_id: r.reading.verify_id.clone(),
        process: Some(process_with_documents(&r.process, links, now)),
    }
}
