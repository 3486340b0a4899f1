//! The gRPC edge: thin handlers over `crate::domain`, caller authentication, the one error mapping.
pub mod auth;
pub mod convert;
pub mod convert_org;
pub mod convert_seal;
pub mod convert_seals;
pub mod detached;
pub mod documents;
pub mod evidence;
pub mod history;
pub mod limits;
pub mod methods;
pub mod observe;
pub mod service;
pub mod size;
pub mod status;

/// Code generated from `proto/etc/esign/v1/auth.proto`.
pub mod pb {
    #![allow(clippy::all, clippy::pedantic)]
    tonic::include_proto!("etc.esign.v1");

    /// The contract's descriptor set, for server reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/etc_esign_v1_descriptor.bin"));
}

/// The service name health and reflection answer for.
pub const SERVICE_NAME: &str = pb::auth_service_server::SERVICE_NAME;

/// The health name Kubernetes' liveness probe asks for: SERVING as long as the process answers,
/// whatever the database does. "" and `SERVICE_NAME` follow the database (readiness); a liveness
/// probe on them would restart every replica during a database outage, which mends nothing.
pub const LIVENESS_NAME: &str = "liveness";
