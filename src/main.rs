//! `etc-esign`: parse settings, build the app, run until SIGTERM/SIGINT. `anyhow` lives only here.
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use etc_esign::config::{Cli, Command, DEV_SYS_ID, DEV_TOKEN, EXIT_CONFIG, ServeArgs};
use etc_esign::{app, sim, store::SeaStore};
use tokio_util::sync::CancellationToken;
use tracing_subscriber::{EnvFilter, fmt, prelude::*};

fn main() -> ExitCode {
    bound_malloc_arenas();
    let cli = Cli::parse();
    // reqwest is built without a crypto provider and sqlx brings ring: install ring once for both.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let json_logs = matches!(cli.command, Command::Serve(_));
    init_logs(json_logs);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(code) => code,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "etc-esign stopped with an error");
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// glibc gives each thread that allocates an arena of its own, up to 8 per core, and keeps what they
/// once held: with the runtime's workers and one thread per pooled SQLite connection, that alone
/// added tens of MiB of RSS under 1,000 streams. One arena per core serves the runtime as well.
fn bound_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get()).max(2);
        let arenas = libc::c_int::try_from(cores).unwrap_or(libc::c_int::MAX);
        // SAFETY: mallopt only sets an allocator parameter; called first, before any other thread exists.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, arenas);
        }
    }
}

fn init_logs(json: bool) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,sea_orm=warn,h2=warn,hyper=warn"));
    let registry = tracing_subscriber::registry().with(filter);
    if json {
        registry.with(etc_esign::logs::json_layer(std::io::stdout)).init();
    } else {
        registry.with(fmt::layer().compact()).init();
    }
}

async fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Serve(args) => {
            let cfg = match args.resolve_serve() {
                Ok(cfg) => cfg,
                Err(e) => {
                    eprint!("{e}");
                    return Ok(ExitCode::from(EXIT_CONFIG as u8));
                }
            };
            serve(cfg).await
        }
        Command::Dev(args) => dev(args).await,
        Command::Migrate(args) => {
            SeaStore::migrate_url(&args.database_url).await.context("migrating the database")?;
            println!("database migrated");
            Ok(ExitCode::SUCCESS)
        }
        Command::Sim(args) => {
            let handle = sim::Simulator::start(sim::SimConfig {
                app_id: args.app_id,
                app_secret: args.app_secret.into(),
                bind: args.addr,
                public_base_url: None,
            })
            .await
            .context("starting the simulator")?;
            println!("e签宝 simulator listening on {}", handle.base_url());
            let stop = CancellationToken::new();
            spawn_signal_handler(stop.clone());
            stop.cancelled().await;
            handle.shutdown().await;
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn dev(args: ServeArgs) -> anyhow::Result<ExitCode> {
    // The simulator runs in-process unless a real (or stand-in) e签宝 is named.
    let sim = if args.esign_base_url.is_none() {
        let handle = sim::Simulator::start(sim::SimConfig {
            app_id: args.esign_app_id.clone().unwrap_or_else(|| etc_esign::config::DEV_APP_ID.into()),
            app_secret: args
                .esign_app_secret
                .clone()
                .unwrap_or_else(|| etc_esign::config::DEV_APP_SECRET.into())
                .into(),
            bind: args.sim_addr,
            public_base_url: None,
        })
        .await
        .context("starting the built-in e签宝 simulator")?;
        Some(handle)
    } else {
        None
    };
    let cfg = match args.resolve_dev(sim.as_ref().map(|s| s.base_url().to_owned())) {
        Ok(cfg) => cfg,
        Err(e) => {
            eprint!("{e}");
            return Ok(ExitCode::from(EXIT_CONFIG as u8));
        }
    };
    let upstream = cfg.esign.base_url.clone();
    let code = serve_with(cfg, |app| {
        println!("etc-esign dev is up");
        println!("  gRPC      {}  (health, reflection, etc.esign.v1.AuthService)", app.grpc_addr);
        println!("  callbacks {}", app.notify_url);
        match &sim {
            Some(_) => println!("  e签宝      built-in simulator at {upstream}/sim"),
            None => println!("  e签宝      {upstream}"),
        }
        println!("  caller    etc-sys-id: {DEV_SYS_ID}   etc-token: {DEV_TOKEN}");
    })
    .await?;
    if let Some(sim) = sim {
        sim.shutdown().await;
    }
    Ok(code)
}

async fn serve(cfg: etc_esign::config::AppConfig) -> anyhow::Result<ExitCode> {
    serve_with(cfg, |_| {}).await
}

async fn serve_with(
    cfg: etc_esign::config::AppConfig,
    on_start: impl FnOnce(&app::RunningApp),
) -> anyhow::Result<ExitCode> {
    let running = app::start(cfg).await.context("starting etc-esign")?;
    on_start(&running);
    spawn_signal_handler(running.shutdown_token());
    running.run_until_stopped().await;
    tracing::info!("etc-esign stopped");
    Ok(ExitCode::SUCCESS)
}

/// SIGTERM (Kubernetes) and SIGINT (Ctrl-C) both start a graceful shutdown.
fn spawn_signal_handler(stop: CancellationToken) {
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(e) => {
                    tracing::error!(error = %e, "cannot watch SIGTERM");
                    let _ = ctrl_c.await;
                    stop.cancel();
                    return;
                }
            };
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        let _ = ctrl_c.await;
        tracing::info!("shutdown requested");
        stop.cancel();
    });
}
