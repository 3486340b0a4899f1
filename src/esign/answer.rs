//! How an e签宝 answer is read: the HTTP status and the `{code, message, data}` envelope become an
//! [`Answer`] or an [`UpstreamError`] (a refusal classified for the process, its message clipped
//! and masked), and the fields of `data` become domain values.
use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::api::{CODE_OK, Envelope};
use super::codes;
use crate::domain::ports::UpstreamError;
use crate::domain::values::{FieldViolation, mask_digit_runs};

/// Longest upstream `message` kept in an error (it ends up in logs and statuses).
const MAX_MESSAGE_CHARS: usize = 200;

/// An envelope as received, before the caller decides what `code` means.
pub(super) struct Answer {
    pub(super) code: i64,
    message: String,
    data: Option<Value>,
}

impl Answer {
    pub(super) fn refused(self) -> UpstreamError {
        // e签宝's message may quote what it was sent; it reaches logs and callers masked.
        refused(self.code, mask_digit_runs(&self.message))
    }

    pub(super) fn data<T: DeserializeOwned>(self, endpoint: &str) -> Result<T, UpstreamError> {
        match self.data {
            None | Some(Value::Null) => Err(UpstreamError::Malformed(format!("{endpoint}: the answer has no data"))),
            // serde's message could quote a value from the answer: keep only what kind of fault it was.
            Some(data) => serde_json::from_value(data).map_err(|_| {
                UpstreamError::Malformed(format!("{endpoint}: data lacks a field or has one of the wrong type"))
            }),
        }
    }
}

pub(super) fn transport_error(error: reqwest::Error) -> UpstreamError {
    if error.is_timeout() {
        return UpstreamError::Timeout;
    }
    // The innermost cause ("connection refused", "connection reset"): no URL, no headers.
    let mut cause: &dyn std::error::Error = &error;
    while let Some(next) = cause.source() {
        cause = next;
    }
    let what = if error.is_connect() { "could not connect" } else { "the exchange failed" };
    UpstreamError::Unavailable(format!("{what}: {cause}"))
}

pub(super) fn interpret(endpoint: &str, status: StatusCode, body: &[u8]) -> Result<Answer, UpstreamError> {
    if status.is_server_error() || matches!(status, StatusCode::REQUEST_TIMEOUT | StatusCode::TOO_MANY_REQUESTS) {
        return Err(UpstreamError::Unavailable(format!("{endpoint}: HTTP {}", status.as_u16())));
    }
    let envelope = serde_json::from_slice::<Envelope<Value>>(body).ok();
    if status.is_client_error() {
        // e签宝's gateway refuses a bad signature, MD5, app id or timestamp with a 4xx; keep its code.
        return Err(match envelope {
            Some(env) if env.code != CODE_OK => refused(env.code, clip(env.message.unwrap_or_default())),
            _ => refused(i64::from(status.as_u16()), format!("HTTP {} without an e签宝 envelope", status.as_u16())),
        });
    }
    if !status.is_success() {
        return Err(UpstreamError::Malformed(format!("{endpoint}: unexpected HTTP {}", status.as_u16())));
    }
    let env =
        envelope.ok_or_else(|| UpstreamError::Malformed(format!("{endpoint}: the answer is not e签宝's envelope")))?;
    Ok(Answer { code: env.code, message: clip(env.message.unwrap_or_default()), data: env.data })
}

/// A refusal, with what it means to the process.
fn refused(code: i64, message: String) -> UpstreamError {
    UpstreamError::Refused { code, message, reason: codes::refusal(code) }
}

fn clip(message: String) -> String {
    if message.chars().count() <= MAX_MESSAGE_CHARS {
        return message;
    }
    message.chars().take(MAX_MESSAGE_CHARS).collect()
}

pub(super) fn instant(field: &str, millis: Option<i64>) -> Result<Option<DateTime<Utc>>, UpstreamError> {
    millis
        .map(|ms| {
            DateTime::from_timestamp_millis(ms)
                .ok_or_else(|| UpstreamError::Malformed(format!("{field} is out of range")))
        })
        .transpose()
}

pub(super) fn non_empty(s: Option<String>) -> Option<String> {
    s.filter(|s| !s.is_empty())
}

pub(super) fn upstream_id<T>(
    endpoint: &str,
    parse: fn(&'static str, &str) -> Result<T, FieldViolation>,
    field: &'static str,
    value: &str,
) -> Result<T, UpstreamError> {
    parse(field, value).map_err(|v| UpstreamError::Malformed(format!("{endpoint}: {} {}", v.field, v.description)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::esign::api::AccountData;

    #[test]
    fn gateway_answers_map_to_upstream_errors() {
        let refusal = br#"{"code":401,"message":"X-Tsign-Open-Ca-Signature does not match","data":null}"#;
        assert!(matches!(
            interpret("x", StatusCode::UNAUTHORIZED, refusal),
            Err(UpstreamError::Refused { code: 401, .. })
        ));
        assert!(matches!(
            interpret("x", StatusCode::NOT_FOUND, b"nope"),
            Err(UpstreamError::Refused { code: 404, .. })
        ));
        assert!(matches!(interpret("x", StatusCode::TOO_MANY_REQUESTS, b""), Err(UpstreamError::Unavailable(_))));
        assert!(matches!(interpret("x", StatusCode::OK, b"{\"data\":{}}"), Err(UpstreamError::Malformed(_))));
        let ok = interpret("x", StatusCode::OK, br#"{"code":0,"message":"ok","data":null}"#).ok().unwrap();
        assert!(matches!(ok.data::<AccountData>("x"), Err(UpstreamError::Malformed(_))));
    }
}
