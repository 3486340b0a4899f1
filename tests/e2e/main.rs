//! End-to-end tests: the real server over real sockets, a generated gRPC client, the e签宝
//! simulator over real HTTP, a fresh database per test (SQLite, or PostgreSQL with ETC_ESIGN_TEST_PG).
mod authorization;
mod child;
mod common;
mod face_auth;
mod limits;
mod ops;
mod privacy;
mod reliability;
mod server;
mod standin;
