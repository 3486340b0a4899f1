//! Tower layers around the gRPC server: `Observe` (one span, one log line and the RPC metrics per
//! call, on every service) and `Limited` (concurrency limit with load shedding and a default
//! deadline, on `AuthService` only so that health checks keep answering under a flood).
use std::borrow::Cow;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, Request, Response};
use http_body::Frame;
use tokio::sync::Semaphore;
use tonic::body::Body;
use tonic::server::NamedService;
use tonic::{Code, Status};
use tower::{Layer, Service};
use tracing::Instrument;
use tracing::field::Empty;

use crate::metrics::{Metrics, code_name};

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// Every method the server answers; anything else is labelled `other` so that a client sending
/// made-up paths cannot grow the metrics without bound.
const KNOWN_METHODS: &[&str] = &[
    "/etc.esign.v1.AuthService/GetProcessDetail",
    "/etc.esign.v1.AuthService/StartFaceAuth",
    "/etc.esign.v1.AuthService/CreateOrgAuthorization",
    "/etc.esign.v1.AuthService/QueryAuthorization",
    "/grpc.health.v1.Health/Check",
    "/grpc.health.v1.Health/Watch",
    "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
];

/// Methods that change nothing when they succeed.
fn is_read(method: &str) -> bool {
    matches!(method, "/etc.esign.v1.AuthService/GetProcessDetail" | "/etc.esign.v1.AuthService/QueryAuthorization")
}

fn method_label(path: &str) -> Cow<'static, str> {
    match KNOWN_METHODS.iter().find(|m| **m == path) {
        Some(known) => Cow::Borrowed(*known),
        None => Cow::Borrowed("other"),
    }
}

/// The `grpc-status` of a trailers-only answer (headers) or of the trailers.
fn grpc_status(headers: &HeaderMap) -> Option<Code> {
    let value = headers.get("grpc-status")?.to_str().ok()?.parse::<i32>().ok()?;
    Some(Code::from_i32(value))
}

#[derive(Clone)]
pub struct ObserveLayer {
    metrics: Arc<Metrics>,
}

impl ObserveLayer {
    pub fn new(metrics: Arc<Metrics>) -> Self {
        Self { metrics }
    }
}

impl<S> Layer<S> for ObserveLayer {
    type Service = Observe<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Observe { inner, metrics: self.metrics.clone() }
    }
}

#[derive(Clone)]
pub struct Observe<S> {
    inner: S,
    metrics: Arc<Metrics>,
}

impl<S, B> Service<Request<B>> for Observe<S>
where
    S: Service<Request<B>, Response = Response<Body>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = Response<ObservedBody>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let method = method_label(req.uri().path());
        // The caller id is not yet authenticated here; it is short ASCII or left out.
        let caller = req.headers().get("etc-sys-id").and_then(|v| v.to_str().ok()).filter(|v| v.len() <= 32);
        // `member` is recorded by the handler once the request is parsed (MemberNo prints masked).
        let span = tracing::info_span!(
            "rpc",
            method = %method,
            caller = caller.unwrap_or(""),
            member = Empty,
            code = Empty,
            latency_ms = Empty
        );
        let finish = Finish { metrics: self.metrics.clone(), method, started: Instant::now(), span: span.clone() };
        let future = span.in_scope(|| self.inner.call(req));
        Box::pin(
            async move {
                let response = future.await?;
                // A Status returned by a handler is a trailers-only answer: its code is in the headers.
                Ok(match grpc_status(response.headers()) {
                    Some(code) => {
                        finish.record(code);
                        response.map(|body| ObservedBody { inner: body, finish: None })
                    }
                    None => response.map(|body| ObservedBody { inner: body, finish: Some(finish) }),
                })
            }
            .instrument(span),
        )
    }
}

/// What is known of a call until its status is sent.
struct Finish {
    metrics: Arc<Metrics>,
    method: Cow<'static, str>,
    started: Instant,
    span: tracing::Span,
}

impl Finish {
    fn record(self, code: Code) {
        let elapsed = self.started.elapsed();
        let latency_ms = elapsed.as_secs_f64() * 1000.0;
        self.span.record("code", code_name(code));
        self.span.record("latency_ms", latency_ms);
        let is_service = self.method.starts_with("/etc.esign.v1.");
        self.span.in_scope(|| match code {
            Code::Internal | Code::Unknown | Code::DataLoss => {
                tracing::error!(code = code_name(code), latency_ms, "rpc finished")
            }
            Code::Unavailable | Code::DeadlineExceeded | Code::ResourceExhausted => {
                tracing::warn!(code = code_name(code), latency_ms, "rpc finished")
            }
            // Probes call health every few seconds and successful reads are most of the traffic:
            // a line each at the default level cost more than the read (23% of a GetProcessDetail,
            // by callgrind). Their counts and latencies are in the metrics; RUST_LOG=debug shows them.
            _ if !is_service || (code == Code::Ok && is_read(&self.method)) => {
                tracing::debug!(code = code_name(code), latency_ms, "rpc finished")
            }
            _ => tracing::info!(code = code_name(code), latency_ms, "rpc finished"),
        });
        self.metrics.observe_rpc(self.method, code, elapsed);
    }
}

/// A response body that records the call when its trailers pass (or when it is dropped unfinished).
pub struct ObservedBody {
    inner: Body,
    finish: Option<Finish>,
}

impl http_body::Body for ObservedBody {
    type Data = axum::body::Bytes;
    type Error = Status;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        let code = match &polled {
            Poll::Ready(Some(Ok(frame))) => frame.trailers_ref().map(|t| grpc_status(t).unwrap_or(Code::Unknown)),
            Poll::Ready(Some(Err(status))) => Some(status.code()),
            // The stream ended without trailers: not a well-formed gRPC answer.
            Poll::Ready(None) => Some(Code::Unknown),
            Poll::Pending => None,
        };
        if let Some(code) = code
            && let Some(finish) = this.finish.take()
        {
            finish.record(code);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for ObservedBody {
    fn drop(&mut self) {
        // The client went away before the status was sent.
        if let Some(finish) = self.finish.take() {
            finish.record(Code::Cancelled);
        }
    }
}

/// Concurrency limit and default deadline of one service.
#[derive(Clone, Debug)]
pub struct Limits {
    permits: Arc<Semaphore>,
    deadline: Duration,
}

impl Limits {
    pub fn new(max_concurrent: usize, deadline: Duration) -> Self {
        Self { permits: Arc::new(Semaphore::new(max_concurrent)), deadline }
    }

    pub fn wrap<S>(&self, inner: S) -> Limited<S> {
        Limited { inner, limits: self.clone() }
    }
}

/// Answers RESOURCE_EXHAUSTED at once when `max_concurrent` calls are in flight (never queues, so a
/// flood cannot make callers hang), and DEADLINE_EXCEEDED when a call outlives the deadline: the
/// server's, or the caller's shorter `grpc-timeout`.
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

    fn call(&mut self, req: Request<Body>) -> Self::Future {
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
        Box::pin(async move {
            let _permit = permit;
            match tokio::time::timeout(deadline, inner.call(req)).await {
                Ok(answer) => answer.map(|response| response.map(Body::new)),
                Err(_) => Ok(Status::deadline_exceeded(whose).into_http()),
            }
        })
    }
}

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
    fn only_known_methods_become_labels() {
        assert_eq!(method_label("/etc.esign.v1.AuthService/StartFaceAuth"), "/etc.esign.v1.AuthService/StartFaceAuth");
        assert_eq!(method_label("/etc.esign.v1.AuthService/Made-Up"), "other");
        assert_eq!(method_label("/"), "other");
    }

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

    #[test]
    fn the_status_is_read_from_headers_or_trailers() {
        let mut h = HeaderMap::new();
        assert_eq!(grpc_status(&h), None);
        h.insert("grpc-status", "8".parse().unwrap());
        assert_eq!(grpc_status(&h), Some(Code::ResourceExhausted));
        h.insert("grpc-status", "x".parse().unwrap());
        assert_eq!(grpc_status(&h), None);
    }
}
