//! An uploaded certificate picture, checked by its content (e签宝's OCR takes JPEG, PNG or BMP under
//! 3 MB: esign.md §9), and its thumbnail. Pure computation: decoding and scaling, no I/O.
use std::io::Cursor;

use image::{DynamicImage, ImageFormat, ImageReader, Limits};

use super::FieldViolation;

/// At most 3 MiB per picture, as e签宝 takes them.
pub const MAX_IMAGE_BYTES: usize = 3 * 1024 * 1024;
/// Thumbnails are at most this many pixels on each side.
pub const THUMBNAIL_SIDE: u32 = 200;
/// A picture larger than this on either side is refused before it is decoded (a 3 MiB file can
/// claim any size in its header: a decompression bomb).
const MAX_SIDE: u32 = 12_000;
/// Memory one decoding may take.
const MAX_DECODE_ALLOC: u64 = 512 * 1024 * 1024;

/// The formats e签宝's OCR reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PictureFormat {
    Jpeg,
    Png,
    Bmp,
}

impl PictureFormat {
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Jpeg => "image/jpeg",
            Self::Png => "image/png",
            Self::Bmp => "image/bmp",
        }
    }

    /// The format of `bytes`, judged by their content (magic numbers), never by a name.
    pub fn sniff(bytes: &[u8]) -> Option<Self> {
        match image::guess_format(bytes).ok()? {
            ImageFormat::Jpeg => Some(Self::Jpeg),
            ImageFormat::Png => Some(Self::Png),
            ImageFormat::Bmp => Some(Self::Bmp),
            _ => None,
        }
    }

    fn image_format(self) -> ImageFormat {
        match self {
            Self::Jpeg => ImageFormat::Jpeg,
            Self::Png => ImageFormat::Png,
            Self::Bmp => ImageFormat::Bmp,
        }
    }
}

/// A picture that is JPEG, PNG or BMP, at most 3 MiB, and decodes. Its bytes are kept as sent (the
/// original); the decoded pixels make the thumbnail.
#[derive(Clone)]
pub struct Picture {
    bytes: Vec<u8>,
    format: PictureFormat,
    decoded: DynamicImage,
}

/// The bytes are a person's identity document: never printed.
impl std::fmt::Debug for Picture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Picture({:?}, {} bytes, {}x{})", self.format, self.bytes.len(), self.width(), self.height())
    }
}

impl Picture {
    pub fn parse(field: &'static str, bytes: Vec<u8>) -> Result<Self, FieldViolation> {
        if bytes.is_empty() {
            return Err(FieldViolation::new(field, "is required"));
        }
        if bytes.len() > MAX_IMAGE_BYTES {
            return Err(FieldViolation::new(field, "must be at most 3 MiB"));
        }
        let format = PictureFormat::sniff(&bytes)
            .ok_or_else(|| FieldViolation::new(field, "must be a JPEG, PNG or BMP image"))?;
        let mut reader = ImageReader::with_format(Cursor::new(bytes.as_slice()), format.image_format());
        let mut limits = Limits::default();
        limits.max_image_width = Some(MAX_SIDE);
        limits.max_image_height = Some(MAX_SIDE);
        limits.max_alloc = Some(MAX_DECODE_ALLOC);
        reader.limits(limits);
        let decoded = reader.decode().map_err(|_| FieldViolation::new(field, "is not a readable image"))?;
        Ok(Self { bytes, format, decoded })
    }

    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
    pub fn format(&self) -> PictureFormat {
        self.format
    }
    pub fn width(&self) -> u32 {
        self.decoded.width()
    }
    pub fn height(&self) -> u32 {
        self.decoded.height()
    }

    /// The thumbnail: scaled so that the shorter side is 200 and centre-cropped to 200×200. A
    /// picture whose shorter side is under 200 is never enlarged: it is kept at its scale and only
    /// centre-cropped to at most 200 on each side. JPEG stays JPEG; PNG and BMP become PNG.
    pub fn thumbnail(&self) -> Result<(Vec<u8>, PictureFormat), String> {
        let (w, h) = (self.width(), self.height());
        let side = THUMBNAIL_SIDE;
        let scaled = if w.min(h) > side {
            self.decoded.resize_to_fill(side, side, image::imageops::FilterType::Triangle)
        } else {
            let (cw, ch) = (w.min(side), h.min(side));
            self.decoded.crop_imm((w - cw) / 2, (h - ch) / 2, cw, ch)
        };
        let format = match self.format {
            PictureFormat::Jpeg => PictureFormat::Jpeg,
            PictureFormat::Png | PictureFormat::Bmp => PictureFormat::Png,
        };
        // JPEG has no alpha channel: drop it first (PNG keeps what it has).
        let scaled = match format {
            PictureFormat::Jpeg => DynamicImage::ImageRgb8(scaled.to_rgb8()),
            _ => scaled,
        };
        let mut out = Cursor::new(Vec::new());
        scaled.write_to(&mut out, format.image_format()).map_err(|e| format!("thumbnail: {e}"))?;
        Ok((out.into_inner(), format))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(w: u32, h: u32) -> Vec<u8> {
        let img = DynamicImage::ImageRgb8(image::RgbImage::from_fn(w, h, |x, y| image::Rgb([x as u8, y as u8, 7])));
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, ImageFormat::Png).unwrap();
        out.into_inner()
    }

    #[test]
    fn pictures_are_judged_by_content_and_size() {
        assert_eq!(Picture::parse("img", vec![]).unwrap_err().description, "is required");
        assert!(Picture::parse("img", b"GIF89a not allowed".to_vec()).is_err());
        assert!(Picture::parse("img", b"%PDF-1.4".to_vec()).is_err());
        let mut truncated = png(40, 40);
        truncated.truncate(60);
        assert_eq!(Picture::parse("img", truncated).unwrap_err().description, "is not a readable image");
        let mut big = png(10, 10);
        big.resize(MAX_IMAGE_BYTES + 1, 0);
        assert_eq!(Picture::parse("img", big).unwrap_err().description, "must be at most 3 MiB");
        let p = Picture::parse("img", png(30, 20)).unwrap();
        assert_eq!((p.format(), p.width(), p.height()), (PictureFormat::Png, 30, 20));
    }

    #[test]
    fn thumbnails_fill_200_by_200_and_never_enlarge() {
        let thumb = |w, h| {
            let (bytes, format) = Picture::parse("img", png(w, h)).unwrap().thumbnail().unwrap();
            let img = image::load_from_memory(&bytes).unwrap();
            (format, img.width(), img.height())
        };
        assert_eq!(thumb(800, 400), (PictureFormat::Png, 200, 200));
        assert_eq!(thumb(300, 900), (PictureFormat::Png, 200, 200));
        assert_eq!(thumb(120, 80), (PictureFormat::Png, 120, 80));
        assert_eq!(thumb(100, 500), (PictureFormat::Png, 100, 200));
    }

    #[test]
    fn jpeg_thumbnails_stay_jpeg_and_bmp_ones_become_png() {
        let encode = |format| {
            let img = DynamicImage::ImageRgb8(image::RgbImage::from_fn(320, 240, |x, _| image::Rgb([x as u8, 9, 9])));
            let mut out = Cursor::new(Vec::new());
            img.write_to(&mut out, format).unwrap();
            out.into_inner()
        };
        let jpeg = Picture::parse("img", encode(ImageFormat::Jpeg)).unwrap();
        let (bytes, format) = jpeg.thumbnail().unwrap();
        assert_eq!(
            (jpeg.format(), format, PictureFormat::sniff(&bytes)),
            (PictureFormat::Jpeg, PictureFormat::Jpeg, Some(PictureFormat::Jpeg))
        );
        let bmp = Picture::parse("img", encode(ImageFormat::Bmp)).unwrap();
        let (bytes, format) = bmp.thumbnail().unwrap();
        assert_eq!(
            (bmp.format(), format, PictureFormat::sniff(&bytes)),
            (PictureFormat::Bmp, PictureFormat::Png, Some(PictureFormat::Png))
        );
        assert_eq!(image::load_from_memory(&bytes).unwrap().width(), 200);
    }
}
