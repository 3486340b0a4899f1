//! `GET /files/{object}?exp=…&sig=…`: a kept picture, decrypted, for a link minted by the detail.
//! A wrong, tampered or expired link is 403 and the log names only why (never the key or the
//! signature); the answer carries the picture's type, a private cache no longer than the link's
//! life, and an ETag (a digest of the picture: objects never change under a key).
use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sha2::{Digest, Sha256};

use crate::domain::Service;
use crate::domain::doc_ports::{DocumentError, Documents};
use crate::domain::values::PictureFormat;
use crate::files::{FILES_PATH, LinkSigner};

#[derive(Clone)]
pub struct FilesState {
    pub documents: Arc<dyn Documents>,
    pub links: LinkSigner,
    /// For its clock: links expire as the domain judges time.
    pub service: Service,
}

pub fn router(state: FilesState) -> Router {
    Router::new().route(&format!("{FILES_PATH}/{{*object}}"), get(serve_file)).with_state(Arc::new(state))
}

async fn serve_file(
    State(state): State<Arc<FilesState>>,
    Path(object): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let path = format!("{FILES_PATH}/{object}");
    let (exp, sig) = (query.get("exp").map_or("", String::as_str), query.get("sig").map_or("", String::as_str));
    let left = match state.links.verify(&path, exp, sig, state.service.now()) {
        Ok(left) => left,
        Err(why) => {
            tracing::info!(reason = ?why, "file link refused");
            return (StatusCode::FORBIDDEN, "this link is not valid or has expired").into_response();
        }
    };
    let bytes = match state.documents.get(&object).await {
        Ok(bytes) => bytes,
        Err(DocumentError::NotFound) => return StatusCode::NOT_FOUND.into_response(),
        Err(e @ DocumentError::Unavailable(_)) => {
            tracing::error!(error = %e, "file could not be read");
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
        Err(e @ DocumentError::Unreadable(_)) => {
            tracing::error!(error = %e, "file could not be decrypted");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    let etag = format!("\"{}\"", &hex::encode(Sha256::digest(&bytes))[..32]);
    let cache = format!("private, max-age={left}");
    let content_type = PictureFormat::sniff(&bytes).map_or("application/octet-stream", PictureFormat::content_type);
    let fresh = headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()).is_some_and(|v| v == etag);
    let mut response = if fresh { StatusCode::NOT_MODIFIED.into_response() } else { bytes.into_response() };
    let h = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_TYPE, content_type.to_owned()),
        (header::CACHE_CONTROL, cache),
        (header::ETAG, etag),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
    ] {
        if let Ok(value) = HeaderValue::from_str(&value) {
            h.insert(name, value);
        }
    }
    response
}
