//! The observation layer around every gRPC service: one span, one log line and the RPC metrics
//! per call.
use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::http::{HeaderMap, Request, Response};
use http_body::Frame;
use tonic::body::Body;
use tonic::{Code, Status};
use tower::{Layer, Service};
use tracing::Instrument;
use tracing::field::Empty;

use super::methods::{Method, Methods};
use crate::metrics::{Metrics, code_name};

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// The metrics label of a call: its path if the server answers it, else `other`, so that a client
/// sending made-up paths cannot grow the metrics without bound.
fn method_label(method: Option<&'static Method>) -> &'static str {
    method.map_or("other", |m| m.path.as_str())
}

/// The `grpc-status` of a trailers-only answer (headers) or of the trailers.
fn grpc_status(headers: &HeaderMap) -> Option<Code> {
    let value = headers.get("grpc-status")?.to_str().ok()?.parse::<i32>().ok()?;
    Some(Code::from_i32(value))
}

#[derive(Clone)]
pub struct ObserveLayer {
    metrics: Arc<Metrics>,
    methods: &'static Methods,
}

impl ObserveLayer {
    /// Reads the served methods now, at start-up, rather than on the first call.
    pub fn new(metrics: Arc<Metrics>) -> Self {
        Self { metrics, methods: Methods::served() }
    }
}

impl<S> Layer<S> for ObserveLayer {
    type Service = Observe<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Observe { inner, metrics: self.metrics.clone(), methods: self.methods }
    }
}

#[derive(Clone)]
pub struct Observe<S> {
    inner: S,
    metrics: Arc<Metrics>,
    methods: &'static Methods,
}

/// The span of one call at `$level` (a span's level is part of its static call site).
macro_rules! rpc_span {
    ($level:expr, $method:expr, $caller:expr) => {
        tracing::span!(
            $level,
            "rpc",
            method = method_label($method),
            caller = $caller.unwrap_or(""),
            member = Empty,
            code = Empty,
            latency_ms = Empty
        )
    };
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
        let method = self.methods.find(req.uri().path());
        // The caller id is not yet authenticated here; it is short ASCII or left out.
        let caller = req.headers().get("etc-sys-id").and_then(|v| v.to_str().ok()).filter(|v| v.len() <= 32);
        // `member` is recorded by the handler once the request is parsed (MemberNo prints masked).
        // A read's span is at debug: at the default level it is disabled and costs nothing (its
        // creation and each field recorded into it re-formatted the span's JSON: a tenth of a
        // GetProcessDetail, by callgrind); its finish line then names the method itself.
        let span = if method.is_some_and(|m| m.read) {
            rpc_span!(tracing::Level::DEBUG, method, caller)
        } else {
            rpc_span!(tracing::Level::INFO, method, caller)
        };
        let caller = if span.is_disabled() { caller.map(str::to_owned) } else { None };
        let finish =
            Finish { metrics: self.metrics.clone(), method, started: Instant::now(), span: span.clone(), caller };
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
    method: Option<&'static Method>,
    started: Instant,
    span: tracing::Span,
    /// The caller, kept only when the span is disabled (its finish line names it then).
    caller: Option<String>,
}

/// The finish line at `$level`: on the span when it is enabled, else naming method and caller.
macro_rules! finished {
    ($level:expr, $finish:expr, $code:expr, $latency_ms:expr) => {
        if $finish.span.is_disabled() {
            tracing::event!(
                $level,
                method = method_label($finish.method),
                caller = $finish.caller.as_deref().unwrap_or(""),
                code = code_name($code),
                latency_ms = $latency_ms,
                "rpc finished"
            )
        } else {
            $finish
                .span
                .in_scope(|| tracing::event!($level, code = code_name($code), latency_ms = $latency_ms, "rpc finished"))
        }
    };
}

impl Finish {
    fn record(self, code: Code) {
        let elapsed = self.started.elapsed();
        let latency_ms = elapsed.as_secs_f64() * 1000.0;
        self.span.record("code", code_name(code));
        self.span.record("latency_ms", latency_ms);
        // Health, reflection and unknown paths are not the service's own traffic.
        let contract = self.method.is_some_and(|m| m.contract);
        let read = self.method.is_some_and(|m| m.read);
        match code {
            Code::Internal | Code::Unknown | Code::DataLoss => finished!(tracing::Level::ERROR, self, code, latency_ms),
            Code::Unavailable | Code::DeadlineExceeded | Code::ResourceExhausted => {
                finished!(tracing::Level::WARN, self, code, latency_ms)
            }
            // Probes call health every few seconds and successful reads are most of the traffic:
            // a line each at the default level cost more than the read (23% of a GetProcessDetail,
            // by callgrind). Their counts and latencies are in the metrics; RUST_LOG=debug shows them.
            _ if !contract || (code == Code::Ok && read) => finished!(tracing::Level::DEBUG, self, code, latency_ms),
            _ => finished!(tracing::Level::INFO, self, code, latency_ms),
        }
        self.metrics.observe_rpc(Cow::Borrowed(method_label(self.method)), code, elapsed);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_known_methods_become_labels() {
        let label = |path: &str| method_label(Methods::served().find(path));
        assert_eq!(label("/etc.esign.v1.AuthService/StartFaceAuth"), "/etc.esign.v1.AuthService/StartFaceAuth");
        assert_eq!(label("/etc.esign.v1.AuthService/Made-Up"), "other");
        assert_eq!(label("/"), "other");
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
