//! `start_sim()`: an e签宝 simulator of the test's own on port 0, knowing the tests' App ID and secret.
use etc_esign::sim::{SimConfig, SimHandle, Simulator};

use super::{APP_ID, APP_SECRET, logs::install_log_capture};

pub async fn start_sim() -> SimHandle {
    let _ = rustls::crypto::ring::default_provider().install_default();
    // Every test starts a simulator before its app: the one place to install the log capture in time.
    install_log_capture();
    Simulator::start(SimConfig {
        app_id: APP_ID.into(),
        app_secret: APP_SECRET.into(),
        bind: "127.0.0.1:0".parse().expect("addr"),
        public_base_url: None,
    })
    .await
    .expect("simulator starts")
}
