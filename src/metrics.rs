//! Prometheus metrics, scraped from the HTTP port at `/metrics`. One `Metrics` is built at start and
//! handed to each recorder (the gRPC layer, the e签宝 client, the callback receiver, the reconciler):
//! no global registry, so several apps in one test process each count their own.
use std::borrow::Cow;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::domain::read_cache::ReadCache;

/// What `encode` writes: OpenMetrics text, which Prometheus scrapes natively.
pub const EXPOSITION_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RpcLabels {
    method: Cow<'static, str>,
    code: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct UpstreamLabels {
    endpoint: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallbackLabels {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReadLabels {
    result: &'static str,
}

/// The read cache's counts, read at each scrape (the cache counts; the domain knows no metrics).
struct ReadCacheCollector(Arc<ReadCache>);

impl std::fmt::Debug for ReadCacheCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReadCacheCollector")
    }
}

impl Collector for ReadCacheCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let (hits, misses) = self.0.counts();
        let reads = ConstCounter::new(hits);
        let mut family = encoder.encode_descriptor(
            "etc_esign_read_cache_reads",
            "reads of a process (GetProcessDetail, GetReversePayment) answered from memory (hit) or from the database (miss)",
            None,
            reads.metric_type(),
        )?;
        for (result, count) in [("hit", hits), ("miss", misses)] {
            ConstCounter::new(count).encode(family.encode_family(&ReadLabels { result })?)?;
        }
        let entries = ConstGauge::new(i64::try_from(self.0.len()).unwrap_or(i64::MAX));
        let gauge = encoder.encode_descriptor(
            "etc_esign_read_cache_entries",
            "members' processes kept in memory",
            None,
            entries.metric_type(),
        )?;
        entries.encode(gauge)
    }
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

/// 5 ms … ~10 s: a database read is a few milliseconds, an e签宝 call times out at ESIGN_TIMEOUT_MS.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.005, 2.0, 12))
}

/// How one e签宝 exchange ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpstreamOutcome {
    Ok,
    /// e签宝 answered with a code it means as a refusal.
    Refused,
    Unavailable,
    Timeout,
    /// The answer was not what e签宝's API documents.
    Malformed,
}

impl UpstreamOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Refused => "refused",
            Self::Unavailable => "unavailable",
            Self::Timeout => "timeout",
            Self::Malformed => "malformed",
        }
    }
}

/// How one callback was answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallbackOutcome {
    /// Stored and it moved a flow or an authorization.
    Applied,
    /// Stored earlier, stale, or about an unknown subject: acknowledged, nothing changed.
    Duplicate,
    /// A notification type this service does not act on: acknowledged, not stored.
    Ignored,
    /// Failed verification (signature, app id, time window).
    Rejected,
    /// Authentic but not parseable.
    Unreadable,
    /// Could not be stored; e签宝 will deliver it again.
    Error,
    /// Over the receiver's rate limit (HTTP 429); e签宝 will deliver it again.
    Throttled,
    /// Arrived before the database was ready (HTTP 503); e签宝 will deliver it again.
    Starting,
}

impl CallbackOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Applied => "applied",
            Self::Duplicate => "duplicate",
            Self::Ignored => "ignored",
            Self::Rejected => "rejected",
            Self::Unreadable => "unreadable",
            Self::Error => "error",
            Self::Throttled => "throttled",
            Self::Starting => "starting",
        }
    }
}

/// The canonical upper-case name of a gRPC code, as gRPC's own dashboards spell it.
pub fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code::*;
    match code {
        Ok => "OK",
        Cancelled => "CANCELLED",
        Unknown => "UNKNOWN",
        InvalidArgument => "INVALID_ARGUMENT",
        DeadlineExceeded => "DEADLINE_EXCEEDED",
        NotFound => "NOT_FOUND",
        AlreadyExists => "ALREADY_EXISTS",
        PermissionDenied => "PERMISSION_DENIED",
        ResourceExhausted => "RESOURCE_EXHAUSTED",
        FailedPrecondition => "FAILED_PRECONDITION",
        Aborted => "ABORTED",
        OutOfRange => "OUT_OF_RANGE",
        Unimplemented => "UNIMPLEMENTED",
        Internal => "INTERNAL",
        Unavailable => "UNAVAILABLE",
        DataLoss => "DATA_LOSS",
        Unauthenticated => "UNAUTHENTICATED",
    }
}

/// Every series the service exports.
pub struct Metrics {
    registry: Registry,
    rpc_requests: Family<RpcLabels, Counter>,
    rpc_duration: Histograms<RpcLabels>,
    upstream_requests: Family<UpstreamLabels, Counter>,
    upstream_duration: Histograms<UpstreamLabels>,
    callbacks: Family<CallbackLabels, Counter>,
    backlog: Gauge,
    oldest_pending_age: Gauge<f64, AtomicU64>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let rpc_requests = Family::<RpcLabels, Counter>::default();
        let rpc_duration: Histograms<RpcLabels> = Family::new_with_constructor(latency_histogram);
        let upstream_requests = Family::<UpstreamLabels, Counter>::default();
        let upstream_duration: Histograms<UpstreamLabels> = Family::new_with_constructor(latency_histogram);
        let callbacks = Family::<CallbackLabels, Counter>::default();
        let backlog = Gauge::default();
        let oldest_pending_age = Gauge::<f64, AtomicU64>::default();
        // Counters get `_total` appended by the encoder.
        registry.register("etc_esign_rpc_requests", "gRPC calls answered, by method and code", rpc_requests.clone());
        registry.register(
            "etc_esign_rpc_duration_seconds",
            "gRPC call latency until the status is sent, by method and code",
            rpc_duration.clone(),
        );
        registry.register(
            "etc_esign_upstream_requests",
            "e签宝 exchanges (each retry counts), by endpoint and outcome",
            upstream_requests.clone(),
        );
        registry.register(
            "etc_esign_upstream_duration_seconds",
            "e签宝 exchange latency, by endpoint and outcome",
            upstream_duration.clone(),
        );
        registry.register("etc_esign_callbacks", "e签宝 callbacks received, by outcome", callbacks.clone());
        registry.register(
            "etc_esign_reconciler_backlog",
            "running face flows, authorizations in progress or awaiting their letter, and unapplied callbacks the reconciler still watches",
            backlog.clone(),
        );
        registry.register(
            "etc_esign_reconciler_oldest_pending_age_seconds",
            "age of the oldest item in the reconciler's backlog (0 when it is empty)",
            oldest_pending_age.clone(),
        );
        Self {
            registry,
            rpc_requests,
            rpc_duration,
            upstream_requests,
            upstream_duration,
            callbacks,
            backlog,
            oldest_pending_age,
        }
    }

    /// The same metrics, with the read cache's counts at each scrape.
    pub fn with_read_cache(mut self, cache: Arc<ReadCache>) -> Self {
        self.registry.register_collector(Box::new(ReadCacheCollector(cache)));
        self
    }

    pub fn observe_rpc(&self, method: Cow<'static, str>, code: tonic::Code, elapsed: Duration) {
        let labels = RpcLabels { method, code: code_name(code) };
        self.rpc_requests.get_or_create(&labels).inc();
        self.rpc_duration.get_or_create(&labels).observe(elapsed.as_secs_f64());
    }

    pub fn observe_upstream(&self, endpoint: &'static str, outcome: UpstreamOutcome, elapsed: Duration) {
        let labels = UpstreamLabels { endpoint, outcome: outcome.as_str() };
        self.upstream_requests.get_or_create(&labels).inc();
        self.upstream_duration.get_or_create(&labels).observe(elapsed.as_secs_f64());
    }

    pub fn count_callback(&self, outcome: CallbackOutcome) {
        self.callbacks.get_or_create(&CallbackLabels { outcome: outcome.as_str() }).inc();
    }

    pub fn set_backlog(&self, items: u64, oldest_age: Duration) {
        self.backlog.set(i64::try_from(items).unwrap_or(i64::MAX));
        self.oldest_pending_age.set(oldest_age.as_secs_f64());
    }

    /// The exposition Prometheus scrapes.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exposition_names_every_series_with_its_labels() {
        let m = Metrics::new();
        m.observe_rpc("/etc.esign.v1.AuthService/StartFaceAuth".into(), tonic::Code::Ok, Duration::from_millis(3));
        m.observe_upstream("face", UpstreamOutcome::Timeout, Duration::from_secs(1));
        m.count_callback(CallbackOutcome::Applied);
        m.set_backlog(3, Duration::from_secs(90));
        let text = m.encode().unwrap();
        for line in [
            r#"etc_esign_rpc_requests_total{method="/etc.esign.v1.AuthService/StartFaceAuth",code="OK"} 1"#,
            r#"etc_esign_rpc_duration_seconds_count{method="/etc.esign.v1.AuthService/StartFaceAuth",code="OK"} 1"#,
            r#"etc_esign_upstream_requests_total{endpoint="face",outcome="timeout"} 1"#,
            r#"etc_esign_callbacks_total{outcome="applied"} 1"#,
            "etc_esign_reconciler_backlog 3",
            "etc_esign_reconciler_oldest_pending_age_seconds 90.0",
            "# EOF",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing from:\n{text}");
        }
    }
}
