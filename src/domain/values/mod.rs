//! Values that can only be built by parsing. Each `parse` is the one place a rule lives; a value
//! of these types is valid by construction. Types that carry identity data print masked.
mod ids;
mod image;
mod mask;
mod org;
mod period;
mod person;
#[cfg(test)]
mod props;
mod text;

pub use ids::{AccountId, AccountKey, AuthId, FlowId, MemberNo, RequestId};
pub use image::{MAX_IMAGE_BYTES, Picture, PictureFormat, THUMBNAIL_SIDE};
pub use mask::{mask_digit_runs, mask_id, mask_mobile};
pub use org::{CreditCode, OrgIdNumber, OrgIdType, OrgName, RegCode, mask_account};
pub use period::ValidPeriod;
pub use person::{Contact, Mobile, PersonName, ResidentId, SmsCode};
pub use text::{parse_http_url, parse_optional_text};

/// A field that failed validation: the proto field name and what is wrong, in words a caller can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    pub field: &'static str,
    pub description: String,
}

impl FieldViolation {
    pub fn new(field: &'static str, description: impl Into<String>) -> Self {
        Self { field, description: description.into() }
    }
}

/// Length in characters, as the seeds count 最大长度.
fn char_len(s: &str) -> usize {
    s.chars().count()
}
