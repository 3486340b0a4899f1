//! The limits around `AuthService` alone (health checks keep answering under a flood): no call
//! before the database is ready ([`StartGate`]), a concurrency limit with load shedding, and a
//! default deadline, which handlers read as [`CallDeadline`].
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::http::{HeaderMap, Request, Response};
use tokio::sync::Semaphore;
use tonic::body::Body;
use tonic::server::NamedService;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};
use tower::Service;

use crate::gate::{STARTING_RETRY_AFTER, StartGate};

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// Start gate, concurrency limit and default deadline of one service.
#[derive(Clone, Debug)]
pub struct Limits {
    gate: StartGate,
    permits: Arc<Semaphore>,
    deadline: Duration,
}

impl Limits {
    pub fn new(gate: StartGate, max_concurrent: usize, deadline: Duration) -> Self {
        Self { gate, permits: Arc::new(Semaphore::new(max_concurrent)), deadline }
    }

    pub fn wrap<S>(&self, inner: S) -> Limited<S> {
        Limited { inner, limits: self.clone() }
    }
}

/// Answers UNAVAILABLE with a retry hint while the service is starting, RESOURCE_EXHAUSTED at once
/// when `max_concurrent` calls are in flight (never queues, so a flood cannot make callers hang),
/// and DEADLINE_EXCEEDED when a call outlives the deadline: the server's, or the caller's shorter
/// `grpc-timeout`.
#[derive(Clone, Debug)]
pub struct Limited<S> {
    inner: S,
    limits: Limits,
}

impl<S: NamedService> NamedService for Limited<S> {
    const NAME: &'static str = S::NAME;
}

impl<S, B> Service<Request<Body>> for Limited<S>
where
    S: Service<Request<Body>, Response = Response<B>, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: http_body::Body<Data = axum::body::Bytes> + Send + 'static,
    B::Error: Into<tonic::codegen::StdError>,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Response<Body>, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<Body>) -> Self::Future {
        if !self.limits.gate.is_open() {
            let status = Status::with_error_details(
                Code::Unavailable,
                "the service is starting (its database is being prepared); retry",
                ErrorDetails::with_retry_info(Some(STARTING_RETRY_AFTER)),
            );
            return Box::pin(std::future::ready(Ok(status.into_http())));
        }
        let Ok(permit) = self.limits.permits.clone().try_acquire_owned() else {
            let status = Status::resource_exhausted("the service is at its concurrency limit; retry with backoff");
            return Box::pin(std::future::ready(Ok(status.into_http())));
        };
        // The ready service answers this call; a fresh clone waits for the next poll_ready.
        let ready = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, ready);
        // tonic enforces a caller's grpc-timeout as well, but answers CANCELLED ("Timeout expired"),
        // which raced the caller's own DEADLINE_EXCEEDED (found by the interop suite). The contract
        // says DEADLINE_EXCEEDED: this layer answers it a little before tonic's timer fires.
        let (deadline, whose) = match grpc_timeout(req.headers()) {
            Some(t) if t.saturating_sub(CALLER_DEADLINE_MARGIN) < self.limits.deadline => {
                (t.saturating_sub(CALLER_DEADLINE_MARGIN), "the call outlived the caller's deadline")
            }
            _ => (self.limits.deadline, "the call outlived the server's deadline; retry"),
        };
        // The handler learns the same instant, so that a use case that waits stops in time to answer.
        req.extensions_mut().insert(CallDeadline(tokio::time::Instant::now() + deadline));
        Box::pin(async move {
            let _permit = permit;
            match tokio::time::timeout(deadline, inner.call(req)).await {
                Ok(answer) => answer.map(|response| response.map(Body::new)),
                Err(_) => Ok(Status::deadline_exceeded(whose).into_http()),
            }
        })
    }
}

/// When this layer answers DEADLINE_EXCEEDED for the call: the server's deadline or the caller's
/// (less a margin), whichever comes first. Put in the request's extensions for the handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallDeadline(pub tokio::time::Instant);

/// How much earlier than a caller's `grpc-timeout` this layer answers, so that it beats tonic's
/// own timer (CANCELLED) and the caller's for the same deadline, even on a busy machine.
const CALLER_DEADLINE_MARGIN: Duration = Duration::from_millis(20);

/// The caller's `grpc-timeout` header (`<digits><H|M|S|m|u|n>`), if present and well-formed.
fn grpc_timeout(headers: &HeaderMap) -> Option<Duration> {
    let v = headers.get("grpc-timeout")?.to_str().ok()?;
    let (digits, unit) = v.split_at(v.len().checked_sub(1)?);
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n.saturating_mul(3600)),
        "M" => Duration::from_secs(n.saturating_mul(60)),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_callers_grpc_timeout_is_read_in_each_unit() {
        let timeout = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert("grpc-timeout", v.parse().unwrap());
            grpc_timeout(&h)
        };
        assert_eq!(timeout("2H"), Some(Duration::from_secs(7200)));
        assert_eq!(timeout("3M"), Some(Duration::from_secs(180)));
        assert_eq!(timeout("4S"), Some(Duration::from_secs(4)));
        assert_eq!(timeout("299m"), Some(Duration::from_millis(299)));
        assert_eq!(timeout("7u"), Some(Duration::from_micros(7)));
        assert_eq!(timeout("9n"), Some(Duration::from_nanos(9)));
        assert_eq!(timeout("5x"), None);
        assert_eq!(timeout("m"), None);
        assert_eq!(grpc_timeout(&HeaderMap::new()), None);
    }
}
