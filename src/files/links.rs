//! Signed links to kept pictures: `GET /files/{object}?exp=…&sig=…`, the signature an HMAC-SHA256
//! (key `FILE_LINK_KEY`) over the path and the expiry, checked in constant time. Links are minted
//! fresh on each read of the detail, so a leaked one dies with its short life.
use std::time::Duration;

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// The route prefix; an object key follows it.
pub const FILES_PATH: &str = "/files";

/// Mints and checks links.
#[derive(Clone)]
pub struct LinkSigner {
    /// HMAC keyed once: each signature starts from the key's padded state instead of hashing
    /// the key blocks again (a detail signs a link per picture).
    mac: Hmac<Sha256>,
    base_url: String,
    ttl: Duration,
}

impl std::fmt::Debug for LinkSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LinkSigner({}, ttl {:?}, <key>)", self.base_url, self.ttl)
    }
}

/// Why a link was refused (logged; never the key or the signature).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkRefusal {
    Malformed,
    Expired,
    BadSignature,
}

impl LinkSigner {
    pub fn new(key: SecretString, base_url: &str, ttl: Duration) -> Self {
        // A key of any length is accepted by HMAC: `new_from_slice` cannot fail for it.
        let mac = Hmac::<Sha256>::new_from_slice(key.expose_secret().as_bytes())
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        Self { mac, base_url: base_url.trim_end_matches('/').to_owned(), ttl }
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// The hex HMAC of `path` (given in parts) and `exp`.
    /// `exp` is the expiry as the link writes it (the decimal seconds, no sign or zeros before).
    fn signature(&self, path: &[&str], exp: &str) -> [u8; 64] {
        let mut mac = self.mac.clone();
        for part in path {
            mac.update(part.as_bytes());
        }
        mac.update(b"\n");
        mac.update(exp.as_bytes());
        let mut hex = [0u8; 64];
        // 32 bytes always fit 64 hex digits.
        let _ = hex::encode_to_slice(mac.finalize().into_bytes(), &mut hex);
        hex
    }

    /// A link to `object` valid for the configured life from `now`.
    pub fn mint(&self, object: &str, now: DateTime<Utc>) -> String {
        // Written once for the signature and the link: six links in every detail answered.
        let exp = (now.timestamp() + self.ttl.as_secs() as i64).to_string();
        let sig = self.signature(&[FILES_PATH, "/", object], &exp);
        let mut link = String::with_capacity(self.base_url.len() + FILES_PATH.len() + object.len() + 100);
        link.push_str(&self.base_url);
        link.push_str(FILES_PATH);
        link.push('/');
        link.push_str(object);
        link.push_str("?exp=");
        link.push_str(&exp);
        link.push_str("&sig=");
        link.push_str(std::str::from_utf8(&sig).unwrap_or_default());
        link
    }

    /// Checks a link's `exp` and `sig` for `path` (as requested, `/files/...`); answers the seconds
    /// it has left.
    pub fn verify(&self, path: &str, exp: &str, sig: &str, now: DateTime<Utc>) -> Result<u64, LinkRefusal> {
        let exp: i64 = exp.parse().map_err(|_| LinkRefusal::Malformed)?;
        // Signed as minted: the value written anew, so a link's expiry is checked as a number.
        let expected = self.signature(&[path], &exp.to_string());
        if !bool::from(expected.as_slice().ct_eq(sig.as_bytes())) {
            return Err(LinkRefusal::BadSignature);
        }
        let left = exp - now.timestamp();
        if left <= 0 {
            return Err(LinkRefusal::Expired);
        }
        // A link never outlives the configured life, even if signed with a longer one.
        Ok((left as u64).min(self.ttl.as_secs()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> LinkSigner {
        LinkSigner::new(SecretString::from("k".repeat(32)), "http://127.0.0.1:8080/", Duration::from_secs(900))
    }

    fn parts(link: &str) -> (String, String, String) {
        let url = url::Url::parse(link).unwrap();
        let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
        (url.path().to_owned(), q["exp"].clone(), q["sig"].clone())
    }

    #[test]
    fn minted_links_verify_until_they_expire_and_not_when_tampered() {
        let s = signer();
        let now = Utc::now();
        let link = s.mint("M1/idcard-front-ab", now);
        assert!(link.starts_with("http://127.0.0.1:8080/files/M1/idcard-front-ab?exp="), "{link}");
        let (path, exp, sig) = parts(&link);
        assert_eq!(s.verify(&path, &exp, &sig, now), Ok(900));
        assert_eq!(s.verify(&path, &exp, &sig, now + chrono::Duration::seconds(901)), Err(LinkRefusal::Expired));
        assert_eq!(s.verify("/files/M2/idcard-front-ab", &exp, &sig, now), Err(LinkRefusal::BadSignature));
        let later = (exp.parse::<i64>().unwrap() + 3600).to_string();
        assert_eq!(s.verify(&path, &later, &sig, now), Err(LinkRefusal::BadSignature));
        assert_eq!(s.verify(&path, "soon", &sig, now), Err(LinkRefusal::Malformed));
        let other = LinkSigner::new(SecretString::from("x".repeat(32)), "http://h", Duration::from_secs(900));
        assert_eq!(other.verify(&path, &exp, &sig, now), Err(LinkRefusal::BadSignature));
    }
}
