//! The one place that knows `tonic::Status`: every domain error becomes a code a caller can act on,
//! with field violations or e签宝's code in the details. No message carries a secret, a full identity
//! number or internals.
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::domain::DomainError;
use crate::domain::doc_ports::DocumentError;
use crate::domain::ports::{StoreError, UpstreamError};

pub fn to_status(err: DomainError) -> Status {
    match err {
        DomainError::InvalidArgument(violations) => {
            let fields: Vec<&str> = violations.iter().map(|v| v.field).collect();
            let mut details = ErrorDetails::new();
            for v in &violations {
                details.add_bad_request_violation(v.field, &v.description);
            }
            Status::with_error_details(
                Code::InvalidArgument,
                format!("invalid {}: fix and retry", fields.join(", ")),
                details,
            )
        }
        DomainError::FailedPrecondition { status, message } => {
            let mut details = ErrorDetails::new();
            details.add_precondition_failure_violation("STATUS", status.as_str(), &message);
            Status::with_error_details(Code::FailedPrecondition, message, details)
        }
        DomainError::NotFound(what) => Status::not_found(format!("{what} not found")),
        DomainError::AlreadyExists(message) => Status::already_exists(message),
        DomainError::PermissionDenied(message) => Status::permission_denied(message),
        DomainError::Upstream(UpstreamError::Refused { code, message, .. }) => {
            let details = ErrorDetails::with_error_info(
                "ESIGN_REFUSED",
                "esign.cn",
                [("code".to_owned(), code.to_string()), ("message".to_owned(), truncate(&message, 200))],
            );
            Status::with_error_details(
                Code::FailedPrecondition,
                format!("e签宝 refused the request (code {code})"),
                details,
            )
        }
        DomainError::Upstream(UpstreamError::Timeout) => Status::unavailable("e签宝 did not answer in time; retry"),
        DomainError::Upstream(UpstreamError::Unavailable(_) | UpstreamError::Malformed(_)) => {
            Status::unavailable("e签宝 is unavailable; retry")
        }
        DomainError::Store(StoreError::Conflict) => Status::aborted("the record changed concurrently; retry"),
        DomainError::Store(StoreError::Database(e)) => {
            tracing::error!(error = %e, "database error");
            Status::unavailable("storage is unavailable; retry")
        }
        DomainError::Store(StoreError::Corrupt(e)) => {
            tracing::error!(error = %e, "stored data unreadable");
            Status::internal("stored data is unreadable")
        }
        DomainError::Store(StoreError::Unsourced) => {
            tracing::error!("a change moved a process without naming its source");
            Status::internal("the change could not be recorded")
        }
        DomainError::Busy { retry_after } => Status::with_error_details(
            Code::Unavailable,
            "another request for this member is in progress; retry",
            ErrorDetails::with_retry_info(Some(retry_after)),
        ),
        DomainError::Documents(DocumentError::Unavailable(e)) => {
            tracing::error!(error = %e, "object store error");
            Status::unavailable("document storage is unavailable; retry")
        }
        DomainError::Documents(e @ (DocumentError::NotFound | DocumentError::Unreadable(_))) => {
            tracing::error!(error = %e, "stored document unreadable");
            Status::internal("a stored document is unreadable")
        }
    }
}

fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}
