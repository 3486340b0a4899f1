//! proto ⇄ domain for managing a company's seals and their review (issue 18): every request
//! destructured field by field, the PNG of an image seal checked by its content, and `ManagedSeal`.
use std::io::Cursor;

use image::{ImageFormat, ImageReader, Limits};

use super::convert::ts;
use super::convert_seal::{ALIAS_MAX_CHARS, seal_template, size, text};
use super::pb;
use crate::domain::error::{AllValid, Violations};
use crate::domain::model::{SealReviewStatus, SealTemplate};
use crate::domain::ports::ImageSealRequest;
use crate::domain::values::{FieldViolation, MemberNo};
use crate::domain::{CreateImageSeal, DomainError, ManagedSeal, PageAsk, SEAL_PAGE_DEFAULT, SEAL_PAGE_MAX, SealPage};

/// The largest PNG of an image seal, and its largest side in pixels.
pub const IMAGE_SEAL_MAX_BYTES: usize = 1024 * 1024;
pub const IMAGE_SEAL_MAX_SIDE: u32 = 4096;
/// The longest rejection reason, in characters.
const REASON_MAX_CHARS: usize = 200;
/// The longest seal id, in characters.
const SEAL_ID_MAX_CHARS: usize = 64;

fn page(page_size: i32, page_num: i32) -> Result<PageAsk, FieldViolation> {
    let size = match page_size {
        0 => SEAL_PAGE_DEFAULT,
        1.. => u32::try_from(page_size).unwrap_or(SEAL_PAGE_MAX).min(SEAL_PAGE_MAX),
        _ => return Err(FieldViolation::new("page_size", "must not be negative")),
    };
    let num = match page_num {
        0 => 1,
        1.. => u32::try_from(page_num).unwrap_or(1),
        _ => return Err(FieldViolation::new("page_num", "must not be negative")),
    };
    Ok(PageAsk { size, num })
}

fn seal_id(s: &str) -> Result<String, FieldViolation> {
    let s = s.trim();
    if s.is_empty() {
        return Err(FieldViolation::new("seal_id", "is required"));
    }
    if s.chars().count() > SEAL_ID_MAX_CHARS || !s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return Err(FieldViolation::new("seal_id", "is not a seal id"));
    }
    Ok(s.to_owned())
}

/// ListOrgSeals and ListPersonSeals: the member and the page.
pub fn member_page(etc_member_no: &str, page_size: i32, page_num: i32) -> Result<(MemberNo, PageAsk), DomainError> {
    Ok((MemberNo::parse(etc_member_no), page(page_size, page_num)).all_valid()?)
}

pub fn review_page(req: pb::ListSealsToReviewRequest) -> Result<PageAsk, DomainError> {
    let pb::ListSealsToReviewRequest { page_size, page_num } = req;
    Ok(page(page_size, page_num)?)
}

pub fn template_seal(req: pb::CreateOrgTemplateSealRequest) -> Result<(MemberNo, SealTemplate), DomainError> {
    let pb::CreateOrgTemplateSealRequest { etc_member_no, template } = req;
    let template: Result<pb::SealTemplate, Violations> =
        template.ok_or_else(|| FieldViolation::new("template", "is required").into());
    let (member, template) = (MemberNo::parse(&etc_member_no), template.and_then(seal_template)).all_valid()?;
    Ok((member, template))
}

/// A real PNG, at most 1 MiB and 4096×4096, judged by its content and decoded within those bounds.
fn png(bytes: Vec<u8>) -> Result<Vec<u8>, FieldViolation> {
    const FIELD: &str = "image";
    if bytes.is_empty() {
        return Err(FieldViolation::new(FIELD, "is required"));
    }
    if bytes.len() > IMAGE_SEAL_MAX_BYTES {
        return Err(FieldViolation::new(FIELD, "must be at most 1 MiB"));
    }
    if image::guess_format(&bytes).ok() != Some(ImageFormat::Png) {
        return Err(FieldViolation::new(FIELD, "must be a PNG image"));
    }
    let mut reader = ImageReader::with_format(Cursor::new(bytes.as_slice()), ImageFormat::Png);
    let mut limits = Limits::default();
    limits.max_image_width = Some(IMAGE_SEAL_MAX_SIDE);
    limits.max_image_height = Some(IMAGE_SEAL_MAX_SIDE);
    reader.limits(limits);
    reader.decode().map_err(|_| FieldViolation::new(FIELD, "must be a readable PNG of at most 4096x4096 pixels"))?;
    Ok(bytes)
}

pub fn image_seal(req: pb::CreateOrgImageSealRequest) -> Result<CreateImageSeal, DomainError> {
    let pb::CreateOrgImageSealRequest { etc_member_no, alias, image, transparent, width, height } = req;
    let (member_no, alias, png, width, height) = (
        MemberNo::parse(&etc_member_no),
        text("alias", &alias, ALIAS_MAX_CHARS, true),
        png(image),
        size("width", width),
        size("height", height),
    )
        .all_valid()?;
    Ok(CreateImageSeal { member_no, seal: ImageSealRequest { alias, png, transparent, width, height } })
}

/// SaveOrgSeal, SetDefaultOrgSeal, DeleteOrgSeal: the member and the seal.
pub fn member_seal(etc_member_no: &str, id: &str) -> Result<(MemberNo, String), DomainError> {
    Ok((MemberNo::parse(etc_member_no), seal_id(id)).all_valid()?)
}

pub fn review(req: pb::ReviewOrgSealRequest) -> Result<(String, bool, Option<String>), DomainError> {
    let pb::ReviewOrgSealRequest { seal_id: id, approve, reason } = req;
    let reason = if approve {
        Ok(None)
    } else if reason.trim().is_empty() {
        Err(FieldViolation::new("reason", "is required to reject a seal"))
    } else {
        text("reason", &reason, REASON_MAX_CHARS, true).map(Some)
    };
    let (id, reason) = (seal_id(&id), reason).all_valid()?;
    Ok((id, approve, reason))
}

fn review_status(s: SealReviewStatus) -> pb::SealReviewStatus {
    match s {
        SealReviewStatus::Unsaved => pb::SealReviewStatus::Unsaved,
        SealReviewStatus::Pending => pb::SealReviewStatus::Pending,
        SealReviewStatus::Approved => pb::SealReviewStatus::Approved,
        SealReviewStatus::Rejected => pb::SealReviewStatus::Rejected,
    }
}

pub fn seal(s: &ManagedSeal) -> pb::ManagedSeal {
    let r = s.record.as_ref();
    pb::ManagedSeal {
        seal_id: s.seal_id.clone(),
        alias: s.alias.clone().unwrap_or_default(),
        seal_url: s.url.clone().unwrap_or_default(),
        default_flag: s.default,
        // A person's seal is not reviewed: it is usable as it is.
        review_status: review_status(r.map_or(SealReviewStatus::Approved, |r| r.status)) as i32,
        reject_reason: r.and_then(|r| r.reject_reason.clone()).unwrap_or_default(),
        create_time: s.created_at.map(ts),
        etc_member_no: r.map(|r| r.member_no.as_str().to_owned()).unwrap_or_default(),
        reviewer: r.and_then(|r| r.reviewer.clone()).unwrap_or_default(),
        review_time: r.and_then(|r| r.reviewed_at).map(ts),
        save_time: r.and_then(|r| r.saved_at).map(ts),
    }
}

/// A page: the seals, the total and the number of pages.
pub fn page_of(p: &SealPage) -> (Vec<pb::ManagedSeal>, i32, i32) {
    let clamp = |v: u64| i32::try_from(v).unwrap_or(i32::MAX);
    (p.seals.iter().map(seal).collect(), clamp(p.total), clamp(p.total_pages))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png_of(w: u32, h: u32) -> Vec<u8> {
        let img = image::DynamicImage::ImageLuma8(image::GrayImage::new(w, h));
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, ImageFormat::Png).unwrap();
        out.into_inner()
    }

    fn request(bytes: Vec<u8>) -> pb::CreateOrgImageSealRequest {
        pb::CreateOrgImageSealRequest {
            etc_member_no: "ETC1".into(),
            alias: "图片章".into(),
            image: bytes,
            transparent: false,
            width: 0,
            height: 0,
        }
    }

    fn violated(req: pb::CreateOrgImageSealRequest) -> Vec<&'static str> {
        match image_seal(req) {
            Err(DomainError::InvalidArgument(v)) => v.iter().map(|v| v.field).collect(),
            other => panic!("must fail: {other:?}"),
        }
    }

    #[test]
    fn an_image_seal_is_a_png_by_content_within_one_mib_and_4096_pixels_a_side() {
        let ok = image_seal(request(png_of(4096, 2))).unwrap();
        assert_eq!((ok.seal.width, ok.seal.height, ok.seal.png.len() > 8), (159, 159, true));
        assert_eq!(violated(request(png_of(4097, 1))), ["image"], "too wide");
        assert_eq!(violated(request(b"\xff\xd8\xff\xe0 a jpeg".to_vec())), ["image"], "not a PNG");
        let mut truncated = png_of(10, 10);
        truncated.truncate(30);
        assert_eq!(violated(request(truncated)), ["image"], "a PNG header alone");
        let mut big = png_of(10, 10);
        big.resize(IMAGE_SEAL_MAX_BYTES + 1, 0);
        assert_eq!(violated(request(big)), ["image"], "over 1 MiB");
        let bad = pb::CreateOrgImageSealRequest { alias: String::new(), width: 1001, ..request(Vec::new()) };
        assert_eq!(violated(bad), ["alias", "image", "width"]);
    }

    #[test]
    fn pages_default_to_ten_from_the_first_and_a_rejection_needs_its_reason() {
        assert_eq!(page(0, 0).unwrap(), PageAsk { size: SEAL_PAGE_DEFAULT, num: 1 });
        assert_eq!(page(1000, 3).unwrap(), PageAsk { size: SEAL_PAGE_MAX, num: 3 });
        assert!(page(-1, 1).is_err() && page(1, -1).is_err());
        let reject = |reason: &str| {
            review(pb::ReviewOrgSealRequest { seal_id: "s-1".into(), approve: false, reason: reason.into() })
        };
        assert!(matches!(reject(" "), Err(DomainError::InvalidArgument(v)) if v[0].field == "reason"));
        assert_eq!(reject("字迹不清").unwrap(), ("s-1".to_owned(), false, Some("字迹不清".to_owned())));
        let approve =
            review(pb::ReviewOrgSealRequest { seal_id: "s-1".into(), approve: true, reason: "ignored".into() });
        assert_eq!(approve.unwrap(), ("s-1".to_owned(), true, None));
        assert!(member_seal("ETC1", "../x").is_err());
    }
}
