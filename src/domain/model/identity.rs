//! The end of an e签宝 identity flow — face, SMS, the company's 4 factors or its payment — as a
//! callback (in any of its forms) or the flow outline reports it.
use crate::domain::values::FlowId;

/// An identity flow ended: which flow, and whether the identity was verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityResult {
    pub flow_id: FlowId,
    pub success: bool,
    pub fail_reason: Option<String>,
}
