//! `ultra serve`, `ultra service NAME` and `ultra gateway`: the long-running roles.
//!
//! Each reads like a table of contents: settings, telemetry, start, wait for a signal,
//! drain with a timeout.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use tokio_util::sync::CancellationToken;
use ultra_cli::platform::{self, Backend, Platform, PlatformError, PlatformOptions};

/// How long a stopping process waits for in-flight work before it gives up on it.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// How long `ultra serve` waits for every service to be ready before it says so (and then
/// keeps running: the services keep waiting for their database and bus).
const READY_WAIT: Duration = Duration::from_secs(10);

#[derive(Args)]
pub struct ServeArgs {
    /// Address of the REST gateway.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Where the SQLite databases, model files and generated secrets live.
    #[arg(long, default_value = "./data")]
    data_dir: PathBuf,
}

#[derive(Args)]
pub struct ServiceArgs {
    /// users, files, simulation, results, billing or analytics.
    name: String,
}

fn process_env() -> HashMap<String, String> {
    std::env::vars()
        .filter(|(name, _)| name.starts_with("ULTRA_") || name == "HOSTNAME")
        .collect()
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("RUST_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .try_init();
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
async fn signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = interrupt => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(_) => {
                let _ = interrupt.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}

/// `ultra serve`: the gateway and the six services in this process.
pub fn serve(args: ServeArgs) -> anyhow::Result<()> {
    init_tracing();
    runtime()?.block_on(async {
        let started = Instant::now();
        let env = process_env();
        let options = PlatformOptions {
            listen: args.listen,
            data_dir: args.data_dir,
            backend: Backend::from_env(&env),
            env,
        };
        let mut running = Platform::start(options).await?;
        match running.wait_ready(READY_WAIT).await {
            Ok(()) => println!(
                "Ultra is ready at {} ({} ms); Ctrl-C to stop",
                running.base_url,
                started.elapsed().as_millis()
            ),
            // A database or Redis that is not up yet is waited for, not fatal: the services
            // keep trying and /readyz says when they are ready.
            Err(PlatformError::NotReady(waited, what)) => {
                tracing::warn!(?waited, %what, "not ready yet; still starting");
                println!(
                    "Ultra is listening at {} but not ready yet ({what}); see {}/readyz",
                    running.base_url, running.base_url
                );
            }
            Err(error) => {
                let _ = running.shutdown(SHUTDOWN_GRACE).await;
                return Err(error.into());
            }
        }
        let failure = tokio::select! {
            () = signal() => None,
            error = running.stopped() => Some(error),
        };
        tracing::info!("shutting down");
        let errors = running.shutdown(SHUTDOWN_GRACE).await;
        for error in &errors {
            tracing::error!(%error, "stopped with an error");
        }
        match failure {
            Some(error) => Err(error.into()),
            None => Ok(()),
        }
    })
}

/// Runs one serving future until a signal, then cancels it and waits up to the grace.
async fn run_until_signal<F>(serving: F, shutdown: CancellationToken) -> anyhow::Result<()>
where
    F: Future<Output = Result<(), String>> + Send + 'static,
{
    let mut task = tokio::spawn(serving);
    tokio::select! {
        () = signal() => {}
        outcome = &mut task => {
            return match outcome {
                Ok(Ok(())) => Ok(()),
                Ok(Err(message)) => Err(anyhow::anyhow!(message)),
                Err(join_error) => Err(join_error.into()),
            };
        }
    }
    shutdown.cancel();
    match tokio::time::timeout(SHUTDOWN_GRACE, task).await {
        Ok(Ok(Ok(()))) => Ok(()),
        Ok(Ok(Err(message))) => Err(anyhow::anyhow!(message)),
        Ok(Err(join_error)) => Err(join_error.into()),
        Err(_) => Err(anyhow::anyhow!("did not stop within {SHUTDOWN_GRACE:?}")),
    }
}

fn listen_address(env: &HashMap<String, String>, default: &str) -> anyhow::Result<SocketAddr> {
    let text = env
        .get("ULTRA_LISTEN")
        .map(String::as_str)
        .unwrap_or(default);
    text.parse()
        .with_context(|| format!("ULTRA_LISTEN={text:?} is not an address"))
}

/// A split deployment signs and verifies the caller metadata of every gRPC request with
/// `ULTRA_SERVICE_SECRET` (shared by the gateway and every service, like the JWT secret):
/// without it a service would trust any caller written into a request, so it must be set.
/// (`ultra serve` generates one under its data directory.)
fn require_service_secret(env: &HashMap<String, String>) -> anyhow::Result<()> {
    let variable = "ULTRA_SERVICE_SECRET";
    if env
        .get(variable)
        .is_none_or(|value| value.trim().is_empty())
    {
        anyhow::bail!(
            "{variable} is required: the secret (at least 32 bytes, the same in the gateway and \
             every service) that signs the caller of each gRPC request"
        );
    }
    Ok(())
}

/// `ultra service NAME`: one service, configured by `ULTRA_*` variables (`ULTRA_LISTEN`,
/// default `0.0.0.0:50051`).
pub fn service(args: ServiceArgs) -> anyhow::Result<()> {
    init_tracing();
    let env = process_env();
    require_service_secret(&env)?;
    runtime()?.block_on(async {
        let addr = listen_address(&env, "0.0.0.0:50051")?;
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding {addr}"))?;
        let shutdown = CancellationToken::new();
        // ULTRA_REDIS_URL: the Redis bus shared with the other services' processes; unset,
        // the in-process bus, which reaches only this process.
        let bus = platform::bus_from_env(&env)?;
        let task =
            platform::service_task(&args.name, &env, bus.clone(), listener, shutdown.clone())?;
        println!("{} listening on {addr} (bus: {bus:?})", args.name);
        let outcome = run_until_signal(task, shutdown).await;
        bus.close();
        outcome
    })
}

/// `ultra gateway`: the REST gateway alone, upstream URLs from `ULTRA_*_URL`.
pub fn gateway() -> anyhow::Result<()> {
    init_tracing();
    let env = process_env();
    require_service_secret(&env)?;
    runtime()?.block_on(async {
        let config = ultra_gateway::Config::from_env(&env)?;
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("binding {}", config.listen))?;
        let scheme = if config.tls.is_some() {
            "https"
        } else {
            "http"
        };
        println!("gateway listening on {scheme}://{}", config.listen);
        let shutdown = CancellationToken::new();
        let token = shutdown.clone();
        let serving = async move {
            ultra_gateway::serve(config, listener, token)
                .await
                .map_err(|e| e.to_string())
        };
        run_until_signal(serving, shutdown).await
    })
}
