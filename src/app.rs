//! Builds the running service from checked settings: binds both ports, serves gRPC (the service,
//! health, reflection) and HTTP (callbacks, metrics), migrates, frees the leases an earlier life of
//! this replica held, runs the reconciler, and stops gracefully.
use std::{net::SocketAddr, sync::Arc, time::Duration};

use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tonic::transport::server::TcpIncoming;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

use crate::config::AppConfig;
use crate::domain::doc_ports::Documents;
use crate::domain::ports::ChangeFeed;
use crate::domain::read_cache::{ReadCache, Reads};
use crate::domain::{Clock, Service, Settings, SystemClock};
use crate::esign::EsignClient;
use crate::files::{LinkSigner, ObjectDocuments};
use crate::gate::StartGate;
use crate::grpc::documents::LARGE_PATHS;
use crate::grpc::limits::Limits;
use crate::grpc::observe::ObserveLayer;
use crate::grpc::size::SizeLimited;
use crate::grpc::{LIVENESS_NAME, SERVICE_NAME, auth::CallerAuth, pb, service::AuthServiceImpl};
use crate::http::files::FilesState;
use crate::http::{CALLBACK_PATH, CallbackState};
use crate::metrics::Metrics;
use crate::store::SeaStore;
use crate::store::cipher::Cipher;

/// Largest gRPC message accepted: requests are a few hundred bytes; this leaves room, not abuse.
const MAX_MESSAGE_BYTES: usize = 256 * 1024;
/// Largest message of the documents RPCs: two pictures of up to 3 MiB each, and room for the rest.
const MAX_DOCUMENT_MESSAGE_BYTES: usize = 2 * crate::domain::values::MAX_IMAGE_BYTES + 64 * 1024;
/// How often health re-checks the database.
const HEALTH_PING_EVERY: Duration = Duration::from_secs(5);
/// How long start-up waits for the read cache's change feed before saying SERVING without it.
const FEED_READY_WAIT: Duration = Duration::from_secs(3);

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("cannot open the database: {0}")]
    Database(String),
    #[error("cannot build the e签宝 client: {0}")]
    Esign(String),
    #[error("cannot build the reflection service: {0}")]
    Reflection(String),
    #[error("the data keys are unusable: {0}")]
    Keys(String),
    #[error("cannot open the object store: {0}")]
    Objects(String),
}

/// A started service. Dropping it does not stop it: call `shutdown`.
pub struct RunningApp {
    pub grpc_addr: SocketAddr,
    pub http_addr: SocketAddr,
    pub notify_url: String,
    pub service: Service,
    shutdown: CancellationToken,
    tasks: JoinSet<()>,
    health: HealthReporter,
    grace: Duration,
    store: SeaStore,
}

impl RunningApp {
    /// A token that stops the service when cancelled (e.g. from a signal handler).
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Waits until the shutdown token is cancelled, then stops.
    pub async fn run_until_stopped(self) {
        self.shutdown.cancelled().await;
        self.stop().await;
    }

    /// Health says NOT_SERVING at once, then servers drain in-flight calls (up to the grace period)
    /// and every task ends.
    pub async fn stop(mut self) {
        set_health(&self.health, ServingStatus::NotServing).await;
        self.shutdown.cancel();
        let drained = tokio::time::timeout(self.grace, async { while self.tasks.join_next().await.is_some() {} }).await;
        if drained.is_err() {
            tracing::warn!("grace period over; aborting what is left");
            self.tasks.abort_all();
        }
        if let Err(error) = self.store.flush_at_stop().await {
            tracing::warn!(%error, "the database's WAL was left beside its file; the next start replays it");
        }
    }
}

async fn set_health(health: &HealthReporter, status: ServingStatus) {
    health.set_service_status("", status).await;
    health.set_service_status(SERVICE_NAME, status).await;
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, AppError> {
    TcpListener::bind(addr).await.map_err(|source| AppError::Bind { addr, source })
}

/// The address e签宝 can call back on when no public URL is set: a wildcard listen address is
/// reachable on loopback.
fn reachable(addr: SocketAddr) -> SocketAddr {
    let mut a = addr;
    if a.ip().is_unspecified() {
        a.set_ip(if a.is_ipv4() { std::net::Ipv4Addr::LOCALHOST.into() } else { std::net::Ipv6Addr::LOCALHOST.into() });
    }
    a
}

pub async fn start(cfg: AppConfig) -> Result<RunningApp, AppError> {
    start_with_clock(cfg, Arc::new(SystemClock)).await
}

/// [`start`] with `clock` as the service's "now" (tests move it to see URLs and leases expire).
pub async fn start_with_clock(cfg: AppConfig, clock: Arc<dyn Clock>) -> Result<RunningApp, AppError> {
    let grpc_listener = bind(cfg.grpc_addr).await?;
    let http_listener = bind(cfg.http_addr).await?;
    let grpc_addr = grpc_listener.local_addr().map_err(|source| AppError::Bind { addr: cfg.grpc_addr, source })?;
    let http_addr = http_listener.local_addr().map_err(|source| AppError::Bind { addr: cfg.http_addr, source })?;
    let notify_url = match &cfg.public_callback_base_url {
        Some(base) => format!("{}{CALLBACK_PATH}", base.trim_end_matches('/')),
        None => format!("http://{}{CALLBACK_PATH}", reachable(http_addr)),
    };

    let cipher = Cipher::new(&cfg.data_keys).map_err(AppError::Keys)?;
    let documents: Arc<dyn Documents> = Arc::new(
        ObjectDocuments::open(&cfg.files.object_store_url, &cfg.files.s3, cipher.clone()).map_err(AppError::Objects)?,
    );
    let files_base = match &cfg.files.public_base_url {
        Some(base) => base.clone(),
        None => format!("http://{}", reachable(http_addr)),
    };
    let links = LinkSigner::new(cfg.files.link_key.clone(), &files_base, cfg.files.link_ttl);
    let store = SeaStore::connect(&cfg.database_url, cfg.database_max_connections, cipher)
        .await
        .map_err(|e| AppError::Database(e.to_string()))?;
    let read_cache = Arc::new(ReadCache::new(cfg.read_cache_entries));
    let metrics = Arc::new(Metrics::new().with_read_cache(read_cache.clone()));
    let esign =
        EsignClient::new(cfg.esign.clone()).map_err(|e| AppError::Esign(e.to_string()))?.with_metrics(metrics.clone());
    // A new instance id (Settings::default) names this life of the replica in its leases.
    let settings = Settings {
        notify_url: notify_url.clone(),
        replica_id: cfg.replica_id.clone(),
        poll_initial: cfg.poll_initial,
        poll_max: cfg.poll_max,
        evidence_keys: cfg.evidence_keys.clone(),
        seal_reviewers: cfg.seal_reviewers.clone(),
        ..Settings::default()
    }
    .with_upstream_bounds(cfg.esign.write_bound(), cfg.esign.read_bound());
    // Reads are kept from when the feed first catches up: after migration (the trigger it follows
    // is one), below.
    let feed = store.change_feed(read_cache.clone());
    let reads = Reads { cache: read_cache, feed: feed.clone().map(|f| f as Arc<dyn ChangeFeed>) };
    let service = Service::new(Arc::new(store.clone()), Arc::new(esign), clock, settings)
        .with_documents(documents.clone())
        .with_reads(reads);

    let (health, health_service) = tonic_health::server::health_reporter();
    set_health(&health, ServingStatus::NotServing).await;
    health.set_service_status(LIVENESS_NAME, ServingStatus::Serving).await;
    let reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_types::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .map_err(|e| AppError::Reflection(e.to_string()))?;
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_types::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()
        .map_err(|e| AppError::Reflection(e.to_string()))?;
    let auth_service = pb::auth_service_server::AuthServiceServer::new(
        AuthServiceImpl::new(service.clone()).with_links(links.clone()),
    )
    .max_decoding_message_size(MAX_DOCUMENT_MESSAGE_BYTES);
    // Every RPC but the documents' keeps the small limit.
    let auth_service = SizeLimited::new(auth_service, MAX_MESSAGE_BYTES, LARGE_PATHS);
    let auth_service =
        tonic::service::interceptor::InterceptedService::new(auth_service, CallerAuth::new(cfg.callers.clone()));
    // Limits wrap AuthService alone: health and reflection must answer while it sheds load, and
    // before the database is ready (the gate), when it answers "starting; retry".
    let gate = StartGate::closed();
    let auth_service =
        Limits::new(gate.clone(), cfg.grpc_max_concurrent_rpcs, cfg.grpc_default_timeout).wrap(auth_service);

    let shutdown = CancellationToken::new();
    let mut tasks = JoinSet::new();

    let grpc_stop = shutdown.clone();
    let router = tonic::transport::Server::builder()
        .layer(ObserveLayer::new(metrics.clone()))
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(auth_service);
    tasks.spawn(async move {
        let incoming = TcpIncoming::from(grpc_listener).with_nodelay(Some(true));
        if let Err(e) = router.serve_with_incoming_shutdown(incoming, grpc_stop.cancelled_owned()).await {
            tracing::error!(error = %e, "gRPC server failed");
        }
    });

    let http_stop = shutdown.clone();
    let callbacks = crate::http::router(CallbackState {
        service: service.clone(),
        app_id: cfg.esign.app_id.clone(),
        app_secret: cfg.esign.app_secret.clone(),
        metrics: metrics.clone(),
        rate_per_sec: cfg.callback_rate_per_sec,
        gate: gate.clone(),
    })
    .merge(crate::http::files::router(FilesState { documents, links, service: service.clone() }));
    tasks.spawn(async move {
        if let Err(e) = axum::serve(http_listener, callbacks).with_graceful_shutdown(http_stop.cancelled_owned()).await
        {
            tracing::error!(error = %e, "HTTP server failed");
        }
    });

    // Migrate and free what an earlier life of this replica held, then say SERVING; keep checking
    // the database so health tells the truth.
    let (h, s, stop) = (health.clone(), store.clone(), shutdown.clone());
    let reconciler_settings = cfg.reconciler.clone();
    let reconciler_service = service.clone();
    tasks.spawn(async move {
        let mut pause = Duration::from_millis(200);
        loop {
            match s.migrate().await {
                Ok(()) => match reconciler_service.reclaim_earlier_leases().await {
                    Ok(_) => break,
                    Err(e) => tracing::error!(error = %e, "freeing an earlier life's leases failed; retrying"),
                },
                Err(e) => tracing::error!(error = %e, "migration failed; retrying"),
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(pause) => {}
            }
            pause = (pause * 2).min(Duration::from_secs(10));
        }
        // Calls may reach the database from here on, even while the feed below catches up: reads
        // go to the database until it has.
        gate.open();
        let feed = match feed {
            Some(f) => {
                let running = tokio::spawn(f.clone().run(stop.clone()));
                // SERVING once reads can be kept (the feed listens), or after a few seconds without:
                // a feed that cannot connect sends reads to the database, it does not stop service.
                let ready = tokio::time::timeout(FEED_READY_WAIT, async {
                    while !f.caught_up().await {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                });
                if ready.await.is_err() {
                    tracing::warn!("the change feed is not ready; serving, reads go to the database until it is");
                }
                Some(running)
            }
            None => None,
        };
        set_health(&h, ServingStatus::Serving).await;
        tracing::info!("database migrated, earlier leases freed; serving");
        let reconciler =
            tokio::spawn(crate::reconciler::run(reconciler_service, reconciler_settings, metrics, stop.clone()));
        let mut serving = true;
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                () = tokio::time::sleep(HEALTH_PING_EVERY) => {}
            }
            let up = crate::domain::ports::Store::ping(&s).await.is_ok();
            if up != serving {
                serving = up;
                tracing::warn!(database_up = up, "database reachability changed");
                set_health(&h, if up { ServingStatus::Serving } else { ServingStatus::NotServing }).await;
            }
        }
        let _ = reconciler.await;
        if let Some(feed) = feed {
            let _ = feed.await;
        }
    });

    tracing::info!(%grpc_addr, %http_addr, backend = store.backend_name(), "etc-esign started");
    Ok(RunningApp {
        grpc_addr,
        http_addr,
        notify_url,
        service,
        shutdown,
        tasks,
        health,
        grace: cfg.shutdown_grace,
        store: store.clone(),
    })
}
