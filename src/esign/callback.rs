//! e签宝 → service notifications (esign.md §5): the callback signature, its verification on the raw
//! bytes (before anything is parsed), and turning a verified body into an [`InboxEvent`].
use axum::http::HeaderMap;
use chrono::{DateTime, Utc};
use serde_json::Value;
use subtle::ConstantTimeEq;

use super::sign::{HEADER_APP_ID, TIMESTAMP_WINDOW_MS, hmac_sha256_parts};
use crate::domain::model::InboxEvent;
use crate::domain::values::{AuthId, FlowId};

/// Notification headers besides the App ID (`sign::HEADER_APP_ID`); a request's timestamp and
/// signature are other headers (`sign::HEADER_REQUEST_*`).
pub const HEADER_NOTIFY_TIMESTAMP: &str = "X-Tsign-Open-TIMESTAMP";
pub const HEADER_NOTIFY_SIGNATURE: &str = "X-Tsign-Open-SIGNATURE";
pub const HEADER_NOTIFY_ALGORITHM: &str = "X-Tsign-Open-SIGNATURE-ALGORITHM";
/// The only algorithm e签宝 uses (compared case-insensitively).
pub const ALGORITHM: &str = "hmac-sha256";

pub const ACTION_FACE_RESULT: &str = "FACE_AUTH_RESULT";
/// e签宝's end of a person's identity flow (face, SMS) when the application subscribes to actions.
pub const ACTION_PSN_END: &str = "identity_psn_end";
/// e签宝's end of a company's identity flow (4 factors, reverse payment), likewise.
pub const ACTION_ORG_END: &str = "identity_org_end";
/// What an identity result is called when e签宝 sent it without an `action` (no subscription to
/// actions in its console, esign.md §11).
pub const ACTION_NONE: &str = "";
pub const ACTION_AUTHORIZATION_RESULT: &str = "AUTHORIZATION_RESULT";
/// Sent when the person opens the face page: a notification without a result (esign.md §6).
pub const ACTION_FACE_PAGE_OPENED: &str = "FACE_AUTH_PAGE_OPENED";

/// Timestamps below this are seconds (older e签宝 products), at or above it milliseconds.
const SECONDS_BELOW: i64 = 1_000_000_000_000;

/// Lower-case hex HMAC-SHA256 of `timestamp` + the notify URL's query values ordered by parameter
/// name (concatenated with nothing between them) + the raw body bytes.
pub fn callback_signature(secret: &[u8], timestamp: &str, notify_query: Option<&str>, body: &[u8]) -> String {
    hex::encode(callback_mac(secret, timestamp, notify_query, body))
}

fn callback_mac(secret: &[u8], timestamp: &str, notify_query: Option<&str>, body: &[u8]) -> [u8; 32] {
    let values = sorted_query_values(notify_query.unwrap_or(""));
    let mut parts: Vec<&[u8]> = Vec::with_capacity(values.len() + 2);
    parts.push(timestamp.as_bytes());
    parts.extend(values.iter().map(|v| v.as_bytes()));
    parts.push(body);
    hmac_sha256_parts(secret, &parts)
}

/// Query values (percent-decoded, as e签宝's servlet-side `getParameter` sees them), ordered by
/// parameter name; values under one name keep their URL order.
fn sorted_query_values(query: &str) -> Vec<String> {
    let query = query.strip_prefix('?').unwrap_or(query);
    let mut pairs: Vec<(String, String)> =
        url::form_urlencoded::parse(query.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    pairs.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    pairs.into_iter().map(|(_, v)| v).collect()
}

/// Why a callback was not accepted. Messages name the check, never the secret or a signature.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallbackRejection {
    #[error("header {0} is missing or not visible ASCII")]
    MissingHeader(&'static str),
    #[error("the callback is for another e签宝 application")]
    WrongAppId,
    #[error("unsupported signature algorithm; only hmac-sha256 is accepted")]
    UnsupportedAlgorithm,
    #[error("the callback timestamp is not a number")]
    BadTimestamp,
    #[error("the callback timestamp is more than 15 minutes old")]
    Stale,
    #[error("the callback timestamp is more than 15 minutes in the future")]
    FromTheFuture,
    #[error("the callback signature does not match")]
    BadSignature,
}

/// Checks a callback as received: app id, algorithm, timestamp window and signature over the raw
/// body. `notify_query` is the query of the URL the callback was posted to (without `?`).
pub fn verify_callback(
    secret: &[u8],
    expected_app_id: &str,
    headers: &HeaderMap,
    notify_query: Option<&str>,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<(), CallbackRejection> {
    let header = |name: &'static str| {
        headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim).ok_or(CallbackRejection::MissingHeader(name))
    };
    let app_id = header(HEADER_APP_ID)?;
    if !bool::from(app_id.as_bytes().ct_eq(expected_app_id.as_bytes())) {
        return Err(CallbackRejection::WrongAppId);
    }
    if !header(HEADER_NOTIFY_ALGORITHM)?.eq_ignore_ascii_case(ALGORITHM) {
        return Err(CallbackRejection::UnsupportedAlgorithm);
    }
    let timestamp = header(HEADER_NOTIFY_TIMESTAMP)?;
    let at = timestamp_to_millis(timestamp.parse::<i64>().map_err(|_| CallbackRejection::BadTimestamp)?)
        .ok_or(CallbackRejection::BadTimestamp)?;
    let skew = i128::from(now.timestamp_millis()) - i128::from(at);
    if skew > i128::from(TIMESTAMP_WINDOW_MS) {
        return Err(CallbackRejection::Stale);
    }
    if -skew > i128::from(TIMESTAMP_WINDOW_MS) {
        return Err(CallbackRejection::FromTheFuture);
    }
    let given = hex::decode(header(HEADER_NOTIFY_SIGNATURE)?).map_err(|_| CallbackRejection::BadSignature)?;
    // The signed timestamp is the header exactly as received, not its normalised value.
    let expected = callback_mac(secret, timestamp, notify_query, body);
    if given.len() != expected.len() || !bool::from(given.as_slice().ct_eq(&expected)) {
        return Err(CallbackRejection::BadSignature);
    }
    Ok(())
}

/// A value below 10^12 is seconds, otherwise milliseconds; `None` when out of range.
pub fn timestamp_to_millis(value: i64) -> Option<i64> {
    if value < 0 {
        return None;
    }
    if value < SECONDS_BELOW { value.checked_mul(1000) } else { Some(value) }
}

fn timestamp_to_instant(value: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_millis(timestamp_to_millis(value)?)
}

/// What a verified callback body means to the service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParsedCallback {
    /// A result to store and apply, with the action it came as (`ACTION_NONE` when it had none).
    Event { action: &'static str, event: InboxEvent },
    /// A notification to acknowledge and otherwise ignore (an unknown action, or no result yet).
    Ignored { action: String },
}

/// Why a callback body could not be read. Messages name the field, never echo values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallbackParseError {
    #[error("the callback body is not a JSON object")]
    NotAnObject,
    #[error("the callback body lacks field {0}")]
    MissingField(&'static str),
    #[error("the callback field {field} is invalid: {reason}")]
    InvalidField { field: &'static str, reason: String },
}

/// Longest action name kept in [`ParsedCallback::Ignored`] (it goes into logs).
const MAX_ACTION_LEN: usize = 64;

/// Reads a callback body. Unknown fields are ignored, unknown actions acknowledged as `Ignored`;
/// ids are checked with the domain parsers. Never panics, whatever the input.
pub fn parse_callback(body: &[u8]) -> Result<ParsedCallback, CallbackParseError> {
    let value: Value = serde_json::from_slice(body).map_err(|_| CallbackParseError::NotAnObject)?;
    let Value::Object(fields) = value else {
        return Err(CallbackParseError::NotAnObject);
    };
    let action = match fields.get("action") {
        Some(Value::String(a)) => Some(a.as_str()),
        None | Some(Value::Null) => None,
        Some(_) => return Err(invalid("action", "must be a string")),
    };
    let text = |name: &'static str| -> Result<Option<String>, CallbackParseError> {
        match fields.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            // Ids are strings in e签宝's bodies; a bare number is accepted as its digits.
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(_) => Err(invalid(name, "must be a string")),
        }
    };
    let required = |name: &'static str| text(name)?.ok_or(CallbackParseError::MissingField(name));
    let integer = |name: &'static str| -> Result<i64, CallbackParseError> {
        match fields.get(name) {
            None | Some(Value::Null) => Err(CallbackParseError::MissingField(name)),
            Some(Value::Number(n)) => n.as_i64().ok_or_else(|| invalid(name, "must be an integer")),
            Some(Value::String(s)) => s.trim().parse().map_err(|_| invalid(name, "must be an integer")),
            Some(_) => Err(invalid(name, "must be an integer")),
        }
    };
    let occurred_at = || -> Result<DateTime<Utc>, CallbackParseError> {
        timestamp_to_instant(integer("timestamp")?).ok_or_else(|| invalid("timestamp", "is out of range"))
    };

    // Every form of an identity result (esign.md §5, §11) is read alike and applied by flow id.
    let identity_result = |action: &'static str| -> Result<ParsedCallback, CallbackParseError> {
        let flow_id = FlowId::parse("flowId", &required("flowId")?).map_err(|v| invalid("flowId", v.description))?;
        let success = match fields.get("success") {
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => true,
            Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => false,
            None | Some(Value::Null) => {
                return Err(CallbackParseError::MissingField("success"));
            }
            Some(_) => return Err(invalid("success", "must be true or false")),
        };
        let fail_reason = if success { None } else { text("failReason")? };
        // e签宝's identity notifications may carry no timestamp field; the header's was verified.
        let occurred_at = match fields.get("timestamp") {
            None | Some(Value::Null) => None,
            Some(_) => Some(occurred_at()?),
        };
        let event = InboxEvent::IdentityResult { flow_id, success, fail_reason, occurred_at };
        Ok(ParsedCallback::Event { action, event })
    };

    match action {
        Some(ACTION_FACE_RESULT) => identity_result(ACTION_FACE_RESULT),
        Some(ACTION_PSN_END) => identity_result(ACTION_PSN_END),
        Some(ACTION_ORG_END) => identity_result(ACTION_ORG_END),
        // Without an action it is an identity result if it names a flow, and nothing known otherwise.
        None if fields.contains_key("flowId") => identity_result(ACTION_NONE),
        None => Err(CallbackParseError::MissingField("action")),
        Some(ACTION_AUTHORIZATION_RESULT) => {
            let auth_id =
                AuthId::parse("authId", &required("authId")?).map_err(|v| invalid("authId", v.description))?;
            let status = super::codes::auth_status(integer("status")?)
                .ok_or_else(|| invalid("status", "must be 1, 2, 3 or 4"))?;
            if !status.is_final() {
                // "In progress" is no result: acknowledge, apply nothing.
                return Ok(ParsedCallback::Ignored { action: ACTION_AUTHORIZATION_RESULT.to_owned() });
            }
            let auth_des = text("authDes")?;
            let event = InboxEvent::AuthorizationResult { auth_id, status, auth_des, occurred_at: occurred_at()? };
            Ok(ParsedCallback::Event { action: ACTION_AUTHORIZATION_RESULT, event })
        }
        Some(other) => Ok(ParsedCallback::Ignored { action: other.chars().take(MAX_ACTION_LEN).collect() }),
    }
}

fn invalid(field: &'static str, reason: impl Into<String>) -> CallbackParseError {
    CallbackParseError::InvalidField { field, reason: reason.into() }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;
    use chrono::TimeZone;

    use super::*;
    use crate::config::DEV_APP_ID as APP_ID;
    use crate::domain::model::AuthorizationStatus;

    const SECRET: &[u8] = b"etc-esign-demo-secret-not-real-01";
    const C1_BODY: &str = r#"{"action":"FACE_AUTH_RESULT","flowId":"803719636976683872","accountId":"6b3e1a9f0c2d4e5f8a7b9c0d1e2f3a4b","success":true,"contextId":"ETC000123456","timestamp":1732262400100}"#;
    const C1_SIG: &str = "143c9fbfbc23dc8e2bfa6eca17924b938d2244be4946f7a50043e014971c19d3";
    const C2_SIG: &str = "c5aafd062d1bec1ffaf345bcbc2fd88862c3c48fb3bd5145fd11e7dd144a0640";
    const TS: &str = "1732262400123";

    fn at_ms(ms: i64) -> DateTime<Utc> {
        Utc.timestamp_millis_opt(ms).unwrap()
    }

    fn headers(timestamp: &str, signature: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(HEADER_APP_ID, HeaderValue::from_static(APP_ID));
        h.insert(HEADER_NOTIFY_TIMESTAMP, HeaderValue::from_str(timestamp).unwrap());
        h.insert(HEADER_NOTIFY_SIGNATURE, HeaderValue::from_str(signature).unwrap());
        h.insert(HEADER_NOTIFY_ALGORITHM, HeaderValue::from_static("HMAC-SHA256"));
        h
    }

    fn now() -> DateTime<Utc> {
        at_ms(1732262400123 + 1000)
    }

    #[test]
    fn c1_signature_matches_the_vector() {
        assert_eq!(C1_BODY.len(), 174);
        assert_eq!(callback_signature(SECRET, TS, None, C1_BODY.as_bytes()), C1_SIG);
        assert_eq!(callback_signature(SECRET, TS, Some(""), C1_BODY.as_bytes()), C1_SIG);
    }

    #[test]
    fn c2_signature_covers_query_values_in_name_order() {
        let q = "memberNo=ETC000123456&kind=face";
        assert_eq!(callback_signature(SECRET, TS, Some(q), C1_BODY.as_bytes()), C2_SIG);
        verify_callback(SECRET, APP_ID, &headers(TS, C2_SIG), Some(q), C1_BODY.as_bytes(), now()).unwrap();
    }

    #[test]
    fn verify_accepts_c1_with_an_upper_case_algorithm_name() {
        verify_callback(SECRET, APP_ID, &headers(TS, C1_SIG), None, C1_BODY.as_bytes(), now()).unwrap();
    }

    #[test]
    fn verify_rejects_a_tampered_body() {
        let tampered = C1_BODY.replace("true", "false");
        let err = verify_callback(SECRET, APP_ID, &headers(TS, C1_SIG), None, tampered.as_bytes(), now());
        assert_eq!(err, Err(CallbackRejection::BadSignature));
    }

    #[test]
    fn verify_rejects_a_signature_made_with_another_secret() {
        let sig = callback_signature(b"wrong-secret", TS, None, C1_BODY.as_bytes());
        let err = verify_callback(SECRET, APP_ID, &headers(TS, &sig), None, C1_BODY.as_bytes(), now());
        assert_eq!(err, Err(CallbackRejection::BadSignature));
    }

    #[test]
    fn verify_rejects_a_missing_query_that_was_signed() {
        let err = verify_callback(SECRET, APP_ID, &headers(TS, C2_SIG), None, C1_BODY.as_bytes(), now());
        assert_eq!(err, Err(CallbackRejection::BadSignature));
    }

    #[test]
    fn verify_rejects_stale_and_future_timestamps_beyond_15_minutes() {
        let ts = 1732262400123_i64;
        let h = headers(TS, C1_SIG);
        let body = C1_BODY.as_bytes();
        assert!(verify_callback(SECRET, APP_ID, &h, None, body, at_ms(ts + TIMESTAMP_WINDOW_MS)).is_ok());
        assert!(verify_callback(SECRET, APP_ID, &h, None, body, at_ms(ts - TIMESTAMP_WINDOW_MS)).is_ok());
        assert_eq!(
            verify_callback(SECRET, APP_ID, &h, None, body, at_ms(ts + TIMESTAMP_WINDOW_MS + 1)),
            Err(CallbackRejection::Stale)
        );
        assert_eq!(
            verify_callback(SECRET, APP_ID, &h, None, body, at_ms(ts - TIMESTAMP_WINDOW_MS - 1)),
            Err(CallbackRejection::FromTheFuture)
        );
    }

    #[test]
    fn verify_accepts_a_timestamp_in_seconds() {
        let ts = "1732262400";
        let sig = callback_signature(SECRET, ts, None, C1_BODY.as_bytes());
        verify_callback(SECRET, APP_ID, &headers(ts, &sig), None, C1_BODY.as_bytes(), now()).unwrap();
    }

    #[test]
    fn verify_rejects_missing_headers_wrong_app_and_algorithm() {
        let body = C1_BODY.as_bytes();
        for name in [HEADER_APP_ID, HEADER_NOTIFY_TIMESTAMP, HEADER_NOTIFY_SIGNATURE, HEADER_NOTIFY_ALGORITHM] {
            let mut h = headers(TS, C1_SIG);
            h.remove(name);
            assert_eq!(
                verify_callback(SECRET, APP_ID, &h, None, body, now()),
                Err(CallbackRejection::MissingHeader(name))
            );
        }
        assert_eq!(
            verify_callback(SECRET, "other-app", &headers(TS, C1_SIG), None, body, now()),
            Err(CallbackRejection::WrongAppId)
        );
        let mut h = headers(TS, C1_SIG);
        h.insert(HEADER_NOTIFY_ALGORITHM, HeaderValue::from_static("hmac-sha1"));
        assert_eq!(
            verify_callback(SECRET, APP_ID, &h, None, body, now()),
            Err(CallbackRejection::UnsupportedAlgorithm)
        );
        assert_eq!(
            verify_callback(SECRET, APP_ID, &headers("soon", C1_SIG), None, body, now()),
            Err(CallbackRejection::BadTimestamp)
        );
        assert_eq!(
            verify_callback(SECRET, APP_ID, &headers(TS, "zz"), None, body, now()),
            Err(CallbackRejection::BadSignature)
        );
    }

    #[test]
    fn rejection_messages_never_contain_the_secret_or_the_expected_signature() {
        let tampered = C1_BODY.replace("true", "false");
        let expected = callback_signature(SECRET, TS, None, tampered.as_bytes());
        let err = verify_callback(SECRET, APP_ID, &headers(TS, C1_SIG), None, tampered.as_bytes(), now()).unwrap_err();
        let text = format!("{err} {err:?}");
        assert!(!text.contains(&expected) && !text.contains(C1_SIG));
        assert!(!text.contains(std::str::from_utf8(SECRET).unwrap()));
    }

    #[test]
    fn parse_turns_c1_into_a_face_result() {
        let parsed = parse_callback(C1_BODY.as_bytes()).unwrap();
        assert_eq!(
            parsed,
            ParsedCallback::Event {
                action: ACTION_FACE_RESULT,
                event: InboxEvent::IdentityResult {
                    flow_id: FlowId::parse("flowId", "803719636976683872").unwrap(),
                    success: true,
                    fail_reason: None,
                    occurred_at: Some(at_ms(1732262400100)),
                }
            }
        );
    }

    #[test]
    fn parse_reads_identity_results_in_each_form_of_esign_md_11() {
        let result = |action: &str| {
            let action = if action.is_empty() { String::new() } else { format!(r#""action":"{action}","#) };
            let body = format!(
                r#"{{{action}"flowId":"f9","success":true,"accountId":"a1","contextId":"ETC1","agentFlowId":"f8"}}"#
            );
            parse_callback(body.as_bytes()).unwrap()
        };
        for (sent, named) in [
            ("identity_psn_end", ACTION_PSN_END),
            ("identity_org_end", ACTION_ORG_END),
            ("", ACTION_NONE),
            ("FACE_AUTH_RESULT", ACTION_FACE_RESULT),
        ] {
            let expected = InboxEvent::IdentityResult {
                flow_id: FlowId::parse("flowId", "f9").unwrap(),
                success: true,
                fail_reason: None,
                occurred_at: None,
            };
            assert_eq!(result(sent), ParsedCallback::Event { action: named, event: expected }, "{sent}");
        }
        // Without an action and without a flow it is nothing this service knows.
        assert_eq!(parse_callback(br#"{"success":true}"#), Err(CallbackParseError::MissingField("action")));
        assert_eq!(parse_callback(br#"{"flowId":"f9"}"#), Err(CallbackParseError::MissingField("success")));
    }

    #[test]
    fn parse_reads_a_failed_face_result_with_a_seconds_timestamp_and_unknown_fields() {
        let body = br#"{"action":"FACE_AUTH_RESULT","flowId":"f1","success":false,"failReason":"not the same person","timestamp":1732262400,"extra":{"a":[1]}}"#;
        let ParsedCallback::Event {
            event: InboxEvent::IdentityResult { success, fail_reason, occurred_at, .. }, ..
        } = parse_callback(body).unwrap()
        else {
            panic!("not a face result")
        };
        assert!(!success);
        assert_eq!(fail_reason.as_deref(), Some("not the same person"));
        assert_eq!(occurred_at, Some(at_ms(1732262400000)));
    }

    #[test]
    fn parse_reads_authorization_results_and_ignores_in_progress() {
        let body = br#"{"action":"AUTHORIZATION_RESULT","authId":"38713871111157525071","status":3,"authDes":"refused","timestamp":1732262400100}"#;
        let ParsedCallback::Event { event: InboxEvent::AuthorizationResult { status, auth_des, .. }, .. } =
            parse_callback(body).unwrap()
        else {
            panic!("not an authorization result")
        };
        assert_eq!(status, AuthorizationStatus::Failed);
        assert_eq!(auth_des.as_deref(), Some("refused"));
        let pending = br#"{"action":"AUTHORIZATION_RESULT","authId":"a1","status":1,"timestamp":1732262400100}"#;
        assert_eq!(parse_callback(pending).unwrap(), ParsedCallback::Ignored { action: "AUTHORIZATION_RESULT".into() });
    }

    #[test]
    fn parse_ignores_unknown_actions_such_as_page_opened() {
        let body = br#"{"action":"FACE_AUTH_PAGE_OPENED","flowId":"f1","timestamp":1}"#;
        assert_eq!(parse_callback(body).unwrap(), ParsedCallback::Ignored { action: "FACE_AUTH_PAGE_OPENED".into() });
    }

    #[test]
    fn parse_rejects_garbage_without_panicking() {
        let cases: [&[u8]; 14] = [
            b"",
            b"not json",
            b"[]",
            b"null",
            b"{\"action\":5}",
            b"{}",
            b"{\"action\":\"FACE_AUTH_RESULT\"}",
            b"{\"action\":\"FACE_AUTH_RESULT\",\"flowId\":\"a/b\",\"success\":true,\"timestamp\":1}",
            b"{\"action\":\"FACE_AUTH_RESULT\",\"flowId\":\"f\",\"success\":1,\"timestamp\":1}",
            b"{\"action\":\"FACE_AUTH_RESULT\",\"flowId\":\"f\",\"success\":true,\"timestamp\":-1}",
            b"{\"action\":\"FACE_AUTH_RESULT\",\"flowId\":\"f\",\"success\":true,\"timestamp\":9223372036854775807}",
            b"{\"action\":\"AUTHORIZATION_RESULT\",\"authId\":\"a\",\"status\":9,\"timestamp\":1}",
            b"{\"action\":\"AUTHORIZATION_RESULT\",\"authId\":\"a\",\"status\":2.5,\"timestamp\":1}",
            b"\xff\xfe{",
        ];
        for body in cases {
            assert!(parse_callback(body).is_err(), "{}", String::from_utf8_lossy(body));
        }
    }

    #[test]
    fn timestamps_below_10_to_the_12_are_seconds() {
        assert_eq!(timestamp_to_millis(1732262400), Some(1732262400000));
        assert_eq!(timestamp_to_millis(1732262400123), Some(1732262400123));
        assert_eq!(timestamp_to_millis(-5), None);
    }
}
