//! Every setting, as a flag and an environment variable (12-factor), checked before any socket is
//! bound. `serve` insists on each production setting and names every one missing; `dev` fills
//! embedded defaults. Secrets are read from the environment or from files (Kubernetes Secret mounts)
//! and held in `SecretString`.
use std::{net::SocketAddr, path::PathBuf, time::Duration};

use clap::{Args, Parser, Subcommand};
use secrecy::{ExposeSecret, SecretString};

use crate::esign::EsignSettings;
use crate::grpc::auth::CallerCredential;
use crate::reconciler::ReconcilerSettings;
use crate::store::cipher::{DataKey, parse_keys};

/// The dev caller pair `dev` accepts (and `serve` refuses).
pub const DEV_SYS_ID: &str = "E02";
pub const DEV_TOKEN: &str = "dev-token-not-secret";
/// The simulator's dev application (and `serve` refuses the secret).
pub const DEV_APP_ID: &str = "7438000001";
pub const DEV_APP_SECRET: &str = "etc-esign-dev-secret-not-real-000";
pub const DEV_DATABASE_URL: &str = "sqlite://data/etc-esign.db";
/// The dev data key (32 bytes "etc-esign-dev-data-key-not-real!"); `serve` refuses it.
pub const DEV_DATA_KEYS: &str = "dev=ZXRjLWVzaWduLWRldi1kYXRhLWtleS1ub3QtcmVhbCE=";

/// Exit code for a configuration error (EX_USAGE).
pub const EXIT_CONFIG: i32 = 64;

#[derive(Debug, Parser)]
#[command(
    name = "etc-esign",
    version,
    about = "Real-name authentication and silent-signing authorization of ETC members on e签宝"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Production: every required setting must be given.
    Serve(ServeArgs),
    /// Local development: SQLite under ./data, the dev caller pair, and the built-in e签宝 simulator
    /// unless ESIGN_BASE_URL is set.
    Dev(ServeArgs),
    /// Apply database migrations and exit.
    Migrate(MigrateArgs),
    /// Run the e签宝 simulator alone.
    Sim(SimArgs),
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// gRPC listen address.
    #[arg(long, env = "GRPC_ADDR", default_value = "0.0.0.0:50051")]
    pub grpc_addr: SocketAddr,
    /// HTTP listen address (e签宝 callbacks, /metrics).
    #[arg(long, env = "HTTP_ADDR", default_value = "0.0.0.0:8080")]
    pub http_addr: SocketAddr,
    /// `sqlite://path` or `postgres://user@host/db`.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,
    #[arg(long, env = "DATABASE_MAX_CONNECTIONS", default_value_t = 16)]
    pub database_max_connections: u32,
    /// e签宝's base URL: https://smlopenapi.esign.cn (sandbox) or https://openapi.esign.cn.
    #[arg(long, env = "ESIGN_BASE_URL")]
    pub esign_base_url: Option<String>,
    #[arg(long, env = "ESIGN_APP_ID")]
    pub esign_app_id: Option<String>,
    /// The App Secret (prefer ESIGN_APP_SECRET_FILE).
    #[arg(long, env = "ESIGN_APP_SECRET", hide_env_values = true)]
    pub esign_app_secret: Option<String>,
    #[arg(long, env = "ESIGN_APP_SECRET_FILE")]
    pub esign_app_secret_file: Option<PathBuf>,
    #[arg(long, env = "ESIGN_CONNECT_TIMEOUT_MS", default_value_t = 3000)]
    pub esign_connect_timeout_ms: u64,
    #[arg(long, env = "ESIGN_TIMEOUT_MS", default_value_t = 10000)]
    pub esign_timeout_ms: u64,
    /// Extra attempts for e签宝 reads (never for writes).
    #[arg(long, env = "ESIGN_READ_RETRIES", default_value_t = 2)]
    pub esign_read_retries: u32,
    /// Allowed callers, `SYS_ID=TOKEN` pairs separated by commas (prefer ETC_CALLERS_FILE).
    #[arg(long, env = "ETC_CALLERS", hide_env_values = true)]
    pub callers: Option<String>,
    #[arg(long, env = "ETC_CALLERS_FILE")]
    pub callers_file: Option<PathBuf>,
    /// Keys encrypting identity numbers and mobiles at rest: `ID=BASE64(32 bytes)`, comma-separated,
    /// the first one current (prefer DATA_KEYS_FILE). Older keys stay listed to read old values.
    #[arg(long, env = "DATA_KEYS", hide_env_values = true)]
    pub data_keys: Option<String>,
    #[arg(long, env = "DATA_KEYS_FILE")]
    pub data_keys_file: Option<PathBuf>,
    /// The public base URL e签宝 reaches this service's HTTP port at; the notify URL is this plus
    /// /esign/callback. dev default: the HTTP listen address.
    #[arg(long, env = "PUBLIC_CALLBACK_BASE_URL")]
    pub public_callback_base_url: Option<String>,
    #[arg(long, env = "RECONCILE_INTERVAL_MS", default_value_t = 2000)]
    pub reconcile_interval_ms: u64,
    /// First poll of a running step, doubling up to POLL_MAX_MS.
    #[arg(long, env = "POLL_INITIAL_MS", default_value_t = 5000)]
    pub poll_initial_ms: u64,
    #[arg(long, env = "POLL_MAX_MS", default_value_t = 300_000)]
    pub poll_max_ms: u64,
    /// Names this replica in leases (Kubernetes: the pod name).
    #[arg(long, env = "REPLICA_ID")]
    pub replica_id: Option<String>,
    /// dev only: where the built-in simulator listens.
    #[arg(long, env = "SIM_ADDR", default_value = "127.0.0.1:8090")]
    pub sim_addr: SocketAddr,
    /// Grace period for in-flight calls on SIGTERM.
    #[arg(long, env = "SHUTDOWN_GRACE_MS", default_value_t = 10_000)]
    pub shutdown_grace_ms: u64,
    /// AuthService calls in flight at once; more are refused at once with RESOURCE_EXHAUSTED.
    #[arg(long, env = "GRPC_MAX_CONCURRENT_RPCS", default_value_t = 64)]
    pub grpc_max_concurrent_rpcs: usize,
    /// Deadline of an AuthService call that brings none shorter (DEADLINE_EXCEEDED past it).
    #[arg(long, env = "GRPC_DEFAULT_TIMEOUT_MS", default_value_t = 30_000)]
    pub grpc_default_timeout_ms: u64,
    /// Callbacks accepted per second (and in one burst); more are answered 429.
    #[arg(long, env = "CALLBACK_RATE_PER_SEC", default_value_t = 50)]
    pub callback_rate_per_sec: u32,
}

#[derive(Debug, Clone, Args)]
pub struct MigrateArgs {
    #[arg(long, env = "DATABASE_URL", default_value = DEV_DATABASE_URL)]
    pub database_url: String,
}

#[derive(Debug, Clone, Args)]
pub struct SimArgs {
    #[arg(long, env = "SIM_ADDR", default_value = "127.0.0.1:8090")]
    pub addr: SocketAddr,
    #[arg(long, env = "ESIGN_APP_ID", default_value = DEV_APP_ID)]
    pub app_id: String,
    #[arg(long, env = "ESIGN_APP_SECRET", hide_env_values = true, default_value = DEV_APP_SECRET)]
    pub app_secret: String,
}

/// The resolved, checked settings of a running service.
#[derive(Debug, Clone)]
pub struct AppConfig {
    pub grpc_addr: SocketAddr,
    pub http_addr: SocketAddr,
    pub database_url: String,
    pub database_max_connections: u32,
    pub esign: EsignSettings,
    pub callers: Vec<CallerCredential>,
    /// The first encrypts; all decrypt.
    pub data_keys: Vec<DataKey>,
    pub public_callback_base_url: Option<String>,
    pub replica_id: String,
    pub poll_initial: Duration,
    pub poll_max: Duration,
    pub reconciler: ReconcilerSettings,
    pub shutdown_grace: Duration,
    pub grpc_max_concurrent_rpcs: usize,
    pub grpc_default_timeout: Duration,
    pub callback_rate_per_sec: u32,
}

/// Every problem found in the settings, so that one run names them all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<String>);

impl std::fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "invalid configuration:")?;
        for e in &self.0 {
            writeln!(f, "  - {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

fn read_secret(
    value: &Option<String>,
    file: &Option<PathBuf>,
    name: &str,
    errors: &mut Vec<String>,
) -> Option<SecretString> {
    match (value, file) {
        (Some(_), Some(_)) => {
            errors.push(format!("{name} and {name}_FILE are both set; give one"));
            None
        }
        (Some(v), None) => Some(SecretString::from(v.trim().to_owned())),
        (None, Some(path)) => match std::fs::read_to_string(path) {
            Ok(v) => Some(SecretString::from(v.trim().to_owned())),
            Err(e) => {
                errors.push(format!("{name}_FILE {} cannot be read: {e}", path.display()));
                None
            }
        },
        (None, None) => None,
    }
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
        let mut need = |v: &Option<String>, name: &str| {
            if v.as_deref().is_none_or(|s| s.trim().is_empty()) {
                errors.push(format!("{name} is required"));
            }
        };
        need(&self.database_url, "DATABASE_URL");
        need(&self.esign_base_url, "ESIGN_BASE_URL");
        need(&self.esign_app_id, "ESIGN_APP_ID");
        need(&self.public_callback_base_url, "PUBLIC_CALLBACK_BASE_URL");
        let secret = read_secret(&self.esign_app_secret, &self.esign_app_secret_file, "ESIGN_APP_SECRET", &mut errors);
        if secret.is_none() && !errors.iter().any(|e| e.starts_with("ESIGN_APP_SECRET")) {
            errors.push("ESIGN_APP_SECRET (or ESIGN_APP_SECRET_FILE) is required".into());
        }
        if secret.as_ref().is_some_and(|s| s.expose_secret() == DEV_APP_SECRET) {
            errors.push("ESIGN_APP_SECRET is the dev secret; serve refuses it".into());
        }
        let callers = self.callers(&mut errors);
        if callers.is_none() && !errors.iter().any(|e| e.starts_with("ETC_CALLERS")) {
            errors.push("ETC_CALLERS (or ETC_CALLERS_FILE) is required".into());
        }
        if callers.as_ref().is_some_and(|cs| cs.iter().any(|c| c.token.expose_secret() == DEV_TOKEN)) {
            errors.push("ETC_CALLERS contains the dev token; serve refuses it".into());
        }
        let keys = self.data_keys(&mut errors);
        if keys.is_none() && !errors.iter().any(|e| e.starts_with("DATA_KEYS")) {
            errors.push("DATA_KEYS (or DATA_KEYS_FILE) is required".into());
        }
        let dev_key = parse_keys(DEV_DATA_KEYS).ok().and_then(|k| k.into_iter().next());
        if let (Some(keys), Some(dev)) = (&keys, &dev_key)
            && keys.iter().any(|k| k.expose() == dev.expose())
        {
            errors.push("DATA_KEYS contains the dev key; serve refuses it".into());
        }
        self.finish(
            self.database_url.clone(),
            self.esign_base_url.clone(),
            self.esign_app_id.clone(),
            secret,
            callers,
            keys,
            self.public_callback_base_url.clone(),
            errors,
        )
    }

    /// dev settings: embedded defaults; `sim_base_url` is the in-process simulator's, used unless
    /// ESIGN_BASE_URL is set.
    pub fn resolve_dev(&self, sim_base_url: Option<String>) -> Result<AppConfig, ConfigErrors> {
        let mut errors = Vec::new();
        let secret = read_secret(&self.esign_app_secret, &self.esign_app_secret_file, "ESIGN_APP_SECRET", &mut errors);
        let (base, app_id, secret) = match (&self.esign_base_url, sim_base_url) {
            (Some(base), _) => (Some(base.clone()), self.esign_app_id.clone(), secret),
            (None, Some(sim)) => (
                Some(sim),
                Some(self.esign_app_id.clone().unwrap_or_else(|| DEV_APP_ID.into())),
                Some(secret.unwrap_or_else(|| SecretString::from(DEV_APP_SECRET))),
            ),
            (None, None) => (None, self.esign_app_id.clone(), secret),
        };
        if base.is_some() && (app_id.is_none() || secret.is_none()) {
            errors.push("with ESIGN_BASE_URL set, dev needs ESIGN_APP_ID and ESIGN_APP_SECRET too".into());
        }
        let callers = self.callers(&mut errors).or_else(|| {
            Some(vec![CallerCredential { sys_id: DEV_SYS_ID.into(), token: SecretString::from(DEV_TOKEN) }])
        });
        let db = Some(self.database_url.clone().unwrap_or_else(|| DEV_DATABASE_URL.into()));
        let keys = self.data_keys(&mut errors).or_else(|| parse_keys(DEV_DATA_KEYS).ok());
        self.finish(db, base, app_id, secret, callers, keys, self.public_callback_base_url.clone(), errors)
    }

    fn data_keys(&self, errors: &mut Vec<String>) -> Option<Vec<DataKey>> {
        let raw = read_secret(&self.data_keys, &self.data_keys_file, "DATA_KEYS", errors)?;
        match parse_keys(raw.expose_secret()) {
            Ok(k) => Some(k),
            Err(e) => {
                errors.push(format!("DATA_KEYS: {e}"));
                None
            }
        }
    }

    fn callers(&self, errors: &mut Vec<String>) -> Option<Vec<CallerCredential>> {
        let raw = read_secret(&self.callers, &self.callers_file, "ETC_CALLERS", errors)?;
        match parse_callers(raw.expose_secret()) {
            Ok(c) => Some(c),
            Err(e) => {
                errors.push(e);
                None
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn finish(
        &self,
        database_url: Option<String>,
        esign_base_url: Option<String>,
        app_id: Option<String>,
        secret: Option<SecretString>,
        callers: Option<Vec<CallerCredential>>,
        data_keys: Option<Vec<DataKey>>,
        public_callback_base_url: Option<String>,
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
        if self.reconcile_interval_ms == 0 {
            errors.push("RECONCILE_INTERVAL_MS must be positive".into());
        }
        if self.grpc_max_concurrent_rpcs == 0 || self.grpc_default_timeout_ms == 0 || self.callback_rate_per_sec == 0 {
            errors.push(
                "GRPC_MAX_CONCURRENT_RPCS, GRPC_DEFAULT_TIMEOUT_MS and CALLBACK_RATE_PER_SEC must be positive".into(),
            );
        }
        let (Some(database_url), Some(base_url), Some(app_id), Some(app_secret), Some(callers), Some(data_keys), true) =
            (database_url, esign_base_url, app_id, secret, callers, data_keys, errors.is_empty())
        else {
            if errors.is_empty() {
                errors.push("ESIGN_BASE_URL, ESIGN_APP_ID and ESIGN_APP_SECRET are required".into());
            }
            return Err(ConfigErrors(errors));
        };
        let replica_id = self
            .replica_id
            .clone()
            .or_else(|| std::env::var("HOSTNAME").ok())
            .unwrap_or_else(|| format!("pid-{}", std::process::id()));
        Ok(AppConfig {
            grpc_addr: self.grpc_addr,
            http_addr: self.http_addr,
            database_url,
            database_max_connections: self.database_max_connections,
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
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(extra: &[&str]) -> ServeArgs {
        #[derive(Parser)]
        struct T {
            #[command(flatten)]
            a: ServeArgs,
        }
        let mut argv = vec!["t"];
        argv.extend_from_slice(extra);
        T::parse_from(argv).a
    }

    #[test]
    fn serve_names_every_missing_setting() {
        // Flags only: the test must not depend on the environment, so clear what it could set.
        let a = ServeArgs {
            database_url: None,
            esign_base_url: None,
            esign_app_id: None,
            esign_app_secret: None,
            callers: None,
            public_callback_base_url: None,
            esign_app_secret_file: None,
            callers_file: None,
            ..args(&[])
        };
        let err = a.resolve_serve().unwrap_err().to_string();
        for name in [
            "DATABASE_URL",
            "ESIGN_BASE_URL",
            "ESIGN_APP_ID",
            "ESIGN_APP_SECRET",
            "ETC_CALLERS",
            "PUBLIC_CALLBACK_BASE_URL",
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
            ..args(&[])
        };
        let err = a.resolve_serve().unwrap_err().to_string();
        assert!(err.contains("dev secret") && err.contains("dev token") && err.contains("dev key"), "{err}");
        assert!(!err.contains(DEV_APP_SECRET) && !err.contains(DEV_TOKEN), "errors must not echo secrets");
    }

    #[test]
    fn callers_parse_pairs_and_reject_long_tokens() {
        assert_eq!(parse_callers("E02=abc, E05=def").unwrap().len(), 2);
        assert!(parse_callers("E02").is_err());
        assert!(parse_callers(&format!("E02={}", "x".repeat(33))).is_err());
        assert!(parse_callers("").is_err());
    }
}
