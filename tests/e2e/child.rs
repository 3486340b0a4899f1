//! The real `etc-esign serve` binary as a child process, for what only a process shows: what it
//! writes to its log, how it exits.
use std::fs::File;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use crate::common::*;

pub const BIN: &str = env!("CARGO_BIN_EXE_etc-esign");

/// A port free on loopback now (the OS may hand it out again later; tests use it at once).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port()
}

/// The settings `serve` needs, all non-dev, pointing at `sim_base` and the test database.
pub fn serve_env(database_url: &str, sim_base: &str, grpc_port: u16, http_port: u16) -> Vec<(&'static str, String)> {
    vec![
        ("DATABASE_URL", database_url.into()),
        ("ESIGN_BASE_URL", sim_base.into()),
        ("ESIGN_APP_ID", APP_ID.into()),
        ("ESIGN_APP_SECRET", APP_SECRET.into()),
        ("ETC_CALLERS", format!("{SYS_ID}={TOKEN}")),
        ("DATA_KEYS", DATA_KEYS.into()),
        ("GRPC_ADDR", format!("127.0.0.1:{grpc_port}")),
        ("HTTP_ADDR", format!("127.0.0.1:{http_port}")),
        ("PUBLIC_CALLBACK_BASE_URL", format!("http://127.0.0.1:{http_port}")),
        ("RUST_LOG", "debug".into()),
    ]
}

/// `etc-esign serve` with exactly `env` (and PATH), stdout and stderr into one log file.
fn spawn(env: &[(&str, String)], log_path: &PathBuf) -> Child {
    let log = File::create(log_path).expect("log file");
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
    child: Child,
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
        let log_path = dir.path().join("etc-esign.log");
        let mut p = Self {
            child: spawn(&env, &log_path),
            grpc_addr: addr("GRPC_ADDR"),
            http_addr: addr("HTTP_ADDR"),
            log_path,
            _dir: dir,
        };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = p.child.try_wait() {
                panic!("etc-esign serve exited with {status} before serving:\n{}", p.log());
            }
            if let Ok(ch) =
                tonic::transport::Channel::from_shared(format!("http://{}", p.grpc_addr)).expect("uri").connect().await
                && let Ok(r) = tonic_health::pb::health_client::HealthClient::new(ch)
                    .check(tonic_health::pb::HealthCheckRequest { service: String::new() })
                    .await
                && r.into_inner().status == tonic_health::pb::health_check_response::ServingStatus::Serving as i32
            {
                return p;
            }
            assert!(tokio::time::Instant::now() < deadline, "etc-esign serve never served:\n{}", p.log());
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// SIGTERM, then waits for the exit; answers the exit status and the whole log.
    pub async fn terminate(mut self) -> (ExitStatus, String) {
        let sent = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status().expect("kill runs");
        assert!(sent.success(), "SIGTERM delivered");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return (status, self.log());
            }
            assert!(tokio::time::Instant::now() < deadline, "etc-esign serve did not stop on SIGTERM");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
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
