//! Encryption at rest of identity numbers and mobiles (PIPL's sensitive personal information):
//! AES-256-GCM with a fresh random nonce per value, the key named in every ciphertext so keys can
//! rotate (old values stay readable, new writes use the current key). The associated data binds a
//! ciphertext to its column and row, so a value copied to another row or column does not decrypt.
use std::collections::HashMap;
use std::fmt;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::{Engine, engine::general_purpose::STANDARD as B64};

use crate::domain::ports::StoreError;

/// Prefix of every ciphertext this version writes: `v1:<key id>:<base64(nonce ‖ ciphertext)>`.
const VERSION: &str = "v1";

/// One data key: an id (stored beside each value) and 32 secret bytes.
#[derive(Clone)]
pub struct DataKey {
    pub id: String,
    key: zeroize::Zeroizing<[u8; 32]>,
}

impl DataKey {
    /// `id` is 1-16 letters, digits, '-' or '_'; `key_b64` is 32 bytes in base64.
    pub fn parse(id: &str, key_b64: &str) -> Result<Self, String> {
        if id.is_empty() || id.len() > 16 || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            return Err("a data key id must be 1-16 letters, digits, '-' or '_'".into());
        }
        let bytes =
            zeroize::Zeroizing::new(B64.decode(key_b64.trim()).map_err(|_| format!("data key {id} is not base64"))?);
        let key: [u8; 32] = bytes.as_slice().try_into().map_err(|_| format!("data key {id} must be 32 bytes"))?;
        Ok(Self { id: id.to_owned(), key: zeroize::Zeroizing::new(key) })
    }

    /// The raw key, for deriving other keys (never logged).
    pub fn expose(&self) -> &[u8; 32] {
        &self.key
    }
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DataKey({}, <secret>)", self.id)
    }
}

/// Parses `ID=BASE64KEY,ID=BASE64KEY`; the first is the current key.
pub fn parse_keys(s: &str) -> Result<Vec<DataKey>, String> {
    let mut keys = Vec::new();
    for pair in s.split([',', '\n']).map(str::trim).filter(|p| !p.is_empty()) {
        let (id, key) = pair.split_once('=').ok_or("DATA_KEYS entries must be ID=BASE64KEY")?;
        let key = DataKey::parse(id.trim(), key)?;
        if keys.iter().any(|k: &DataKey| k.id == key.id) {
            return Err(format!("data key id {} appears twice", key.id));
        }
        keys.push(key);
    }
    if keys.is_empty() {
        return Err("DATA_KEYS lists no key".into());
    }
    Ok(keys)
}

#[derive(Clone)]
pub struct Cipher {
    current: String,
    keys: HashMap<String, Aes256Gcm>,
}

impl fmt::Debug for Cipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Cipher(current: {}, keys: {})", self.current, self.keys.len())
    }
}

impl Cipher {
    /// The first key encrypts; all of them decrypt.
    pub fn new(keys: &[DataKey]) -> Result<Self, String> {
        let current = keys.first().ok_or("at least one data key is needed")?.id.clone();
        let keys = keys
            .iter()
            .map(|k| {
                Aes256Gcm::new_from_slice(k.expose())
                    .map(|c| (k.id.clone(), c))
                    .map_err(|_| "bad key length".to_owned())
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { current, keys })
    }

    /// Encrypts `plain` for the value at `aad` (e.g. `processes.handler_id_number:<member>`).
    pub fn seal(&self, aad: &str, plain: &str) -> Result<String, StoreError> {
        let cipher =
            self.keys.get(&self.current).ok_or_else(|| StoreError::Corrupt("current data key missing".into()))?;
        let nonce_bytes: [u8; 12] = rand::random();
        let sealed = cipher
            .encrypt(Nonce::from_slice(&nonce_bytes), Payload { msg: plain.as_bytes(), aad: aad.as_bytes() })
            .map_err(|_| StoreError::Corrupt("encryption failed".into()))?;
        let mut blob = Vec::with_capacity(12 + sealed.len());
        blob.extend_from_slice(&nonce_bytes);
        blob.extend_from_slice(&sealed);
        Ok(format!("{VERSION}:{}:{}", self.current, B64.encode(blob)))
    }

    /// Decrypts a value written by `seal` with any known key.
    pub fn open(&self, aad: &str, stored: &str) -> Result<String, StoreError> {
        let bad = |why: &str| StoreError::Corrupt(format!("encrypted value unreadable: {why}"));
        let mut parts = stored.splitn(3, ':');
        let (Some(VERSION), Some(key_id), Some(body)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad("unknown format"));
        };
        let cipher = self.keys.get(key_id).ok_or_else(|| bad("its key is not configured"))?;
        let blob = B64.decode(body).map_err(|_| bad("not base64"))?;
        if blob.len() < 12 + 16 {
            return Err(bad("too short"));
        }
        let (nonce, sealed) = blob.split_at(12);
        let plain = cipher
            .decrypt(Nonce::from_slice(nonce), Payload { msg: sealed, aad: aad.as_bytes() })
            .map_err(|_| bad("authentication failed"))?;
        String::from_utf8(plain).map_err(|_| bad("not UTF-8"))
    }
}

impl Cipher {
    /// Encrypts a binary object (a picture) for `aad` (its object key): `v1:<key id>:` then the nonce
    /// and the ciphertext, raw. The key id stays readable so that rotated keys still open it.
    pub fn seal_bytes(&self, aad: &str, plain: &[u8]) -> Result<Vec<u8>, StoreError> {
        let cipher =
            self.keys.get(&self.current).ok_or_else(|| StoreError::Corrupt("current data key missing".into()))?;
        let nonce_bytes: [u8; 12] = rand::random();
        let sealed = cipher
            .encrypt(Nonce::from_slice(&nonce_bytes), Payload { msg: plain, aad: aad.as_bytes() })
            .map_err(|_| StoreError::Corrupt("encryption failed".into()))?;
        let mut blob = format!("{VERSION}:{}:", self.current).into_bytes();
        blob.extend_from_slice(&nonce_bytes);
        blob.extend_from_slice(&sealed);
        Ok(blob)
    }

    /// Decrypts an object written by `seal_bytes` with any known key.
    pub fn open_bytes(&self, aad: &str, stored: &[u8]) -> Result<Vec<u8>, StoreError> {
        let bad = |why: &str| StoreError::Corrupt(format!("encrypted object unreadable: {why}"));
        let mut parts = stored.splitn(3, |b| *b == b':');
        let (Some(version), Some(key_id), Some(blob)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad("unknown format"));
        };
        if version != VERSION.as_bytes() {
            return Err(bad("unknown format"));
        }
        let key_id = std::str::from_utf8(key_id).map_err(|_| bad("unknown format"))?;
        let cipher = self.keys.get(key_id).ok_or_else(|| bad("its key is not configured"))?;
        if blob.len() < 12 + 16 {
            return Err(bad("too short"));
        }
        let (nonce, sealed) = blob.split_at(12);
        cipher
            .decrypt(Nonce::from_slice(nonce), Payload { msg: sealed, aad: aad.as_bytes() })
            .map_err(|_| bad("authentication failed"))
    }
}

/// The cipher of the store's own unit tests: one key, not a real one.
#[cfg(test)]
pub(crate) fn test_cipher() -> Cipher {
    let key = DataKey::parse("k1", "ZXRjLWVzaWduLXRlc3QtZGF0YS1rZXktbm90cmVhbCE=").expect("the test key");
    Cipher::new(&[key]).expect("a cipher")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: &str, byte: u8) -> DataKey {
        DataKey::parse(id, &B64.encode([byte; 32])).unwrap()
    }

    #[test]
    fn sealed_values_open_and_never_contain_the_plaintext() {
        let c = Cipher::new(&[key("k1", 1)]).unwrap();
        let a = c.seal("processes.handler_id_number:M1", "11010519491231002X").unwrap();
        let b = c.seal("processes.handler_id_number:M1", "11010519491231002X").unwrap();
        assert_ne!(a, b, "a fresh nonce per value");
        assert!(!a.contains("11010519491231002X"));
        assert!(a.starts_with("v1:k1:"));
        assert_eq!(c.open("processes.handler_id_number:M1", &a).unwrap(), "11010519491231002X");
    }

    #[test]
    fn a_value_moved_to_another_row_does_not_open() {
        let c = Cipher::new(&[key("k1", 1)]).unwrap();
        let a = c.seal("processes.handler_id_number:M1", "11010519491231002X").unwrap();
        assert!(c.open("processes.handler_id_number:M2", &a).is_err());
        assert!(c.open("processes.handler_mobile:M1", &a).is_err());
    }

    #[test]
    fn rotated_keys_read_old_values_and_write_with_the_new_key() {
        let old = Cipher::new(&[key("k1", 1)]).unwrap();
        let v = old.seal("x", "13800138000").unwrap();
        let rotated = Cipher::new(&[key("k2", 2), key("k1", 1)]).unwrap();
        assert_eq!(rotated.open("x", &v).unwrap(), "13800138000");
        assert!(rotated.seal("x", "13800138000").unwrap().starts_with("v1:k2:"));
        let without_old = Cipher::new(&[key("k2", 2)]).unwrap();
        assert!(without_old.open("x", &v).is_err());
    }

    #[test]
    fn objects_seal_open_rotate_and_are_bound_to_their_key() {
        let old = Cipher::new(&[key("k1", 1)]).unwrap();
        let blob = old.seal_bytes("objects:M1/a", b"marker bytes").unwrap();
        assert!(blob.starts_with(b"v1:k1:") && !blob.windows(6).any(|w| w == b"marker"));
        assert_eq!(old.open_bytes("objects:M1/a", &blob).unwrap(), b"marker bytes");
        assert!(old.open_bytes("objects:M1/b", &blob).is_err(), "an object moved to another key");
        let rotated = Cipher::new(&[key("k2", 2), key("k1", 1)]).unwrap();
        assert_eq!(rotated.open_bytes("objects:M1/a", &blob).unwrap(), b"marker bytes");
        assert!(rotated.seal_bytes("x", b"y").unwrap().starts_with(b"v1:k2:"));
        assert!(Cipher::new(&[key("k2", 2)]).unwrap().open_bytes("objects:M1/a", &blob).is_err());
    }

    #[test]
    fn key_lists_are_checked() {
        let k = B64.encode([7u8; 32]);
        assert_eq!(parse_keys(&format!("a={k}, b={k}")).unwrap().len(), 2);
        assert!(parse_keys(&format!("a={k},a={k}")).is_err());
        assert!(parse_keys("a=c2hvcnQ=").is_err());
        assert!(parse_keys("").is_err());
        let err = parse_keys("a=not base64!").unwrap_err();
        assert!(!err.contains("not base64!"), "errors never echo key material");
    }
}
