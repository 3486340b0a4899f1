//! End-to-end tests: the real server over real sockets, a generated gRPC client, the e签宝
//! simulator over real HTTP, a fresh database per test (SQLite, or PostgreSQL with ETC_ESIGN_TEST_PG).
//!
//! One module per area of the service. To add one: write `tests/e2e/<area>.rs` opening with a
//! comment that says what it covers and `use crate::helpers::*;`, list it below, and name its
//! tests as sentences (`<action>_<outcome>_when_<condition>`). What two modules need goes into
//! `helpers/`; a module never imports from another module.
mod helpers;

mod authorization;
mod documents;
mod evidence;
mod face_auth;
mod history;
mod limits;
mod ops;
mod org_auth;
mod privacy;
mod read_cache;
mod reliability;
mod restart;
mod seal;
mod seals;
mod server;
mod sms_auth;
mod standin;
