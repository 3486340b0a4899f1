//! Request size per RPC. tonic limits a decoded message per service; the documents RPCs carry two
//! pictures of up to 3 MiB while every other call is a few hundred bytes. The service's limit is the
//! documents' one, and this layer holds every other RPC to the small limit, answering OUT_OF_RANGE
//! as tonic's own limit does, before the message is decoded.
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::Bytes;
use axum::http::Request;
use http_body::{Body as HttpBody, Frame, SizeHint};
use tonic::Status;
use tonic::body::Body;
use tonic::server::NamedService;
use tower::Service;

/// Holds requests to `small` bytes except on `large_paths`.
#[derive(Clone, Debug)]
pub struct SizeLimited<S> {
    inner: S,
    small: usize,
    large_paths: &'static [&'static str],
}

impl<S> SizeLimited<S> {
    pub fn new(inner: S, small: usize, large_paths: &'static [&'static str]) -> Self {
        Self { inner, small, large_paths }
    }
}

impl<S: NamedService> NamedService for SizeLimited<S> {
    const NAME: &'static str = S::NAME;
}

impl<S> Service<Request<Body>> for SizeLimited<S>
where
    S: Service<Request<Body>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        if self.large_paths.contains(&req.uri().path()) {
            return self.inner.call(req);
        }
        // 5 bytes of gRPC framing precede the message.
        let limit = self.small + 5;
        self.inner.call(req.map(|body| Body::new(Capped { inner: body, seen: 0, limit })))
    }
}

/// A body that fails with OUT_OF_RANGE once more than `limit` bytes came.
struct Capped {
    inner: Body,
    seen: usize,
    limit: usize,
}

impl HttpBody for Capped {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                this.seen += frame.data_ref().map_or(0, Bytes::len);
                if this.seen > this.limit {
                    let limit = this.limit - 5;
                    return Poll::Ready(Some(Err(Status::out_of_range(format!(
                        "the request is larger than this call's limit of {limit} bytes"
                    )))));
                }
                Poll::Ready(Some(Ok(frame)))
            }
            other => other,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
