//! How the domain's values sit in columns, shared by every entity: instants as Unix milliseconds,
//! the associated data that binds a sealed value to its row, and the reading of a stored value
//! that no longer parses (corrupt data, not a caller's mistake).
use chrono::{DateTime, TimeZone, Utc};
use sea_orm::DbErr;

use crate::domain::ports::StoreError;
use crate::domain::values::FieldViolation;

pub(crate) fn db_err(e: DbErr) -> StoreError {
    StoreError::Database(e.to_string())
}

/// The same for the few statements run on sqlx directly.
pub(crate) fn sqlx_err(e: sea_orm::sqlx::Error) -> StoreError {
    StoreError::Database(e.to_string())
}

/// A stored value that its parser refuses was corrupted or written by a newer version.
impl From<FieldViolation> for StoreError {
    fn from(v: FieldViolation) -> Self {
        StoreError::Corrupt(format!("{}: {}", v.field, v.description))
    }
}

pub(crate) fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub(crate) fn from_ms(v: i64) -> Result<DateTime<Utc>, StoreError> {
    Utc.timestamp_millis_opt(v).single().ok_or_else(|| StoreError::Corrupt(format!("instant {v}")))
}

pub(crate) fn opt_ms(v: Option<i64>) -> Result<Option<DateTime<Utc>>, StoreError> {
    v.map(from_ms).transpose()
}

/// The associated data of a sealed value: its table, column and row, so that a value copied to
/// another row or column does not open.
pub(crate) fn aad(table: &str, column: &str, key: &str) -> String {
    format!("{table}.{column}:{key}")
}
