//! The pictures' settings: `serve` requires the object store, the link key and the public base URL
//! of the links; `dev` keeps pictures under ./data/objects, signs with a dev key and links to its
//! own HTTP address.
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

use super::resolve::{Setting, read_secret, text};
use super::{DEV_FILE_LINK_KEY, FilesConfig, S3Settings, ServeArgs};

/// A link key shorter than this is guessable.
const MIN_LINK_KEY_CHARS: usize = 32;

impl ServeArgs {
    fn object_store_url(&self, errors: &mut Vec<String>) -> Setting<String> {
        text(&self.object_store_url).parse(
            |url| {
                if url.starts_with("s3://") || url.starts_with("file:///") {
                    Ok(url)
                } else {
                    Err("OBJECT_STORE_URL must be s3://bucket[/prefix] or file:///absolute/dir".into())
                }
            },
            errors,
        )
    }

    fn link_key(&self, errors: &mut Vec<String>) -> Setting<SecretString> {
        read_secret(&self.file_link_key, &self.file_link_key_file, "FILE_LINK_KEY", errors).parse(
            |key| {
                if key.expose_secret().starts_with("REPLACE_WITH") {
                    Err("FILE_LINK_KEY is the template's placeholder".into())
                } else if key.expose_secret().chars().count() < MIN_LINK_KEY_CHARS {
                    Err(format!("FILE_LINK_KEY must be at least {MIN_LINK_KEY_CHARS} characters"))
                } else {
                    Ok(key)
                }
            },
            errors,
        )
    }

    fn public_files_base_url(&self, errors: &mut Vec<String>) -> Setting<String> {
        text(&self.public_files_base_url).parse(
            |url| {
                crate::domain::values::parse_http_url("PUBLIC_FILES_BASE_URL", &url)
                    .map_err(|_| "PUBLIC_FILES_BASE_URL must be an http(s) URL".to_owned())
            },
            errors,
        )
    }

    fn link_ttl(&self, errors: &mut Vec<String>) -> Option<Duration> {
        if self.file_link_ttl_secs == 0 || self.file_link_ttl_secs > 24 * 3600 {
            errors.push("FILE_LINK_TTL_SECS must be between 1 and 86400".into());
            return None;
        }
        Some(Duration::from_secs(self.file_link_ttl_secs))
    }

    fn s3(&self, errors: &mut Vec<String>) -> Option<S3Settings> {
        let id = read_secret(&self.aws_access_key_id, &self.aws_access_key_id_file, "AWS_ACCESS_KEY_ID", errors);
        let secret =
            read_secret(&self.aws_secret_access_key, &self.aws_secret_access_key_file, "AWS_SECRET_ACCESS_KEY", errors);
        let endpoint_url = text(&self.aws_endpoint_url).parse(
            |url| {
                crate::domain::values::parse_http_url("AWS_ENDPOINT_URL", &url)
                    .map_err(|_| "AWS_ENDPOINT_URL must be an http(s) URL".to_owned())
            },
            errors,
        );
        Some(S3Settings {
            region: text(&self.aws_region).given(),
            endpoint_url: endpoint_url.given(),
            access_key_id: id.given(),
            secret_access_key: secret.given(),
        })
    }

    /// Production: each setting given, the dev key refused.
    pub(super) fn files_serve(&self, errors: &mut Vec<String>) -> Option<FilesConfig> {
        let url = self.object_store_url(errors).required("OBJECT_STORE_URL", errors);
        let key = self.link_key(errors).required("FILE_LINK_KEY (or FILE_LINK_KEY_FILE)", errors);
        if key.as_ref().is_some_and(|k| k.expose_secret() == DEV_FILE_LINK_KEY) {
            errors.push("FILE_LINK_KEY is the dev key; serve refuses it".into());
        }
        let base = self.public_files_base_url(errors).required("PUBLIC_FILES_BASE_URL", errors);
        let ttl = self.link_ttl(errors);
        let s3 = self.s3(errors);
        Some(FilesConfig {
            object_store_url: url?,
            link_key: key?,
            public_base_url: Some(base?),
            link_ttl: ttl?,
            s3: s3?,
        })
    }

    /// dev: pictures under ./data/objects, the dev link key, links to the HTTP listen address.
    pub(super) fn files_dev(&self, errors: &mut Vec<String>) -> Option<FilesConfig> {
        let url = self.object_store_url(errors).or_else(|| {
            let cwd = std::env::current_dir().unwrap_or_else(|_| std::path::PathBuf::from("/tmp"));
            format!("file://{}", cwd.join("data").join("objects").display())
        });
        let key = self.link_key(errors).or_else(|| SecretString::from(DEV_FILE_LINK_KEY));
        let base = self.public_files_base_url(errors).given();
        let ttl = self.link_ttl(errors);
        let s3 = self.s3(errors);
        Some(FilesConfig { object_store_url: url?, link_key: key?, public_base_url: base, link_ttl: ttl?, s3: s3? })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serve_requires_the_object_store_the_link_key_and_the_links_base() {
        let mut errors = Vec::new();
        let a = ServeArgs {
            object_store_url: None,
            file_link_key: None,
            public_files_base_url: None,
            ..ServeArgs::from_flags(&[])
        };
        assert!(a.files_serve(&mut errors).is_none());
        for name in ["OBJECT_STORE_URL", "FILE_LINK_KEY", "PUBLIC_FILES_BASE_URL"] {
            assert!(errors.iter().any(|e| e.starts_with(name)), "{name} not named: {errors:?}");
        }
        let mut errors = Vec::new();
        let dev_key = ServeArgs { file_link_key: Some(DEV_FILE_LINK_KEY.into()), ..a.clone() };
        dev_key.files_serve(&mut errors);
        assert!(errors.iter().any(|e| e.contains("dev key")), "{errors:?}");
        assert!(!errors.iter().any(|e| e.contains(DEV_FILE_LINK_KEY)), "errors never echo the key");
        let mut errors = Vec::new();
        let bad = ServeArgs {
            object_store_url: Some("ftp://x".into()),
            file_link_key: Some("short".into()),
            public_files_base_url: Some("files".into()),
            ..a
        };
        assert!(bad.files_serve(&mut errors).is_none());
        assert_eq!(errors.len(), 3, "{errors:?}");
    }

    #[test]
    fn dev_keeps_pictures_under_the_data_directory() {
        let mut errors = Vec::new();
        let a = ServeArgs {
            object_store_url: None,
            file_link_key: None,
            public_files_base_url: None,
            ..ServeArgs::from_flags(&[])
        };
        let files = a.files_dev(&mut errors).unwrap();
        assert!(errors.is_empty(), "{errors:?}");
        assert!(files.object_store_url.starts_with("file:///") && files.object_store_url.ends_with("/data/objects"));
        assert_eq!(files.link_key.expose_secret(), DEV_FILE_LINK_KEY);
        assert_eq!((files.public_base_url, files.link_ttl), (None, Duration::from_secs(900)));
    }
}
