//! The RPCs the server answers, read once from the descriptor sets it embeds (the contract's,
//! health's and both reflections'), so that an RPC added to `proto/` is known, gets its own
//! metrics label and is classed as a read or not without any code naming it.
use std::sync::LazyLock;

use prost::Message;
use prost_types::FileDescriptorSet;
use prost_types::method_options::IdempotencyLevel;

use super::pb;

/// One RPC the server answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Method {
    /// `/package.Service/Method`, the HTTP/2 path a call arrives on.
    pub path: String,
    /// Declared in `proto/`, not one of health's or reflection's.
    pub contract: bool,
    /// Declared `option idempotency_level = NO_SIDE_EFFECTS;`: a successful call changes nothing.
    pub read: bool,
}

/// The RPCs of a set of services.
#[derive(Debug, Default)]
pub struct Methods(Vec<Method>);

/// Every service `crate::app` mounts, with whether it is the contract's.
static SERVED: LazyLock<Methods> = LazyLock::new(|| {
    Methods::from_sets(&[
        (pb::FILE_DESCRIPTOR_SET, true),
        (tonic_health::pb::FILE_DESCRIPTOR_SET, false),
        (tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET, false),
        (tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET, false),
    ])
});

impl Methods {
    /// The RPCs of every service the server mounts, decoded on the first call.
    pub fn served() -> &'static Methods {
        &SERVED
    }

    /// A set that does not decode contributes nothing. The sets are compiled into the binary, so
    /// that could only be a broken build, which `every_served_set_decodes` would catch.
    fn from_sets(sets: &[(&[u8], bool)]) -> Self {
        let mut methods = Vec::new();
        for (bytes, contract) in sets {
            let Ok(set) = FileDescriptorSet::decode(*bytes) else { continue };
            for file in &set.file {
                for service in &file.service {
                    for method in &service.method {
                        let read = method
                            .options
                            .as_ref()
                            .is_some_and(|o| o.idempotency_level() == IdempotencyLevel::NoSideEffects);
                        methods.push(Method {
                            path: format!("/{}.{}/{}", file.package(), service.name(), method.name()),
                            contract: *contract,
                            read,
                        });
                    }
                }
            }
        }
        Self(methods)
    }

    /// The RPC a call's path names, if the server answers it.
    pub fn find(&self, path: &str) -> Option<&Method> {
        self.0.iter().find(|m| m.path == path)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Method> {
        self.0.iter()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// The contract as written, read independently of the descriptor set.
    const PROTO: &str = include_str!("../../proto/etc/esign/v1/auth.proto");

    #[test]
    fn every_rpc_of_the_proto_is_known_under_its_own_path() {
        let declared: BTreeSet<String> = PROTO
            .lines()
            .filter_map(|line| line.trim().strip_prefix("rpc "))
            .filter_map(|rpc| rpc.split('(').next())
            .map(|name| format!("/{}/{}", pb::auth_service_server::SERVICE_NAME, name.trim()))
            .collect();
        assert!(declared.len() >= 4, "{declared:?}");
        let known: BTreeSet<String> = Methods::served().iter().filter(|m| m.contract).map(|m| m.path.clone()).collect();
        assert_eq!(known, declared);
    }

    #[test]
    fn the_reads_are_the_rpcs_the_proto_marks_without_side_effects() {
        let reads: Vec<&str> = Methods::served().iter().filter(|m| m.read).map(|m| m.path.as_str()).collect();
        assert_eq!(
            reads,
            [
                "/etc.esign.v1.AuthService/GetProcessDetail",
                "/etc.esign.v1.AuthService/QueryAuthorization",
                "/etc.esign.v1.AuthService/GetProcessHistory",
                "/etc.esign.v1.AuthService/GetEvidence",
                "/etc.esign.v1.AuthService/ListOrgSeals",
                "/etc.esign.v1.AuthService/ListPersonSeals",
                "/etc.esign.v1.AuthService/ListSealsToReview",
            ]
        );
    }

    #[test]
    fn every_served_set_decodes() {
        let served = Methods::served();
        for path in [
            "/etc.esign.v1.AuthService/StartFaceAuth",
            "/grpc.health.v1.Health/Check",
            "/grpc.health.v1.Health/Watch",
            "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
            "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
        ] {
            assert!(served.find(path).is_some(), "{path} is not known");
        }
        assert!(!served.find("/grpc.health.v1.Health/Check").is_some_and(|m| m.contract || m.read));
        assert_eq!(served.find("/etc.esign.v1.AuthService/Made-Up"), None);
    }
}
