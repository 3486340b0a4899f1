//! Everything the e2e test modules share, and its only home: a test module starts with
//! `use crate::helpers::*;` and never imports from another test module. A helper two modules need
//! moves here; one only its own module uses stays in that module.
//!
//! | file | what |
//! |---|---|
//! | `app.rs` | `spawn_app()`: the service in-process on port 0, its calls, health, `authed` |
//! | `db.rs` | `TestDb`: a fresh SQLite file, or PostgreSQL database, per test; SQL on it by hand (`execute`, `leases`) |
//! | `sim.rs` | `start_sim()`: an e签宝 simulator of the test's own |
//! | `requests.rs` | valid requests, for tests to change field by field |
//! | `callbacks.rs` | callbacks posted as e签宝 posts them |
//! | `logs.rs` | the in-process service's JSON log lines, captured per test |
//! | `child.rs` | the real `etc-esign serve` binary as a child process |
use std::{future::Future, time::Duration};

mod app;
mod callbacks;
mod child;
mod db;
mod logs;
mod requests;
mod sim;

pub use app::*;
pub use callbacks::*;
pub use child::*;
pub use db::*;
pub use logs::*;
pub use requests::*;
pub use sim::*;

/// The e签宝 App ID the tests' simulators and services share: the dev one, as `dev` uses it.
pub use etc_esign::config::DEV_APP_ID as APP_ID;
/// The test caller's system id: the dev one. Its token below is not the dev token.
pub use etc_esign::config::DEV_SYS_ID as SYS_ID;

// The secrets differ from the crate's dev values on purpose: `serve` refuses those (see privacy.rs).
pub const APP_SECRET: &str = "etc-esign-test-secret-not-real-01";
pub const TOKEN: &str = "test-token-0123456789";
/// A second caller, the one seal reviewer of the tests (SEAL_REVIEWERS).
pub const REVIEWER_ID: &str = "R01";
pub const REVIEWER_TOKEN: &str = "reviewer-token-0123456789";
/// The test data key (32 bytes of 0x2a); tests that rotate keys add their own.
pub const DATA_KEYS: &str = "t1=KioqKioqKioqKioqKioqKioqKioqKioqKioqKioqKio=";
/// The test evidence key (an Ed25519 seed of 32 bytes of 0x2b); tests that rotate keys add their own.
pub const EVIDENCE_KEYS: &str = "e1=KysrKysrKysrKysrKysrKysrKysrKysrKysrKysrKys=";

/// The key the tests' apps sign picture links with (not the dev one).
pub const FILE_LINK_KEY: &str = "test-file-link-key-not-real-0123456789";

/// The handler's identity number and mobile every `face_request` sends.
pub const ID_NUMBER: &str = "11010519491231002X";
pub const MOBILE: &str = "13800138000";

/// Polls `check` until it answers `Some`, or panics after `within`. Tests wait this way, never by sleeping a fixed time.
pub async fn eventually<T, F, Fut>(within: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
