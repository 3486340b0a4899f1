//! The e签宝 adapter: request signing, the client behind [`crate::domain::ports::ESign`], the wire
//! types, and callback verification. Only this module and `crate::sim` know e签宝's wire format.
mod answer;
pub mod api;
pub mod callback;
#[cfg(test)]
mod callback_props;
pub mod client;
pub mod codes;
pub mod sign;

pub use callback::{
    CallbackParseError, CallbackRejection, ParsedCallback, callback_signature, parse_callback, verify_callback,
};
pub use client::{ClientBuildError, EsignClient, EsignSettings};
pub use sign::{canonical_path_and_query, content_md5, signature, string_to_sign};

/// reqwest is built with `rustls-no-provider` and panics when building a client without a process
/// default; `main` installs ring at start-up, this covers tests and embedders. Installing twice is
/// harmless (the second attempt is refused and ignored).
pub(crate) fn ensure_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
