//! The HTTP edge: e签宝's callbacks. Verified on the raw bytes before parsing, stored in the inbox
//! and applied once; answered the way e签宝 expects so it stops retrying.
use std::sync::Arc;

use axum::{
    Router,
    body::Bytes,
    extract::{DefaultBodyLimit, State},
    http::{HeaderMap, StatusCode, Uri},
    response::{IntoResponse, Response},
    routing::post,
};
use secrecy::{ExposeSecret, SecretString};

use crate::domain::Service;
use crate::esign::{ParsedCallback, parse_callback, verify_callback};

/// Where e签宝 posts notifications; the notify URL handed upstream ends with it.
pub const CALLBACK_PATH: &str = "/esign/callback";
/// e签宝's notifications are small JSON objects; anything larger is not one.
const MAX_CALLBACK_BODY: usize = 64 * 1024;

#[derive(Clone)]
pub struct CallbackState {
    pub service: Service,
    pub app_id: String,
    pub app_secret: SecretString,
}

pub fn router(state: CallbackState) -> Router {
    Router::new()
        .route(CALLBACK_PATH, post(receive_callback))
        .layer(DefaultBodyLimit::max(MAX_CALLBACK_BODY))
        .with_state(Arc::new(state))
}

fn answer(status: StatusCode, code: &str, msg: &str) -> Response {
    (status, axum::Json(serde_json::json!({ "code": code, "msg": msg }))).into_response()
}

async fn receive_callback(
    State(state): State<Arc<CallbackState>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let now = state.service.clock_now();
    if let Err(why) =
        verify_callback(state.app_secret.expose_secret().as_bytes(), &state.app_id, &headers, uri.query(), &body, now)
    {
        tracing::warn!(reason = %why, "e签宝 callback rejected");
        return answer(StatusCode::UNAUTHORIZED, "401", &why.to_string());
    }
    let event = match parse_callback(&body) {
        Ok(ParsedCallback::Event(event)) => event,
        Ok(ParsedCallback::Ignored { action }) => {
            tracing::info!(action = %action, "e签宝 notification acknowledged, nothing to apply");
            return answer(StatusCode::OK, "200", "success");
        }
        Err(why) => {
            tracing::warn!(reason = %why, "authentic e签宝 callback with an unreadable body");
            return answer(StatusCode::BAD_REQUEST, "400", &why.to_string());
        }
    };
    match state.service.receive_event(event).await {
        Ok(applied) => {
            tracing::info!(?applied, "e签宝 callback stored");
            answer(StatusCode::OK, "200", "success")
        }
        Err(e) => {
            // Not stored: a non-2xx answer makes e签宝 deliver it again.
            tracing::error!(error = %e, "e签宝 callback could not be stored");
            answer(StatusCode::SERVICE_UNAVAILABLE, "503", "retry later")
        }
    }
}
