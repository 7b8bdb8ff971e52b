//! The whole platform in one process: six services, each on its own loopback port speaking
//! real gRPC, sharing one in-process bus, with SQLite files under a data directory, and the
//! gateway in front. `ultra serve` runs it until a signal; tests start it on port 0.
//!
//! Every service is configured the way `ultra service NAME` configures it — from one
//! `ULTRA_*` map (built here: database URLs under the data directory, peer URLs of the
//! ports just bound, the persisted secrets, plus whatever the caller's environment adds) —
//! so the embedded mode exercises the same configuration path as a cluster deployment.

mod secrets;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use ultra_bus::Bus;

/// The services, in the order they start (none waits for another: peers connect lazily).
pub const SERVICES: [&str; 6] = [
    "users",
    "files",
    "simulation",
    "results",
    "billing",
    "analytics",
];

/// Why the platform could not start or a part of it stopped.
#[derive(Debug, thiserror::Error)]
pub enum PlatformError {
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error("configuration of {service}: {message}")]
    Config {
        service: &'static str,
        message: String,
    },
    #[error("{service} stopped: {message}")]
    Stopped {
        service: &'static str,
        message: String,
    },
    #[error(
        "unknown service {0:?} (expected one of users, files, simulation, results, billing, analytics)"
    )]
    UnknownService(String),
    #[error("not ready after {0:?}: {1}")]
    NotReady(Duration, String),
}

fn io_error(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> PlatformError {
    let what = what.into();
    move |source| PlatformError::Io { what, source }
}

/// What to start.
#[derive(Clone, Debug)]
pub struct PlatformOptions {
    /// The gateway's address (`127.0.0.1:0` for an ephemeral port).
    pub listen: SocketAddr,
    /// Where the SQLite files, model objects and generated secrets live.
    pub data_dir: PathBuf,
    /// `ULTRA_*` settings (usually the process environment); the platform's own wiring
    /// (database URLs, peer URLs) takes precedence, secrets given here win over stored ones.
    pub env: HashMap<String, String>,
}

impl PlatformOptions {
    pub fn new(listen: SocketAddr, data_dir: impl Into<PathBuf>) -> Self {
        PlatformOptions {
            listen,
            data_dir: data_dir.into(),
            env: HashMap::new(),
        }
    }
}

/// The gRPC URL of each service, by name.
pub type ServiceUrls = HashMap<&'static str, String>;

/// A started platform; dropping it without [`RunningPlatform::shutdown`] aborts its tasks.
pub struct RunningPlatform {
    /// `http://127.0.0.1:PORT` of the gateway.
    pub base_url: String,
    pub service_urls: ServiceUrls,
    /// The settings every service was started with (secrets included: keep it private).
    pub env: HashMap<String, String>,
    shutdown: CancellationToken,
    tasks: JoinSet<(&'static str, Result<(), String>)>,
}

/// Binds `127.0.0.1:0` for one service.
async fn bind_loopback(service: &'static str) -> Result<TcpListener, PlatformError> {
    TcpListener::bind(("127.0.0.1", 0))
        .await
        .map_err(io_error(format!("binding a port for {service}")))
}

fn sqlite_url(data_dir: &Path, service: &str) -> String {
    format!(
        "sqlite://{}",
        data_dir.join(format!("{service}.db")).display()
    )
}

/// The `ULTRA_*` map of one platform: `base` plus the wiring of this process.
pub fn platform_env(
    base: &HashMap<String, String>,
    data_dir: &Path,
    urls: &ServiceUrls,
) -> Result<HashMap<String, String>, PlatformError> {
    let mut env = base.clone();
    let secrets_dir = data_dir.join("secrets");
    for (variable, file) in [
        ("ULTRA_JWT_SECRET", "jwt_secret"),
        ("ULTRA_MASTER_KEY", "master_key"),
    ] {
        if env
            .get(variable)
            .is_none_or(|value| value.trim().is_empty())
        {
            let secret = secrets::load_or_create(&secrets_dir, file).map_err(io_error(format!(
                "secret {}",
                secrets_dir.join(file).display()
            )))?;
            env.insert(variable.to_string(), secret);
        }
    }
    for service in SERVICES {
        let upper = service.to_ascii_uppercase();
        env.insert(
            format!("ULTRA_{upper}_DATABASE_URL"),
            sqlite_url(data_dir, service),
        );
        if let Some(url) = urls.get(service) {
            env.insert(format!("ULTRA_{upper}_URL"), url.clone());
        }
    }
    env.insert(
        "ULTRA_FILES_STORAGE_DIR".to_string(),
        data_dir.join("objects").display().to_string(),
    );
    Ok(env)
}

type ServiceTask = std::pin::Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;

/// Builds the serving future of one service from `env`; the configuration is read (and a
/// bad value reported) before anything runs.
pub fn service_task(
    name: &str,
    env: &HashMap<String, String>,
    bus: Bus,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<ServiceTask, PlatformError> {
    macro_rules! task {
        ($service:literal, $krate:ident) => {{
            let config = $krate::Config::from_env(env).map_err(|error| PlatformError::Config {
                service: $service,
                message: error.to_string(),
            })?;
            let future = async move {
                $krate::serve(config, bus, listener, shutdown)
                    .await
                    .map_err(|error| error.to_string())
            };
            Ok(Box::pin(future) as ServiceTask)
        }};
    }
    match name {
        "users" => task!("users", ultra_users),
        "files" => task!("files", ultra_files),
        "simulation" => task!("simulation", ultra_simulation),
        "results" => task!("results", ultra_results),
        "billing" => task!("billing", ultra_billing),
        "analytics" => task!("analytics", ultra_analytics),
        other => Err(PlatformError::UnknownService(other.to_string())),
    }
}

/// The gateway's configuration from a platform map and its listen address.
pub fn gateway_config(
    env: &HashMap<String, String>,
    listen: SocketAddr,
) -> Result<ultra_gateway::Config, PlatformError> {
    let mut env = env.clone();
    env.insert("ULTRA_LISTEN".into(), listen.to_string());
    ultra_gateway::Config::from_env(&env).map_err(|error| PlatformError::Config {
        service: "gateway",
        message: error.to_string(),
    })
}

pub struct Platform;

impl Platform {
    /// Binds every port, then starts the six services and the gateway. Returns as soon as
    /// they are spawned: the ports are already listening, so early requests wait in the
    /// accept queue rather than fail. [`RunningPlatform::wait_ready`] waits for health.
    pub async fn start(options: PlatformOptions) -> Result<RunningPlatform, PlatformError> {
        let data_dir = &options.data_dir;
        std::fs::create_dir_all(data_dir)
            .map_err(io_error(format!("creating {}", data_dir.display())))?;
        let mut listeners = Vec::new();
        let mut service_urls = ServiceUrls::new();
        for service in SERVICES {
            let listener = bind_loopback(service).await?;
            let addr = listener
                .local_addr()
                .map_err(io_error("reading a bound port"))?;
            service_urls.insert(service, format!("http://{addr}"));
            listeners.push((service, listener));
        }
        let env = platform_env(&options.env, data_dir, &service_urls)?;
        let gateway_listener =
            TcpListener::bind(options.listen)
                .await
                .map_err(io_error(format!(
                    "binding the gateway on {}",
                    options.listen
                )))?;
        let gateway_addr = gateway_listener
            .local_addr()
            .map_err(io_error("reading a bound port"))?;
        let gateway = gateway_config(&env, gateway_addr)?;
        let scheme = if gateway.tls.is_some() {
            "https"
        } else {
            "http"
        };

        let shutdown = CancellationToken::new();
        let bus = Bus::in_process();
        let mut tasks = JoinSet::new();
        for (service, listener) in listeners {
            let task = service_task(service, &env, bus.clone(), listener, shutdown.child_token())?;
            tasks.spawn(async move { (service, task.await) });
        }
        let gateway_shutdown = shutdown.child_token();
        tasks.spawn(async move {
            let outcome = ultra_gateway::serve(gateway, gateway_listener, gateway_shutdown).await;
            ("gateway", outcome.map_err(|error| error.to_string()))
        });
        tracing::info!(gateway = %gateway_addr, data_dir = %data_dir.display(), "platform started");
        Ok(RunningPlatform {
            base_url: format!("{scheme}://{gateway_addr}"),
            service_urls,
            env,
            shutdown,
            tasks,
        })
    }
}

impl RunningPlatform {
    /// Waits until every service answers gRPC health SERVING, or a part stops, or `limit`.
    pub async fn wait_ready(&mut self, limit: Duration) -> Result<(), PlatformError> {
        let urls = ultra_gateway::UpstreamUrls {
            users: self.service_urls["users"].clone(),
            files: self.service_urls["files"].clone(),
            simulation: self.service_urls["simulation"].clone(),
            results: self.service_urls["results"].clone(),
            billing: self.service_urls["billing"].clone(),
            analytics: self.service_urls["analytics"].clone(),
        };
        let upstreams = ultra_gateway::upstream::Upstreams::connect_lazy(&urls)
            .map_err(|error| PlatformError::NotReady(limit, error.to_string()))?;
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let checks = upstreams.health().await;
            let waiting: Vec<_> = checks
                .iter()
                .filter(|(_, serving)| !serving)
                .map(|(name, _)| *name)
                .collect();
            if waiting.is_empty() {
                return Ok(());
            }
            if let Some(stopped) = self.tasks.try_join_next() {
                return Err(stopped_error(stopped));
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(PlatformError::NotReady(
                    limit,
                    format!("waiting for {waiting:?}"),
                ));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Resolves when a part of the platform stops on its own (an error: parts only stop at
    /// shutdown), with what it said.
    pub async fn stopped(&mut self) -> PlatformError {
        match self.tasks.join_next().await {
            Some(outcome) => stopped_error(outcome),
            None => PlatformError::Stopped {
                service: "platform",
                message: "nothing running".into(),
            },
        }
    }

    /// Cancels every part and waits up to `grace` for them to finish (running simulations
    /// are marked interrupted by their service); whatever is still running then is aborted.
    /// Returns the errors parts stopped with.
    pub async fn shutdown(mut self, grace: Duration) -> Vec<PlatformError> {
        self.shutdown.cancel();
        let mut errors = Vec::new();
        let drained = tokio::time::timeout(grace, async {
            while let Some(outcome) = self.tasks.join_next().await {
                if let Err(error) = flatten(outcome) {
                    errors.push(error);
                }
            }
        })
        .await;
        if drained.is_err() {
            tracing::warn!(?grace, "shutdown grace elapsed; aborting what is left");
            self.tasks.abort_all();
        }
        errors
    }
}

type Outcome = Result<(&'static str, Result<(), String>), tokio::task::JoinError>;

fn flatten(outcome: Outcome) -> Result<(), PlatformError> {
    match outcome {
        Ok((_, Ok(()))) => Ok(()),
        Ok((service, Err(message))) => Err(PlatformError::Stopped { service, message }),
        Err(join_error) => Err(PlatformError::Stopped {
            service: "platform",
            message: join_error.to_string(),
        }),
    }
}

fn stopped_error(outcome: Outcome) -> PlatformError {
    match flatten(outcome) {
        Err(error) => error,
        Ok(()) => PlatformError::Stopped {
            service: "platform",
            message: "a part stopped early".into(),
        },
    }
}
