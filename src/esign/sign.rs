//! e签宝's request signature ("Signature" auth mode, esign.md §2): pure functions, shared by the
//! client (which signs) and the simulator (which checks, on the bytes it actually received).
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use md5::{Digest, Md5};
use sha2::Sha256;

/// The `Accept` value this service sends (and signs).
pub const ACCEPT: &str = "*/*";
/// The `Content-Type` this service sends; the exact string sent is the string signed.
pub const CONTENT_TYPE: &str = "application/json; charset=UTF-8";
/// The only auth mode this adapter speaks.
pub const AUTH_MODE: &str = "Signature";

/// The App ID, on requests to e签宝 and on its notifications alike (e签宝's spelling; HTTP header
/// names are case-insensitive on the wire).
pub const HEADER_APP_ID: &str = "X-Tsign-Open-App-Id";
/// Request headers. A notification's timestamp and signature are other headers
/// (`callback::HEADER_NOTIFY_*`), with another algorithm.
pub const HEADER_AUTH_MODE: &str = "X-Tsign-Open-Auth-Mode";
pub const HEADER_REQUEST_TIMESTAMP: &str = "X-Tsign-Open-Ca-Timestamp";
pub const HEADER_REQUEST_SIGNATURE: &str = "X-Tsign-Open-Ca-Signature";
pub const HEADER_CONTENT_MD5: &str = "Content-MD5";

/// How far a request timestamp may be from e签宝's clock: 15 minutes, either way (replay protection).
pub const TIMESTAMP_WINDOW_MS: i64 = 15 * 60 * 1000;

/// Base64 of the MD5 of the exact body bytes; the empty string when there is no body. Hashing an
/// empty body (`1B2M2Y8AsgTpgAmY7PhCfg==`) is a classic mistake: e签宝 expects "" for a GET.
pub fn content_md5(body: &[u8]) -> String {
    if body.is_empty() {
        return String::new();
    }
    BASE64.encode(Md5::digest(body))
}

/// The path plus the query with its parameters sorted by name (ASCII), each written as it appears
/// on the wire, joined by `&`. A trailing `?` with nothing after it is dropped.
pub fn canonical_path_and_query(path_and_query: &str) -> String {
    let Some((path, query)) = path_and_query.split_once('?') else {
        return path_and_query.to_owned();
    };
    let mut params: Vec<&str> = query.split('&').filter(|p| !p.is_empty()).collect();
    if params.is_empty() {
        return path.to_owned();
    }
    // Stable sort: parameters repeated under one name keep their wire order.
    params.sort_by(|a, b| param_name(a).as_bytes().cmp(param_name(b).as_bytes()));
    format!("{path}?{}", params.join("&"))
}

fn param_name(param: &str) -> &str {
    param.split_once('=').map_or(param, |(name, _)| name)
}

/// The seven-part string to sign: method, Accept, Content-MD5, Content-Type, Date (always empty),
/// then the path — no `Headers` line, so Date's newline is followed directly by the path.
pub fn string_to_sign(
    method: &str,
    accept: &str,
    content_md5: &str,
    content_type: &str,
    path_and_query: &str,
) -> String {
    format!(
        "{}\n{accept}\n{content_md5}\n{content_type}\n\n{}",
        method.to_ascii_uppercase(),
        canonical_path_and_query(path_and_query)
    )
}

/// Base64( HMAC-SHA256( key = App Secret, message = string to sign ) ).
pub fn signature(secret: &[u8], string_to_sign: &str) -> String {
    BASE64.encode(hmac_sha256(secret, string_to_sign.as_bytes()))
}

/// HMAC-SHA256 over a message given in parts (so callers need not concatenate secrets-adjacent data).
pub(crate) fn hmac_sha256_parts(secret: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    // HMAC takes keys of any length (long ones are hashed first): this cannot fail, whatever the secret.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("HMAC accepts keys of any length");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

fn hmac_sha256(secret: &[u8], message: &[u8]) -> [u8; 32] {
    hmac_sha256_parts(secret, &[message])
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"etc-esign-demo-secret-not-real-01";

    #[test]
    fn v1_get_without_body_signs_an_empty_content_md5_line() {
        let path = "/v2/identity/auth/api/common/803719636976683872/outline";
        assert_eq!(content_md5(b""), "");
        let sts = string_to_sign("GET", ACCEPT, "", CONTENT_TYPE, path);
        assert_eq!(
            sts,
            "GET\n*/*\n\napplication/json; charset=UTF-8\n\n/v2/identity/auth/api/common/803719636976683872/outline"
        );
        assert_eq!(signature(SECRET, &sts), "1pqcPFSsjAIVrxM7VCcQki1pbvdEWPGzYBoxTJD8mCg=");
    }

    #[test]
    fn v2_post_with_utf8_body_matches_the_vector() {
        let body = r#"{"thirdPartyUserId":"ETC000123456","name":"张三","idType":"CRED_PSN_CH_IDCARD","idNumber":"11010519491231002X","mobile":"13800138000"}"#;
        assert_eq!(body.len(), 136);
        let md5 = content_md5(body.as_bytes());
        assert_eq!(md5, "mxXdCCRVA+eGrNgsqfj14A==");
        let sts = string_to_sign("POST", ACCEPT, &md5, CONTENT_TYPE, "/v1/accounts/createByThirdPartyUserId");
        assert_eq!(
            sts,
            "POST\n*/*\nmxXdCCRVA+eGrNgsqfj14A==\napplication/json; charset=UTF-8\n\n/v1/accounts/createByThirdPartyUserId"
        );
        assert_eq!(signature(SECRET, &sts), "ROIY5OhGMCGWkieYBNpwPkril883eWOVTShOgkMgRRU=");
    }

    #[test]
    fn v3_face_start_matches_the_vector() {
        let body = r#"{"faceauthMode":"ZHIMACREDIT","repetition":true,"callbackUrl":"https://etc.example.com/face/done","contextId":"ETC000123456","notifyUrl":"https://esign-callback.etc.example.com/esign/callback"}"#;
        assert_eq!(body.len(), 193);
        let md5 = content_md5(body.as_bytes());
        assert_eq!(md5, "2v//ZVjnf+mf32ndMTXHzw==");
        let sts = string_to_sign(
            "POST",
            ACCEPT,
            &md5,
            CONTENT_TYPE,
            "/v2/identity/auth/api/individual/6b3e1a9f0c2d4e5f8a7b9c0d1e2f3a4b/face",
        );
        assert_eq!(signature(SECRET, &sts), "L1dr7mRQWefyXBiWAMNsUTPlDTT354EK9HDYfQmb9lU=");
    }

    #[test]
    fn v4_query_parameters_are_signed_sorted_by_name() {
        let pq = "/v1/authorizations?pageSize=20&authId=a1b2c3&pageNum=1";
        assert_eq!(canonical_path_and_query(pq), "/v1/authorizations?authId=a1b2c3&pageNum=1&pageSize=20");
        let sts = string_to_sign("GET", ACCEPT, "", CONTENT_TYPE, pq);
        assert_eq!(signature(SECRET, &sts), "isaMwkW3zRS/SucbwCAoaQV9wagOWR4FtFo98EBb4lc=");
    }

    #[test]
    fn canonical_path_drops_a_trailing_question_mark_and_keeps_wire_encoding() {
        assert_eq!(canonical_path_and_query("/a?"), "/a");
        assert_eq!(canonical_path_and_query("/a"), "/a");
        assert_eq!(canonical_path_and_query("/a?b=%E5%BC%A0&a=1+2"), "/a?a=1+2&b=%E5%BC%A0");
        assert_eq!(canonical_path_and_query("/a?flag&b=2&&a"), "/a?a&b=2&flag");
        assert_eq!(canonical_path_and_query("/a?x=2&x=1"), "/a?x=2&x=1");
    }

    #[test]
    fn method_is_upper_cased_in_the_string_to_sign() {
        assert!(string_to_sign("get", ACCEPT, "", CONTENT_TYPE, "/x").starts_with("GET\n"));
    }

    #[test]
    fn a_different_secret_gives_a_different_signature() {
        let sts = string_to_sign("GET", ACCEPT, "", CONTENT_TYPE, "/x");
        assert_ne!(signature(SECRET, &sts), signature(b"another-secret", &sts));
    }
}
