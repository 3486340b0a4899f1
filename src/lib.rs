//! `etc-esign`: the real-name authentication and silent-signing authorization process of ETC members
//! on e签宝. `domain` is the process; everything else is an edge or an adapter around it.
pub mod app;
mod code_table;
pub mod config;
pub mod domain;
pub mod esign;
pub mod files;
pub mod gate;
pub mod grpc;
pub mod http;
pub mod logs;
pub mod metrics;
pub mod reconciler;
pub mod sim;
pub mod store;
