//! Callbacks posted to an app's receiver as e签宝 posts them. The header names are written out, not
//! taken from the crate: they are e签宝's, and the test checks that the receiver reads those.
use super::{APP_ID, TestApp};

/// Posts a callback signed with `secret`, as e签宝 would.
pub async fn post_callback(app: &TestApp, secret: &str, body: &str) -> reqwest::StatusCode {
    post_callback_to(&app.callback_url(), secret, body).await
}

/// `post_callback` to the receiver at `url`.
pub async fn post_callback_to(url: &str, secret: &str, body: &str) -> reqwest::StatusCode {
    let ts = chrono::Utc::now().timestamp_millis().to_string();
    let sig = etc_esign::esign::callback_signature(secret.as_bytes(), &ts, None, body.as_bytes());
    reqwest::Client::new()
        .post(url)
        .header("X-Tsign-Open-App-Id", APP_ID)
        .header("X-Tsign-Open-TIMESTAMP", ts)
        .header("X-Tsign-Open-SIGNATURE", sig)
        .header("X-Tsign-Open-SIGNATURE-ALGORITHM", "hmac-sha256")
        .header("Content-Type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .expect("callback delivered")
        .status()
}
