//! The real `etc-esign serve` binary as a child process, for what only a process shows: what it
//! writes to its log, how it exits, being killed with SIGKILL and restarted.
use std::fs::OpenOptions;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use etc_esign::grpc::SERVICE_NAME;
use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient};

use super::{APP_ID, APP_SECRET, DATA_KEYS, EVIDENCE_KEYS, SYS_ID, TOKEN};

pub const BIN: &str = env!("CARGO_BIN_EXE_etc-esign");

/// An address free on loopback now, on a port below the kernel's ephemeral range: a restart binds
/// its ports again, and a freed ephemeral port can meanwhile become the local port of another
/// test's outgoing connection, which fails the bind (EADDRINUSE). The kernel never picks these.
pub fn free_addr() -> SocketAddr {
    let range = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").unwrap_or_default();
    let low: u16 = range.split_whitespace().next().and_then(|p| p.parse().ok()).unwrap_or(32768);
    let floor = 20000.min(low / 2);
    for _ in 0..1000 {
        let port = floor + rand::random::<u16>() % (low - floor);
        if let Ok(addr) = std::net::TcpListener::bind(("127.0.0.1", port)).and_then(|l| l.local_addr()) {
            return addr;
        }
    }
    panic!("no free port in {floor}..{low}")
}

/// The settings `serve` needs, all non-dev, pointing at `sim_base` and the test database.
pub fn serve_env(
    database_url: &str,
    sim_base: &str,
    grpc: SocketAddr,
    http: SocketAddr,
) -> Vec<(&'static str, String)> {
    vec![
        ("DATABASE_URL", database_url.into()),
        ("ESIGN_BASE_URL", sim_base.into()),
        ("ESIGN_APP_ID", APP_ID.into()),
        ("ESIGN_APP_SECRET", APP_SECRET.into()),
        ("ETC_CALLERS", format!("{SYS_ID}={TOKEN}")),
        ("DATA_KEYS", DATA_KEYS.into()),
        ("EVIDENCE_KEYS", EVIDENCE_KEYS.into()),
        ("GRPC_ADDR", grpc.to_string()),
        ("HTTP_ADDR", http.to_string()),
        ("PUBLIC_CALLBACK_BASE_URL", format!("http://{http}")),
        (
            "OBJECT_STORE_URL",
            format!(
                "file://{}",
                std::env::temp_dir().join(format!("etc-esign-objects-{:016x}", rand::random::<u64>())).display()
            ),
        ),
        ("FILE_LINK_KEY", super::FILE_LINK_KEY.into()),
        ("PUBLIC_FILES_BASE_URL", format!("http://{http}")),
        ("RUST_LOG", "debug".into()),
    ]
}

/// Sets `key` in `env`, replacing the value `serve_env` gave it.
pub fn set_env(env: &mut Vec<(&'static str, String)>, key: &'static str, value: impl Into<String>) {
    env.retain(|(k, _)| *k != key);
    env.push((key, value.into()));
}

/// `etc-esign serve` with exactly `env` (and PATH), stdout and stderr appended to one log file.
fn spawn(env: &[(&str, String)], log_path: &Path) -> Child {
    let log = OpenOptions::new().create(true).append(true).open(log_path).expect("log file");
    let log2 = log.try_clone().expect("log file");
    Command::new(BIN)
        .arg("serve")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2)
        .spawn()
        .expect("spawn etc-esign serve")
}

/// A running `etc-esign serve`; killed if dropped while still running.
pub struct ServeProcess {
    env: Vec<(&'static str, String)>,
    child: Option<Child>,
    pub grpc_addr: SocketAddr,
    pub http_addr: SocketAddr,
    log_path: PathBuf,
    _dir: tempfile::TempDir,
}

impl ServeProcess {
    /// Starts the binary with `env` (from `serve_env`, maybe altered) and waits until it is SERVING.
    pub async fn start(env: Vec<(&'static str, String)>) -> Self {
        let addr = |name: &str| -> SocketAddr {
            env.iter().find(|(k, _)| *k == name).and_then(|(_, v)| v.parse().ok()).expect("address set")
        };
        let dir = tempfile::tempdir().expect("temp dir");
        let mut p = Self {
            grpc_addr: addr("GRPC_ADDR"),
            http_addr: addr("HTTP_ADDR"),
            env,
            child: None,
            log_path: dir.path().join("etc-esign.log"),
            _dir: dir,
        };
        p.restart().await;
        p
    }

    /// Starts the binary again with the same settings and ports (so that e签宝's retried callbacks
    /// reach it) and waits until it is SERVING. A start that exits early, as when a killed process
    /// still held a port, is tried again until the deadline.
    pub async fn restart(&mut self) {
        self.kill();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            self.child = Some(spawn(&self.env, &self.log_path));
            if self.wait_serving(deadline).await {
                return;
            }
            assert!(tokio::time::Instant::now() < deadline, "etc-esign serve did not start:\n{}", self.log_tail());
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// True once SERVING; false when the process exited first.
    async fn wait_serving(&mut self, deadline: tokio::time::Instant) -> bool {
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(_)) = child.try_wait()
            {
                self.child = None;
                return false;
            }
            if let Ok(ch) = tonic::transport::Channel::from_shared(format!("http://{}", self.grpc_addr))
                .expect("uri")
                .connect()
                .await
                && let Ok(r) = HealthClient::new(ch).check(HealthCheckRequest { service: SERVICE_NAME.into() }).await
                && r.into_inner().status == ServingStatus::Serving as i32
            {
                return true;
            }
            assert!(tokio::time::Instant::now() < deadline, "etc-esign serve never served:\n{}", self.log_tail());
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// SIGKILL (what `Child::kill` sends on Unix): no drain, no shutdown hooks.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// The last 30 lines of the log, for failure messages.
    pub fn log_tail(&self) -> String {
        let text = self.log();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// SIGTERM, then waits for the exit; answers the exit status and the whole log.
    pub async fn terminate(mut self) -> (ExitStatus, String) {
        let mut child = self.child.take().expect("running");
        let sent = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status().expect("kill runs");
        assert!(sent.success(), "SIGTERM delivered");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = child.try_wait().expect("wait") {
                return (status, self.log());
            }
            if tokio::time::Instant::now() >= deadline {
                let _ = child.kill();
                panic!("etc-esign serve did not stop on SIGTERM");
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Runs `etc-esign serve` with `env` to its exit (for settings it must refuse); answers the exit
/// code and what it wrote.
pub fn serve_until_exit(env: &[(&str, String)]) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let log_path = dir.path().join("etc-esign.log");
    let mut child = spawn(env, &log_path);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("etc-esign serve kept running with settings it should refuse");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    (status.code(), std::fs::read_to_string(&log_path).unwrap_or_default())
}
