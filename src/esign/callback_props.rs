//! Property tests: the callback verifier and parser, fed arbitrary headers and bodies, answer a
//! verdict — never a panic — and their messages never echo what they were sent.
use axum::http::{HeaderMap, HeaderValue};
use chrono::{TimeZone, Utc};
use proptest::prelude::*;
use serde_json::{Value, json};

use super::callback::*;
use crate::config::DEV_APP_ID as APP_ID;

const SECRET: &[u8] = b"etc-esign-prop-secret-not-real-01";

/// JSON of any shape, bounded.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        ".{0,40}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(".{0,12}", inner, 0..6).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A callback-like object: a known or unknown action beside arbitrary values of the fields read.
fn callback_like() -> impl Strategy<Value = Value> {
    let action = prop_oneof![
        Just(json!("FACE_AUTH_RESULT")),
        Just(json!("AUTHORIZATION_RESULT")),
        ".{0,100}".prop_map(Value::String),
        any_json()
    ];
    (action, any_json(), any_json(), any_json(), any_json(), any_json()).prop_map(
        |(action, id, success, status, timestamp, reason)| {
            json!({
                "action": action, "flowId": id.clone(), "authId": id, "success": success,
                "status": status, "timestamp": timestamp, "failReason": reason.clone(), "authDes": reason
            })
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    #[test]
    fn any_bytes_parse_to_a_verdict_without_panicking(body in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse_callback(&body);
    }

    #[test]
    fn any_callback_shaped_object_parses_to_a_verdict_that_echoes_no_value(v in callback_like()) {
        let body = serde_json::to_vec(&v).expect("serializable");
        match parse_callback(&body) {
            Ok(ParsedCallback::Ignored { action }) => prop_assert!(action.chars().count() <= 64),
            Ok(ParsedCallback::Event { .. }) => {}
            Err(e) => {
                let msg = e.to_string();
                for field in ["flowId", "failReason"] {
                    if let Some(Value::String(s)) = v.get(field) && s.chars().count() >= 8 {
                        prop_assert!(!msg.contains(s.as_str()), "{} echoes {}", msg, s);
                    }
                }
            }
        }
    }

    #[test]
    fn arbitrary_headers_never_verify_and_never_panic(
        app_id in ".{0,20}", alg in ".{0,20}", ts in ".{0,20}", sig in "[0-9a-f]{0,80}|.{0,80}",
        body in prop::collection::vec(any::<u8>(), 0..128),
    ) {
        let mut h = HeaderMap::new();
        for (name, value) in [
            ("X-Tsign-Open-App-Id", app_id), ("X-Tsign-Open-SIGNATURE-ALGORITHM", alg),
            ("X-Tsign-Open-TIMESTAMP", ts), ("X-Tsign-Open-SIGNATURE", sig),
        ] {
            if let Ok(v) = HeaderValue::from_str(&value) {
                h.insert(name, v);
            }
        }
        let now = Utc.timestamp_millis_opt(1_732_262_400_000).single().expect("instant");
        prop_assert!(verify_callback(SECRET, APP_ID, &h, None, &body, now).is_err());
    }

    #[test]
    fn a_signed_callback_verifies_and_any_changed_byte_does_not(
        body in prop::collection::vec(any::<u8>(), 1..256), flip in any::<prop::sample::Index>(),
    ) {
        let ts = "1732262400123";
        let mut h = HeaderMap::new();
        h.insert("X-Tsign-Open-App-Id", HeaderValue::from_static(APP_ID));
        h.insert("X-Tsign-Open-SIGNATURE-ALGORITHM", HeaderValue::from_static("hmac-sha256"));
        h.insert("X-Tsign-Open-TIMESTAMP", HeaderValue::from_static(ts));
        let sig = callback_signature(SECRET, ts, None, &body);
        h.insert("X-Tsign-Open-SIGNATURE", HeaderValue::from_str(&sig).expect("hex"));
        let now = Utc.timestamp_millis_opt(1_732_262_400_000).single().expect("instant");
        prop_assert!(verify_callback(SECRET, APP_ID, &h, None, &body, now).is_ok());
        let mut tampered = body.clone();
        let i = flip.index(tampered.len());
        tampered[i] ^= 0x01;
        prop_assert!(verify_callback(SECRET, APP_ID, &h, None, &tampered, now).is_err());
    }
}
