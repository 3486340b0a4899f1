//! The callback receiver's two steps on untrusted bytes: verification of the headers and the raw
//! body, then parsing of the body. Neither may panic, whatever arrives.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = etc_esign::esign::parse_callback(data);

    // Headers from the first bytes, the rest as the body.
    let (head, body) = data.split_at(data.len().min(96));
    let mut headers = http::HeaderMap::new();
    let names = ["X-Tsign-Open-App-Id", "X-Tsign-Open-TIMESTAMP", "X-Tsign-Open-SIGNATURE", "X-Tsign-Open-SIGNATURE-ALGORITHM"];
    for (name, chunk) in names.iter().zip(head.chunks(24)) {
        if let Ok(value) = http::HeaderValue::from_bytes(chunk) {
            headers.insert(*name, value);
        }
    }
    let now = chrono::Utc::now();
    let app_id = etc_esign::config::DEV_APP_ID;
    let _ = etc_esign::esign::verify_callback(b"fuzz-secret-not-real", app_id, &headers, None, body, now);
});
