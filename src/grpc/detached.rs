//! State-changing use cases run to their end even when the caller disconnects or its deadline
//! passes: an e签宝 call made but not yet recorded would otherwise be made again by the retry.
//!
//! The use case runs in the handler's own task, and moves to a task of its own only if the handler
//! is dropped before it ends. Spawning every use case up front, as before, handed each call to
//! another task and its answer back: two wake-ups of a parked worker per start, ~0.1 ms of a
//! start's time in the service (README "Performance").
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::task::{Context, Poll};

use tonic::Status;
use tracing::Instrument;

use super::status::to_status;
use crate::domain::DomainError;

/// The use case's future is boxed (every step's state: tens of KiB), so that the handler's future
/// holds a pointer, and moving it to a task of its own copies nothing.
type Work<T> = Pin<Box<dyn Future<Output = Result<T, DomainError>> + Send>>;

/// Runs `work` as the handler's own; see the module's comment.
pub fn detached<T: Send + 'static>(work: impl Future<Output = Result<T, DomainError>> + Send + 'static) -> Detached<T> {
    Detached { work: Some(Box::pin(work)), span: tracing::Span::current() }
}

/// The future [`detached`] answers.
pub struct Detached<T: Send + 'static> {
    /// `None` once it has answered.
    work: Option<Work<T>>,
    /// The call's span, for the task the use case moves to.
    span: tracing::Span,
}

impl<T: Send + 'static> Future for Detached<T> {
    type Output = Result<T, Status>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let Some(work) = self.work.as_mut() else {
            return Poll::Ready(Err(Status::internal("the call failed inside the service")));
        };
        // A panic answers INTERNAL, as a spawned task's did, rather than resetting the stream.
        let polled = catch_unwind(AssertUnwindSafe(|| work.as_mut().poll(cx)));
        let answer = match polled {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(result)) => result.map_err(to_status),
            Err(_) => Err(Status::internal("the call failed inside the service")),
        };
        // Ended (or broken by its panic): nothing is left to finish when the handler is dropped.
        let ended = self.work.take();
        let _ = catch_unwind(AssertUnwindSafe(move || drop(ended)));
        Poll::Ready(answer)
    }
}

impl<T: Send + 'static> Drop for Detached<T> {
    fn drop(&mut self) {
        let Some(work) = self.work.take() else { return };
        // Outside a runtime (it is shutting down) a spawned task would be dropped all the same.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let span = std::mem::replace(&mut self.span, tracing::Span::none());
            runtime.spawn(async move { drop(work.instrument(span).await) });
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use futures::FutureExt;
    use tokio::sync::{Notify, oneshot};

    use super::*;

    #[tokio::test]
    async fn a_use_case_answers_in_the_handler_s_task() {
        let handler = tokio::spawn(async {
            let answer = detached(async move { Ok(tokio::task::id()) }).await;
            (tokio::task::id(), answer.expect("answered"))
        });
        let (handler_s, use_case_s) = handler.await.expect("the handler's task");
        assert_eq!(handler_s, use_case_s, "no task of its own");
        let refused = detached(async { Err::<(), _>(DomainError::NotFound("seal")) }).await;
        assert_eq!(refused.expect_err("mapped by to_status").code(), tonic::Code::NotFound);
    }

    #[tokio::test]
    async fn a_use_case_whose_handler_is_dropped_runs_to_its_end() {
        let (go, ended) = (Arc::new(Notify::new()), oneshot::channel());
        let (wait, (done, finished)) = (go.clone(), ended);
        let mut call = detached(async move {
            wait.notified().await;
            let _ = done.send("recorded");
            Ok(())
        });
        assert!((&mut call).now_or_never().is_none(), "waiting on its step");
        drop(call);
        go.notify_one();
        let finished = tokio::time::timeout(Duration::from_secs(10), finished).await;
        assert_eq!(finished.expect("in time").expect("ran on"), "recorded");
    }

    #[tokio::test]
    async fn a_use_case_that_panics_answers_internal() {
        let answer = detached(async {
            if tokio::task::id() == tokio::task::id() {
                panic!("a bug");
            }
            Ok(())
        })
        .await;
        assert_eq!(answer.expect_err("failed").code(), tonic::Code::Internal);
    }
}
