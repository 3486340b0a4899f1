//! The JSON log lines of the in-process service (as `serve` writes them), captured for one test:
//! `let captured = capture_logs();` before `spawn_app()`, then `captured.lines()`.
thread_local! {
    /// Where this thread's logs go while a test captures them (see `capture_logs`).
    static LOG_SINK: std::cell::RefCell<Option<LogSink>> = const { std::cell::RefCell::new(None) };
}

/// JSON log lines, as `serve` writes them, captured for one test.
#[derive(Clone, Default)]
pub struct LogSink(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl LogSink {
    pub fn lines(&self) -> Vec<serde_json::Value> {
        let bytes = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
        String::from_utf8_lossy(&bytes).lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
    }
}

impl std::io::Write for LogSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// One process-wide subscriber, installed before any app runs, that writes only on threads that
/// capture. A per-test `set_default` subscriber is not enough: a span first hit by another test's
/// thread can be cached as disabled for every thread.
pub(super) fn install_log_capture() {
    use tracing_subscriber::{Layer, filter, layer::SubscriberExt};
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        // Dynamic: decided per call (on which thread), never cached per callsite as `filter_fn` is.
        let capturing = filter::dynamic_filter_fn(|meta, _| {
            meta.level() <= &tracing::Level::INFO && LOG_SINK.with(|s| s.borrow().is_some())
        });
        let writer = || LOG_SINK.with(|s| s.borrow().clone()).unwrap_or_default();
        let layer = etc_esign::logs::json_layer(writer).with_filter(capturing);
        let _ = tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer));
    });
}

/// Captures the logs of this thread (a `#[tokio::test]` runs its app's tasks on it) from now on.
pub fn capture_logs() -> LogSink {
    install_log_capture();
    let sink = LogSink::default();
    LOG_SINK.with(|s| *s.borrow_mut() = Some(sink.clone()));
    sink
}
