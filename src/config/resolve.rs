//! Reading and checking the settings: each reads as missing, given or invalid (`Setting`), then
//! `serve` requires and `dev` defaults the missing ones, and every problem is named in one run.
use std::{path::PathBuf, time::Duration};

use secrecy::{ExposeSecret, SecretString};

use super::{
    AppConfig, ConfigErrors, DEV_APP_ID, DEV_APP_SECRET, DEV_DATA_KEYS, DEV_DATABASE_URL, DEV_REPLICA_ID, DEV_SYS_ID,
    DEV_TOKEN, ServeArgs,
};
use crate::domain::EvidenceKeys;
use crate::esign::EsignSettings;
use crate::grpc::auth::CallerCredential;
use crate::reconciler::ReconcilerSettings;
use crate::store::cipher::{DataKey, parse_keys};

/// A setting as read: not given, given and usable, or given and refused (its problem already
/// recorded). Whether a missing one is an error is decided on this, by the command reading it.
#[derive(Debug)]
pub(super) enum Setting<T> {
    Missing,
    Given(T),
    Invalid,
}

use Setting::{Given, Invalid, Missing};

impl<T> Setting<T> {
    /// The value, recording "`name` is required" when it is missing.
    pub(super) fn required(self, name: &str, errors: &mut Vec<String>) -> Option<T> {
        match self {
            Missing => {
                errors.push(format!("{name} is required"));
                None
            }
            Given(v) => Some(v),
            Invalid => None,
        }
    }

    /// The value, or `default` when it is missing.
    pub(super) fn or_else(self, default: impl FnOnce() -> T) -> Option<T> {
        match self {
            Missing => Some(default()),
            Given(v) => Some(v),
            Invalid => None,
        }
    }

    pub(super) fn given(self) -> Option<T> {
        match self {
            Given(v) => Some(v),
            Missing | Invalid => None,
        }
    }

    pub(super) fn is_missing(&self) -> bool {
        matches!(self, Missing)
    }

    /// Parses a given value, recording why it is refused.
    pub(super) fn parse<U>(self, parse: impl FnOnce(T) -> Result<U, String>, errors: &mut Vec<String>) -> Setting<U> {
        match self {
            Missing => Missing,
            Given(v) => match parse(v) {
                Ok(u) => Given(u),
                Err(e) => {
                    errors.push(e);
                    Invalid
                }
            },
            Invalid => Invalid,
        }
    }
}

/// A plain text setting: unset or blank is missing.
pub(super) fn text(value: &Option<String>) -> Setting<String> {
    match value.as_deref().map(str::trim) {
        None | Some("") => Missing,
        Some(v) => Given(v.to_owned()),
    }
}

/// A secret given as `NAME` or as a file named by `NAME_FILE`, not both; blank is missing.
pub(super) fn read_secret(
    value: &Option<String>,
    file: &Option<PathBuf>,
    name: &str,
    errors: &mut Vec<String>,
) -> Setting<SecretString> {
    let raw = match (value, file) {
        (Some(_), Some(_)) => {
            errors.push(format!("{name} and {name}_FILE are both set; give one"));
            return Invalid;
        }
        (Some(v), None) => v.trim().to_owned(),
        (None, Some(path)) => match std::fs::read_to_string(path) {
            Ok(v) => v.trim().to_owned(),
            Err(e) => {
                errors.push(format!("{name}_FILE {} cannot be read: {e}", path.display()));
                return Invalid;
            }
        },
        (None, None) => return Missing,
    };
    if raw.is_empty() { Missing } else { Given(SecretString::from(raw)) }
}

/// Parses `SYS_ID=TOKEN,SYS_ID=TOKEN` (tokens never echoed in errors).
pub fn parse_callers(s: &str) -> Result<Vec<CallerCredential>, String> {
    let mut out = Vec::new();
    for pair in s.split([',', '\n']).map(str::trim).filter(|p| !p.is_empty()) {
        let (id, token) = pair.split_once('=').ok_or("ETC_CALLERS entries must be SYS_ID=TOKEN")?;
        let (id, token) = (id.trim(), token.trim());
        if id.is_empty() || id.len() > 32 || token.is_empty() || token.len() > 32 {
            return Err(format!(
                "ETC_CALLERS entry for '{}' needs a 1-32 character id and token",
                id.chars().take(32).collect::<String>()
            ));
        }
        out.push(CallerCredential { sys_id: id.to_owned(), token: SecretString::from(token.to_owned()) });
    }
    if out.is_empty() {
        return Err("ETC_CALLERS lists no caller".into());
    }
    Ok(out)
}

impl ServeArgs {
    /// Production settings: everything required, no dev secret accepted.
    pub fn resolve_serve(&self) -> Result<AppConfig, ConfigErrors> {
        let mut errors = Vec::new();
        let database_url = text(&self.database_url).required("DATABASE_URL", &mut errors);
        let base_url = text(&self.esign_base_url).required("ESIGN_BASE_URL", &mut errors);
        let app_id = text(&self.esign_app_id).required("ESIGN_APP_ID", &mut errors);
        let public_url = text(&self.public_callback_base_url).required("PUBLIC_CALLBACK_BASE_URL", &mut errors);
        let secret = self.app_secret(&mut errors).required("ESIGN_APP_SECRET (or ESIGN_APP_SECRET_FILE)", &mut errors);
        if secret.as_ref().is_some_and(|s| s.expose_secret() == DEV_APP_SECRET) {
            errors.push("ESIGN_APP_SECRET is the dev secret; serve refuses it".into());
        }
        let callers = self.callers(&mut errors).required("ETC_CALLERS (or ETC_CALLERS_FILE)", &mut errors);
        if callers.as_ref().is_some_and(|cs| cs.iter().any(|c| c.token.expose_secret() == DEV_TOKEN)) {
            errors.push("ETC_CALLERS contains the dev token; serve refuses it".into());
        }
        let keys = self.data_keys(&mut errors).required("DATA_KEYS (or DATA_KEYS_FILE)", &mut errors);
        let dev_key = parse_keys(DEV_DATA_KEYS).ok().and_then(|k| k.into_iter().next());
        if let (Some(keys), Some(dev)) = (&keys, &dev_key)
            && keys.iter().any(|k| k.expose() == dev.expose())
        {
            errors.push("DATA_KEYS contains the dev key; serve refuses it".into());
        }
        let files = self.files_serve(&mut errors);
        let evidence_keys =
            self.evidence_keys(&mut errors).required("EVIDENCE_KEYS (or EVIDENCE_KEYS_FILE)", &mut errors);
        if evidence_keys.as_ref().is_some_and(EvidenceKeys::contains_dev_key) {
            errors.push("EVIDENCE_KEYS contains the dev evidence key; serve refuses it".into());
        }
        let mut cfg = self.finish(
            database_url,
            base_url,
            app_id,
            secret,
            callers,
            (keys, evidence_keys),
            public_url,
            files,
            errors,
        )?;
        cfg.seal_reviewers = self.reviewers().unwrap_or_default();
        Ok(cfg)
    }

    /// dev settings: embedded defaults; `sim_base_url` is the in-process simulator's, used unless
    /// ESIGN_BASE_URL is set.
    pub fn resolve_dev(&self, sim_base_url: Option<String>) -> Result<AppConfig, ConfigErrors> {
        let mut errors = Vec::new();
        let app_id = text(&self.esign_app_id);
        let secret = self.app_secret(&mut errors);
        let (base, app_id, secret) = match (text(&self.esign_base_url), sim_base_url) {
            (Given(base), _) => {
                if app_id.is_missing() || secret.is_missing() {
                    errors.push("with ESIGN_BASE_URL set, dev needs ESIGN_APP_ID and ESIGN_APP_SECRET too".into());
                }
                (Some(base), app_id.given(), secret.given())
            }
            (_, Some(sim)) => {
                (Some(sim), app_id.or_else(|| DEV_APP_ID.into()), secret.or_else(|| SecretString::from(DEV_APP_SECRET)))
            }
            (base, None) => (
                base.required("ESIGN_BASE_URL", &mut errors),
                app_id.required("ESIGN_APP_ID", &mut errors),
                secret.required("ESIGN_APP_SECRET (or ESIGN_APP_SECRET_FILE)", &mut errors),
            ),
        };
        let callers = self
            .callers(&mut errors)
            .or_else(|| vec![CallerCredential { sys_id: DEV_SYS_ID.into(), token: SecretString::from(DEV_TOKEN) }]);
        let db = text(&self.database_url).or_else(|| DEV_DATABASE_URL.into());
        let keys = self.data_keys(&mut errors).or_else(|| parse_keys(DEV_DATA_KEYS).unwrap_or_default());
        let files = self.files_dev(&mut errors);
        let evidence_keys = self.evidence_keys(&mut errors).or_else(EvidenceKeys::dev);
        let public_url = text(&self.public_callback_base_url).given();
        let mut cfg =
            self.finish(db, base, app_id, secret, callers, (keys, evidence_keys), public_url, files, errors)?;
        // dev is one replica on its own database: a fixed id when nothing names it, so that a dev
        // restarted after a crash frees what the dead one held (serve's fallback, the pid, differs
        // at every start and must, as two unnamed serve processes may share a host).
        if self.named_replica().is_none() {
            cfg.replica_id = DEV_REPLICA_ID.into();
        }
        // dev: the dev caller reviews seals unless SEAL_REVIEWERS names others.
        cfg.seal_reviewers = self.reviewers().unwrap_or_else(|| vec![DEV_SYS_ID.to_owned()]);
        Ok(cfg)
    }

    /// SEAL_REVIEWERS as a list of sys ids; `None` when unset or blank.
    fn reviewers(&self) -> Option<Vec<String>> {
        let list: Vec<String> = self
            .seal_reviewers
            .as_deref()?
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        if list.is_empty() { None } else { Some(list) }
    }

    /// The replica id given, or the host's name (in Kubernetes, the pod's).
    fn named_replica(&self) -> Option<String> {
        self.replica_id.clone().or_else(|| std::env::var("HOSTNAME").ok().filter(|h| !h.is_empty()))
    }

    fn app_secret(&self, errors: &mut Vec<String>) -> Setting<SecretString> {
        read_secret(&self.esign_app_secret, &self.esign_app_secret_file, "ESIGN_APP_SECRET", errors)
    }

    fn data_keys(&self, errors: &mut Vec<String>) -> Setting<Vec<DataKey>> {
        read_secret(&self.data_keys, &self.data_keys_file, "DATA_KEYS", errors)
            .parse(|raw| parse_keys(raw.expose_secret()).map_err(|e| format!("DATA_KEYS: {e}")), errors)
    }

    fn evidence_keys(&self, errors: &mut Vec<String>) -> Setting<EvidenceKeys> {
        read_secret(&self.evidence_keys, &self.evidence_keys_file, "EVIDENCE_KEYS", errors)
            .parse(|raw| EvidenceKeys::parse(raw.expose_secret()).map_err(|e| format!("EVIDENCE_KEYS: {e}")), errors)
    }

    fn callers(&self, errors: &mut Vec<String>) -> Setting<Vec<CallerCredential>> {
        read_secret(&self.callers, &self.callers_file, "ETC_CALLERS", errors)
            .parse(|raw| parse_callers(raw.expose_secret()), errors)
    }

    #[allow(clippy::too_many_arguments)]
    fn finish(
        &self,
        database_url: Option<String>,
        esign_base_url: Option<String>,
        app_id: Option<String>,
        secret: Option<SecretString>,
        callers: Option<Vec<CallerCredential>>,
        (data_keys, evidence_keys): (Option<Vec<DataKey>>, Option<EvidenceKeys>),
        public_callback_base_url: Option<String>,
        files: Option<super::FilesConfig>,
        mut errors: Vec<String>,
    ) -> Result<AppConfig, ConfigErrors> {
        if let Some(url) = &database_url
            && !(url.starts_with("sqlite:") || url.starts_with("postgres://") || url.starts_with("postgresql://"))
        {
            errors.push("DATABASE_URL must start with sqlite:, postgres:// or postgresql://".into());
        }
        if let Some(url) = &public_callback_base_url
            && crate::domain::values::parse_http_url("PUBLIC_CALLBACK_BASE_URL", url).is_err()
        {
            errors.push("PUBLIC_CALLBACK_BASE_URL must be an http(s) URL".into());
        }
        if self.database_max_connections == 0 {
            errors.push("DATABASE_MAX_CONNECTIONS must be at least 1".into());
        }
        if self.esign_timeout_ms == 0 || self.esign_connect_timeout_ms == 0 {
            errors.push("ESIGN_TIMEOUT_MS and ESIGN_CONNECT_TIMEOUT_MS must be positive".into());
        }
        if self.poll_initial_ms == 0 || self.poll_max_ms < self.poll_initial_ms {
            errors.push("POLL_INITIAL_MS must be positive and at most POLL_MAX_MS".into());
        }
        // A holder is named `{replica}/{instance}/…`, and a restart frees what `{replica}/` held:
        // a `/` in the id would let one replica free another's leases.
        if self.replica_id.as_deref().is_some_and(|r| r.contains('/')) {
            errors.push("REPLICA_ID must not contain '/'".into());
        }
        if self.reconcile_interval_ms == 0 {
            errors.push("RECONCILE_INTERVAL_MS must be positive".into());
        }
        if self.grpc_max_concurrent_rpcs == 0 || self.grpc_default_timeout_ms == 0 || self.callback_rate_per_sec == 0 {
            errors.push(
                "GRPC_MAX_CONCURRENT_RPCS, GRPC_DEFAULT_TIMEOUT_MS and CALLBACK_RATE_PER_SEC must be positive".into(),
            );
        }
        // A setting left out above has its reason in `errors` already (`Setting` sees to it).
        let (
            Some(database_url),
            Some(base_url),
            Some(app_id),
            Some(app_secret),
            Some(callers),
            Some(data_keys),
            Some(evidence_keys),
            Some(files),
            true,
        ) = (database_url, esign_base_url, app_id, secret, callers, data_keys, evidence_keys, files, errors.is_empty())
        else {
            return Err(ConfigErrors(errors));
        };
        let replica_id = self.named_replica().unwrap_or_else(|| format!("pid-{}", std::process::id()));
        Ok(AppConfig {
            seal_reviewers: Vec::new(),
            grpc_addr: self.grpc_addr,
            http_addr: self.http_addr,
            database_url,
            database_max_connections: self.database_max_connections,
            read_cache_entries: self.read_cache_entries,
            esign: EsignSettings {
                base_url,
                app_id,
                app_secret,
                connect_timeout: Duration::from_millis(self.esign_connect_timeout_ms),
                total_timeout: Duration::from_millis(self.esign_timeout_ms),
                read_retries: self.esign_read_retries,
                retry_base_delay: Duration::from_millis(100),
            },
            callers,
            data_keys,
            evidence_keys,
            public_callback_base_url,
            replica_id,
            poll_initial: Duration::from_millis(self.poll_initial_ms),
            poll_max: Duration::from_millis(self.poll_max_ms),
            reconciler: ReconcilerSettings {
                interval: Duration::from_millis(self.reconcile_interval_ms),
                ..Default::default()
            },
            shutdown_grace: Duration::from_millis(self.shutdown_grace_ms),
            grpc_max_concurrent_rpcs: self.grpc_max_concurrent_rpcs,
            grpc_default_timeout: Duration::from_millis(self.grpc_default_timeout_ms),
            callback_rate_per_sec: self.callback_rate_per_sec,
            files,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// No setting that has no default: flags only, and what the environment could set cleared, so
    /// that a test does not depend on it.
    fn bare() -> ServeArgs {
        ServeArgs {
            database_url: None,
            esign_base_url: None,
            esign_app_id: None,
            esign_app_secret: None,
            esign_app_secret_file: None,
            callers: None,
            callers_file: None,
            data_keys: None,
            data_keys_file: None,
            evidence_keys: None,
            evidence_keys_file: None,
            public_callback_base_url: None,
            seal_reviewers: None,
            ..ServeArgs::from_flags(&[])
        }
    }

    #[test]
    fn dev_lets_its_own_caller_review_seals_unless_seal_reviewers_names_others() {
        let sim = || Some("http://127.0.0.1:8090".to_owned());
        assert_eq!(bare().resolve_dev(sim()).unwrap().seal_reviewers, [DEV_SYS_ID]);
        let named = ServeArgs { seal_reviewers: Some(" R01, ,R02 ".into()), ..bare() };
        assert_eq!(named.resolve_dev(sim()).unwrap().seal_reviewers, ["R01", "R02"]);
        let blank = ServeArgs { seal_reviewers: Some(" ".into()), ..bare() };
        assert_eq!(blank.resolve_dev(sim()).unwrap().seal_reviewers, [DEV_SYS_ID]);
    }

    #[test]
    fn serve_names_every_missing_setting() {
        let err = bare().resolve_serve().unwrap_err().to_string();
        for name in [
            "DATABASE_URL",
            "ESIGN_BASE_URL",
            "ESIGN_APP_ID",
            "ESIGN_APP_SECRET",
            "ETC_CALLERS",
            "PUBLIC_CALLBACK_BASE_URL",
            "EVIDENCE_KEYS",
        ] {
            assert!(err.contains(name), "{name} missing from: {err}");
        }
    }

    #[test]
    fn serve_refuses_the_dev_secret_and_token() {
        let a = ServeArgs {
            database_url: Some("postgres://x@127.0.0.1/db".into()),
            esign_base_url: Some("https://smlopenapi.esign.cn".into()),
            esign_app_id: Some("1".into()),
            esign_app_secret: Some(DEV_APP_SECRET.into()),
            esign_app_secret_file: None,
            callers: Some(format!("E02={DEV_TOKEN}")),
            callers_file: None,
            public_callback_base_url: Some("https://cb.example.com".into()),
            data_keys: Some(DEV_DATA_KEYS.into()),
            data_keys_file: None,
            evidence_keys: Some(crate::domain::DEV_EVIDENCE_KEYS.into()),
            evidence_keys_file: None,
            ..ServeArgs::from_flags(&[])
        };
        let err = a.resolve_serve().unwrap_err().to_string();
        assert!(err.contains("dev secret") && err.contains("dev token") && err.contains("dev key"), "{err}");
        assert!(err.contains("dev evidence key"), "{err}");
        assert!(!err.contains(DEV_APP_SECRET) && !err.contains(DEV_TOKEN), "errors must not echo secrets");
    }

    #[test]
    fn serve_takes_a_blank_setting_for_a_missing_one_and_names_it_once() {
        let a = ServeArgs { database_url: Some("  ".into()), esign_app_secret: Some(String::new()), ..bare() };
        let errors = a.resolve_serve().unwrap_err().0;
        let about = |name: &str| errors.iter().filter(|e| e.starts_with(name)).cloned().collect::<Vec<_>>();
        assert_eq!(about("DATABASE_URL"), ["DATABASE_URL is required"]);
        assert_eq!(about("ESIGN_APP_SECRET"), ["ESIGN_APP_SECRET (or ESIGN_APP_SECRET_FILE) is required"]);
    }

    #[test]
    fn serve_names_an_invalid_setting_without_calling_it_missing() {
        let a = ServeArgs {
            esign_app_secret: Some("s".into()),
            esign_app_secret_file: Some("/nonexistent/secret".into()),
            callers: Some("E02".into()),
            ..bare()
        };
        let errors = a.resolve_serve().unwrap_err().0;
        assert!(errors.iter().any(|e| e.contains("both set")), "{errors:?}");
        assert!(errors.iter().any(|e| e == "ETC_CALLERS entries must be SYS_ID=TOKEN"), "{errors:?}");
        let missing = [
            "ESIGN_APP_SECRET (or ESIGN_APP_SECRET_FILE) is required",
            "ETC_CALLERS (or ETC_CALLERS_FILE) is required",
        ];
        assert!(!errors.iter().any(|e| missing.contains(&e.as_str())), "{errors:?}");
    }

    #[test]
    fn dev_fills_its_defaults_and_names_what_a_named_esign_still_needs() {
        let bare = bare();
        let cfg = bare.resolve_dev(Some("http://127.0.0.1:8090".into())).unwrap();
        assert_eq!((cfg.database_url.as_str(), cfg.esign.app_id.as_str()), (DEV_DATABASE_URL, DEV_APP_ID));
        assert_eq!(cfg.esign.app_secret.expose_secret(), DEV_APP_SECRET);
        assert_eq!(cfg.callers[0].token.expose_secret(), DEV_TOKEN);

        let named = ServeArgs { esign_base_url: Some("https://smlopenapi.esign.cn".into()), ..bare.clone() };
        let errors = named.resolve_dev(None).unwrap_err().0;
        assert_eq!(errors, ["with ESIGN_BASE_URL set, dev needs ESIGN_APP_ID and ESIGN_APP_SECRET too"]);
        let errors = bare.resolve_dev(None).unwrap_err().0;
        assert_eq!(errors.len(), 3, "{errors:?}");
    }

    #[test]
    fn dev_names_its_replica_the_same_at_every_start() {
        let first = bare().resolve_dev(Some("http://127.0.0.1:8090".into())).unwrap().replica_id;
        let again = bare().resolve_dev(Some("http://127.0.0.1:8090".into())).unwrap().replica_id;
        assert_eq!(first, again);
        let host = std::env::var("HOSTNAME").ok().filter(|h| !h.is_empty());
        assert_eq!(first, host.unwrap_or_else(|| DEV_REPLICA_ID.into()));
        let named = ServeArgs { replica_id: Some("pod-1".into()), ..bare() };
        assert_eq!(named.resolve_dev(Some("http://127.0.0.1:8090".into())).unwrap().replica_id, "pod-1");
    }

    #[test]
    fn a_replica_id_with_a_slash_is_refused() {
        let a = ServeArgs { replica_id: Some("pod/1".into()), ..bare() };
        let errors = a.resolve_dev(Some("http://127.0.0.1:8090".into())).unwrap_err().0;
        assert_eq!(errors, ["REPLICA_ID must not contain '/'"]);
    }

    #[test]
    fn callers_parse_pairs_and_reject_long_tokens() {
        assert_eq!(parse_callers("E02=abc, E05=def").unwrap().len(), 2);
        assert!(parse_callers("E02").is_err());
        assert!(parse_callers(&format!("E02={}", "x".repeat(33))).is_err());
        assert!(parse_callers("").is_err());
    }
}
