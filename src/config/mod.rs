//! Every setting, as a flag and an environment variable (12-factor), and the checked `AppConfig`
//! they resolve to before any socket is bound (`resolve.rs`): `serve` insists on each production
//! setting and names every one missing or invalid in one run; `dev` fills embedded defaults.
//! Secrets are read from the environment or from files (Kubernetes Secret mounts) and held in
//! `SecretString`.
use std::{net::SocketAddr, path::PathBuf, time::Duration};

use clap::{Args, Parser, Subcommand};

use crate::domain::EvidenceKeys;
use crate::esign::EsignSettings;
use crate::grpc::auth::CallerCredential;
use crate::reconciler::ReconcilerSettings;
use crate::store::cipher::DataKey;

mod files;
mod resolve;
pub use resolve::parse_callers;

/// The dev evidence key (`dev` signs with it; `serve` refuses it).
pub use crate::domain::DEV_EVIDENCE_KEYS;

/// The dev caller pair `dev` accepts (and `serve` refuses).
pub const DEV_SYS_ID: &str = "E02";
pub const DEV_TOKEN: &str = "dev-token-not-secret";
/// The simulator's dev application (and `serve` refuses the secret).
pub const DEV_APP_ID: &str = "7438000001";
pub const DEV_APP_SECRET: &str = "etc-esign-dev-secret-not-real-000";
pub const DEV_DATABASE_URL: &str = "sqlite://data/etc-esign.db";
/// dev's replica id when neither REPLICA_ID nor HOSTNAME names one.
pub const DEV_REPLICA_ID: &str = "dev";
/// The dev data key (32 bytes "etc-esign-dev-data-key-not-real!"); `serve` refuses it.
pub const DEV_DATA_KEYS: &str = "dev=ZXRjLWVzaWduLWRldi1kYXRhLWtleS1ub3QtcmVhbCE=";
/// The dev key of picture links; `serve` refuses it.
pub const DEV_FILE_LINK_KEY: &str = "etc-esign-dev-file-link-key-not-real";

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
    /// How many members' processes GetProcessDetail keeps between reads (0: none).
    #[arg(long, env = "READ_CACHE_ENTRIES", default_value_t = crate::domain::read_cache::READ_CACHE_DEFAULT_ENTRIES)]
    pub read_cache_entries: usize,
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
    /// The callers (etc-sys-ids, comma-separated) who may review seals (ListSealsToReview,
    /// ReviewOrgSeal). serve: nobody when unset; dev: the dev caller when unset.
    #[arg(long, env = "SEAL_REVIEWERS")]
    pub seal_reviewers: Option<String>,
    /// Keys encrypting identity numbers and mobiles at rest: `ID=BASE64(32 bytes)`, comma-separated,
    /// the first one current (prefer DATA_KEYS_FILE). Older keys stay listed to read old values.
    #[arg(long, env = "DATA_KEYS", hide_env_values = true)]
    pub data_keys: Option<String>,
    #[arg(long, env = "DATA_KEYS_FILE")]
    pub data_keys_file: Option<PathBuf>,
    /// Keys signing the evidence records (存证): `ID=BASE64(32-byte Ed25519 seed)`, comma-separated,
    /// the first one current (prefer EVIDENCE_KEYS_FILE). Older keys stay listed to verify old records.
    #[arg(long, env = "EVIDENCE_KEYS", hide_env_values = true)]
    pub evidence_keys: Option<String>,
    #[arg(long, env = "EVIDENCE_KEYS_FILE")]
    pub evidence_keys_file: Option<PathBuf>,
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
    /// Where certificate pictures are kept, encrypted: `s3://bucket[/prefix]` (S3 settings and
    /// credentials from the usual AWS_* variables, or AWS_ACCESS_KEY_ID_FILE and
    /// AWS_SECRET_ACCESS_KEY_FILE) or `file:///dir`. dev default: file://<cwd>/data/objects.
    #[arg(long, env = "OBJECT_STORE_URL")]
    pub object_store_url: Option<String>,
    /// Key signing the picture links (at least 32 characters; prefer FILE_LINK_KEY_FILE).
    #[arg(long, env = "FILE_LINK_KEY", hide_env_values = true)]
    pub file_link_key: Option<String>,
    #[arg(long, env = "FILE_LINK_KEY_FILE")]
    pub file_link_key_file: Option<PathBuf>,
    /// The public base URL of this service's HTTP port for picture links (…/files/…). dev default:
    /// the HTTP listen address.
    #[arg(long, env = "PUBLIC_FILES_BASE_URL")]
    pub public_files_base_url: Option<String>,
    /// How long a picture link lives, in seconds.
    #[arg(long, env = "FILE_LINK_TTL_SECS", default_value_t = 900)]
    pub file_link_ttl_secs: u64,
    /// S3 region of OBJECT_STORE_URL's bucket.
    #[arg(long, env = "AWS_REGION")]
    pub aws_region: Option<String>,
    /// S3-compatible endpoint (MinIO, OSS, a local server); unset: AWS itself.
    #[arg(long, env = "AWS_ENDPOINT_URL")]
    pub aws_endpoint_url: Option<String>,
    /// S3 credentials (prefer the _FILE forms); unset: the instance's or pod's role.
    #[arg(long, env = "AWS_ACCESS_KEY_ID", hide_env_values = true)]
    pub aws_access_key_id: Option<String>,
    #[arg(long, env = "AWS_ACCESS_KEY_ID_FILE")]
    pub aws_access_key_id_file: Option<PathBuf>,
    #[arg(long, env = "AWS_SECRET_ACCESS_KEY", hide_env_values = true)]
    pub aws_secret_access_key: Option<String>,
    #[arg(long, env = "AWS_SECRET_ACCESS_KEY_FILE")]
    pub aws_secret_access_key_file: Option<PathBuf>,
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
    pub read_cache_entries: usize,
    pub esign: EsignSettings,
    pub callers: Vec<CallerCredential>,
    /// The callers who may review seals.
    pub seal_reviewers: Vec<String>,
    /// The first encrypts; all decrypt.
    pub data_keys: Vec<DataKey>,
    /// The first signs evidence records; all verify.
    pub evidence_keys: EvidenceKeys,
    pub public_callback_base_url: Option<String>,
    pub replica_id: String,
    pub poll_initial: Duration,
    pub poll_max: Duration,
    pub reconciler: ReconcilerSettings,
    pub shutdown_grace: Duration,
    pub grpc_max_concurrent_rpcs: usize,
    pub grpc_default_timeout: Duration,
    pub callback_rate_per_sec: u32,
    pub files: FilesConfig,
}

/// Where pictures are kept and how their links are signed.
#[derive(Debug, Clone)]
pub struct FilesConfig {
    /// `file:///dir` or `s3://bucket[/prefix]`.
    pub object_store_url: String,
    pub link_key: secrecy::SecretString,
    /// `None`: the HTTP listen address (dev).
    pub public_base_url: Option<String>,
    pub link_ttl: Duration,
    pub s3: S3Settings,
}

/// What an `s3://` object store needs beyond its URL; each unset one is left to the AWS defaults.
#[derive(Debug, Clone, Default)]
pub struct S3Settings {
    pub region: Option<String>,
    pub endpoint_url: Option<String>,
    pub access_key_id: Option<secrecy::SecretString>,
    pub secret_access_key: Option<secrecy::SecretString>,
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

#[cfg(test)]
impl ServeArgs {
    /// The settings `serve` would parse from the flags `extra` alone (for tests).
    pub(crate) fn from_flags(extra: &[&str]) -> Self {
        #[derive(Parser)]
        struct T {
            #[command(flatten)]
            a: ServeArgs,
        }
        let mut argv = vec!["t"];
        argv.extend_from_slice(extra);
        T::parse_from(argv).a
    }
}
