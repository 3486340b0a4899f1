//! Polls e签宝 for steps whose callback never came (callbacks are a hint, polling is the truth),
//! and applies inbox events stored but never applied. Items are leased so that, with several
//! replicas on one database, each is polled by one replica at a time.
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::domain::model::Source;
use crate::domain::ports::Lease;
use crate::domain::{Service, chrono_dur};
use crate::metrics::Metrics;

#[derive(Debug, Clone)]
pub struct ReconcilerSettings {
    /// How often to look for due items.
    pub interval: Duration,
    /// How long a claimed item stays leased to this replica.
    pub lease: Duration,
    /// Items claimed per round, per kind.
    pub batch: u64,
}

impl Default for ReconcilerSettings {
    fn default() -> Self {
        Self { interval: Duration::from_secs(2), lease: Duration::from_secs(60), batch: 32 }
    }
}

/// Runs until `shutdown` is cancelled; a round in progress finishes first. After each round the
/// backlog gauges are refreshed, so a stuck reconciler shows as a growing oldest-item age.
pub async fn run(service: Service, settings: ReconcilerSettings, metrics: Arc<Metrics>, shutdown: CancellationToken) {
    loop {
        round(&service, &settings).await;
        report_backlog(&service, &metrics).await;
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = tokio::time::sleep(settings.interval) => {}
        }
    }
    tracing::info!("reconciler stopped");
}

async fn report_backlog(service: &Service, metrics: &Metrics) {
    match service.store().backlog().await {
        Ok((items, oldest)) => {
            let age = oldest.and_then(|t| (service.now() - t).to_std().ok()).unwrap_or_default();
            metrics.set_backlog(items, age);
        }
        // The gauges keep their last value; health already reports an unreachable database.
        Err(e) => tracing::debug!(error = %e, "reading the reconciler backlog failed"),
    }
}

/// One pass over the inbox, due face flows, due company flows and due authorizations.
pub async fn round(service: &Service, settings: &ReconcilerSettings) {
    if let Err(e) = service.drain_inbox(settings.batch).await {
        tracing::warn!(error = %e, "inbox drain failed");
    }
    let now = service.now();
    let holder = format!("{}/reconciler", service.settings().holder());
    let lease = Lease { holder, until: now + chrono_dur(settings.lease) };
    match service.store().claim_due_face_flows(now, &lease, settings.batch).await {
        Ok(flows) => {
            for flow in flows {
                if let Err(e) = service.reconcile_face_flow(&flow, &Source::Reconciler).await {
                    tracing::warn!(flow_id = %flow.flow_id, error = %e, "flow outline poll failed; retried later");
                }
            }
        }
        Err(e) => tracing::warn!(error = %e, "claiming due face flows failed"),
    }
    match service.store().claim_due_org_flows(now, &lease, settings.batch).await {
        Ok(flows) => {
            for flow in flows {
                if let Err(e) = service.reconcile_org_flow(&flow, &Source::Reconciler).await {
                    tracing::warn!(flow_id = %flow.flow_id, error = %e, "company flow poll failed; retried later");
                }
            }
        }
        Err(e) => tracing::warn!(error = %e, "claiming due company flows failed"),
    }
    match service.store().claim_due_authorizations(now, &lease, settings.batch).await {
        Ok(auths) => {
            for auth in auths {
                if let Err(e) = service.refresh_authorization(&auth, &Source::Reconciler).await {
                    tracing::warn!(auth_id = %auth.auth_id, error = %e, "authorization poll failed; retried later");
                }
            }
        }
        Err(e) => tracing::warn!(error = %e, "claiming due authorizations failed"),
    }
}
