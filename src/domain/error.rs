//! The domain's one error type (`crate::grpc::status` maps each variant to a gRPC status), and
//! `AllValid`, which checks every field of a request before any typed value comes out.
use super::doc_ports::DocumentError;
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
    /// What the call would create exists already (a seal's alias).
    #[error("{0}")]
    AlreadyExists(String),
    /// The caller may not make this call (a seal review by a caller who is not a reviewer).
    #[error("{0}")]
    PermissionDenied(String),
    /// e签宝 refused or could not be reached.
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Another start for the same member held its lease longer than this call could wait; retry,
    /// best after `retry_after` (when that holder's lease ends).
    #[error("another request for this member is in progress; retry")]
    Busy { retry_after: std::time::Duration },
    /// The pictures could not be kept or read back.
    #[error(transparent)]
    Documents(#[from] DocumentError),
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

/// Every field violation of a request, in field order, so that a caller fixes all at once.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Violations(Vec<FieldViolation>);

impl From<FieldViolation> for Violations {
    fn from(v: FieldViolation) -> Self {
        Self(vec![v])
    }
}

impl From<Violations> for DomainError {
    fn from(v: Violations) -> Self {
        Self::InvalidArgument(v.0)
    }
}

/// Validates a request field by field: a tuple holds one check per field, each a
/// `Result<T, FieldViolation>` (or `Result<T, Violations>` for a nested message), e.g.
/// `let (member_no, name) = (MemberNo::parse(&etc_member_no), PersonName::parse("name", &name)).all_valid()?;`.
/// Every check has run before `all_valid` looks at them: it answers the typed values, in order,
/// when all passed, and every violation otherwise. No value is half-built and no arm is unreachable.
pub trait AllValid {
    type Valid;
    fn all_valid(self) -> Result<Self::Valid, Violations>;
}

/// `AllValid` for each tuple of checks up to the length of the list, by peeling its head: an entry
/// names a value's type, its error's type and a binding (macro_rules cannot make identifiers up).
macro_rules! all_valid_for_tuples {
    () => {};
    ($t:ident $e:ident $v:ident $(, $ts:ident $es:ident $vs:ident)*) => {
        impl<$t, $e: Into<Violations>, $($ts, $es: Into<Violations>),*> AllValid
            for (Result<$t, $e>, $(Result<$ts, $es>,)*)
        {
            type Valid = ($t, $($ts,)*);

            fn all_valid(self) -> Result<Self::Valid, Violations> {
                match self {
                    (Ok($v), $(Ok($vs),)*) => Ok(($v, $($vs,)*)),
                    ($v, $($vs,)*) => {
                        let mut all = Violations::default();
                        for e in [$v.err().map(Into::into), $($vs.err().map(Into::into),)*].into_iter().flatten() {
                            all.0.extend(e.0);
                        }
                        Err(all)
                    }
                }
            }
        }
        all_valid_for_tuples!($($ts $es $vs),*);
    };
}

all_valid_for_tuples!(
    A EA a, B EB b, C EC c, D ED d, E EE e, F EF f, G EG g, H EH h,
    I EI i, J EJ j, K EK k, L EL l, M EM m, N EN n, O EO o, P EP p
);

#[cfg(test)]
mod tests {
    use super::*;

    fn ok<T>(value: T) -> Result<T, FieldViolation> {
        Ok(value)
    }

    fn bad(field: &'static str) -> Result<u8, FieldViolation> {
        Err(FieldViolation::new(field, "is wrong"))
    }

    #[test]
    fn all_valid_answers_every_value_in_order_when_every_check_passed() {
        let nested: Result<Option<u8>, Violations> = Ok(None);
        assert_eq!((ok(1), ok("two"), nested).all_valid(), Ok((1, "two", None)));
    }

    #[test]
    fn all_valid_answers_every_violation_in_field_order_when_any_check_failed() {
        let nested =
            Err::<u8, _>(Violations(vec![FieldViolation::new("org.name", "x"), FieldViolation::new("org.id", "y")]));
        let Err(Violations(all)) = (bad("a"), ok(2), bad("c"), nested).all_valid() else {
            panic!("three checks failed")
        };
        let fields: Vec<_> = all.iter().map(|v| v.field).collect();
        assert_eq!(fields, ["a", "c", "org.name", "org.id"]);
    }

    #[test]
    fn violations_become_one_invalid_argument() {
        let error = DomainError::from(Violations(vec![FieldViolation::new("a", "x"), FieldViolation::new("b", "y")]));
        assert!(matches!(error, DomainError::InvalidArgument(v) if v.len() == 2));
    }
}
