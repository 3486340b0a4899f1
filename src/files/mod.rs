//! The `Documents` port over the `object_store` crate: a directory (`file://…`, dev and tests) or
//! an S3-compatible bucket (`s3://bucket[/prefix]`, production). Every object is encrypted with the
//! data keys (AES-256-GCM, the associated data naming the object) before it leaves the process, so
//! the bucket never holds a readable picture; rotated keys still open old objects.
pub mod links;

use std::sync::Arc;

use async_trait::async_trait;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use secrecy::ExposeSecret;

use crate::config::S3Settings;
use crate::domain::doc_ports::{DocumentError, Documents};
use crate::store::cipher::Cipher;

pub use links::{FILES_PATH, LinkSigner};

/// The associated data of an object: binds its ciphertext to its key, so an object copied to
/// another key (another member's, another side of the card) does not decrypt.
fn aad(key: &str) -> String {
    format!("objects:{key}")
}

/// Pictures in an object store, encrypted.
#[derive(Clone)]
pub struct ObjectDocuments {
    store: Arc<dyn ObjectStore>,
    cipher: Cipher,
}

impl std::fmt::Debug for ObjectDocuments {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ObjectDocuments({})", self.store)
    }
}

impl ObjectDocuments {
    /// Opens `url`: `file:///abs/dir` (created if missing) or `s3://bucket[/prefix]` with `s3`'s
    /// settings (those unset are left to the AWS defaults: a pod's or instance's role).
    pub fn open(url: &str, s3: &S3Settings, cipher: Cipher) -> Result<Self, String> {
        let store: Arc<dyn ObjectStore> = if let Some(dir) = url.strip_prefix("file://") {
            std::fs::create_dir_all(dir).map_err(|e| format!("OBJECT_STORE_URL: cannot create {dir}: {e}"))?;
            Arc::new(LocalFileSystem::new_with_prefix(dir).map_err(|e| format!("OBJECT_STORE_URL: {e}"))?)
        } else if url.starts_with("s3://") {
            // from_env: a pod's web-identity role (AWS_ROLE_ARN, AWS_WEB_IDENTITY_TOKEN_FILE) works as usual.
            // `s3://bucket/prefix`: the builder takes the bucket; the prefix is kept by a PrefixStore.
            let rest = url.trim_start_matches("s3://");
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
            if let Some(region) = &s3.region {
                builder = builder.with_region(region);
            }
            if let Some(endpoint) = &s3.endpoint_url {
                // A local S3-compatible server (a test's, a MinIO beside the service) speaks HTTP.
                builder = builder.with_endpoint(endpoint).with_allow_http(endpoint.starts_with("http://"));
            }
            if let Some(id) = &s3.access_key_id {
                builder = builder.with_access_key_id(id.expose_secret());
            }
            if let Some(secret) = &s3.secret_access_key {
                builder = builder.with_secret_access_key(secret.expose_secret());
            }
            let s3 = builder.build().map_err(|e| format!("OBJECT_STORE_URL: {e}"))?;
            match prefix.trim_matches('/') {
                "" => Arc::new(s3),
                prefix => Arc::new(PrefixStore::new(s3, prefix)),
            }
        } else {
            return Err("OBJECT_STORE_URL must start with file:// or s3://".into());
        };
        Ok(Self { store, cipher })
    }

    fn path(key: &str) -> Result<Path, DocumentError> {
        Path::parse(key).map_err(|_| DocumentError::NotFound)
    }
}

#[async_trait]
impl Documents for ObjectDocuments {
    async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<(), DocumentError> {
        let sealed =
            self.cipher.seal_bytes(&aad(key), &bytes).map_err(|e| DocumentError::Unavailable(e.to_string()))?;
        self.store
            .put(&Self::path(key)?, PutPayload::from(sealed))
            .await
            .map_err(|e| DocumentError::Unavailable(e.to_string()))?;
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Vec<u8>, DocumentError> {
        let got = match self.store.get(&Self::path(key)?).await {
            Ok(got) => got,
            Err(object_store::Error::NotFound { .. }) => return Err(DocumentError::NotFound),
            Err(e) => return Err(DocumentError::Unavailable(e.to_string())),
        };
        let sealed = got.bytes().await.map_err(|e| DocumentError::Unavailable(e.to_string()))?;
        self.cipher.open_bytes(&aad(key), &sealed).map_err(|e| DocumentError::Unreadable(e.to_string()))
    }
}
