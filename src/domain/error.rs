//! The domain's one error type. `crate::grpc::status` maps each variant to a gRPC status.
use super::model::{IllegalTransition, ProcessStatus};
use super::ports::{StoreError, UpstreamError};
use super::values::FieldViolation;

#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    /// Input that can never succeed as given; each violation names a field.
    #[error("invalid argument")]
    InvalidArgument(Vec<FieldViolation>),
    /// The step is not allowed in the member's current status.
    #[error("{message}")]
    FailedPrecondition { status: ProcessStatus, message: String },
    /// The thing asked for does not exist.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// e签宝 refused or could not be reached.
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Another start for the same member held its lease for too long; retry.
    #[error("another request for this member is in progress; retry")]
    Busy,
}

impl From<IllegalTransition> for DomainError {
    fn from(e: IllegalTransition) -> Self {
        Self::FailedPrecondition { status: e.current, message: e.to_string() }
    }
}

impl From<FieldViolation> for DomainError {
    fn from(v: FieldViolation) -> Self {
        Self::InvalidArgument(vec![v])
    }
}

/// Collects every field violation of a request before failing, so a caller fixes all at once.
#[derive(Debug, Default)]
pub struct Violations(Vec<FieldViolation>);

impl Violations {
    /// Keeps the value, or records its violation.
    pub fn check<T>(&mut self, r: Result<T, FieldViolation>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                self.0.push(e);
                None
            }
        }
    }

    pub fn push(&mut self, v: FieldViolation) {
        self.0.push(v);
    }

    /// `Ok` when nothing was recorded.
    pub fn finish(self) -> Result<(), DomainError> {
        if self.0.is_empty() { Ok(()) } else { Err(DomainError::InvalidArgument(self.0)) }
    }
}
