//! The whole platform in one process: six services, each on its own loopback port speaking
//! real gRPC, sharing one event bus, each with its own database, and the gateway in front.
//! `ultra serve` runs it until a signal; tests start it on port 0.
//!
//! The [`Backend`] chooses where data and events go: by default (the embedded mode) one
//! SQLite file per service under the data directory and the in-process bus; or any
//! service's database elsewhere (`ULTRA_<SERVICE>_DATABASE_URL`, e.g. one PostgreSQL
//! database per service) and the Redis bus (`ULTRA_REDIS_URL`), the cluster backends, with
//! the same code paths as `ultra service NAME`.
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
use ultra_bus::{Bus, RedisOptions};

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
    #[error("event bus: {0}")]
    Bus(#[from] ultra_bus::BusError),
}

fn io_error(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> PlatformError {
    let what = what.into();
    move |source| PlatformError::Io { what, source }
}

/// Where the services keep their data and exchange their events.
#[derive(Clone, Debug, Default)]
pub struct Backend {
    /// Database URL by service name (`users`, `files`, ...): `postgres://...` or
    /// `sqlite://...`. A service not listed gets the embedded `sqlite://DATA_DIR/<name>.db`.
    pub database_urls: HashMap<String, String>,
    /// The Redis event bus; `None`: the in-process bus (one process only).
    pub redis: Option<RedisBackend>,
}

/// The Redis bus of a [`Backend`].
#[derive(Clone, Debug)]
pub struct RedisBackend {
    /// `redis://host:port/db`.
    pub url: String,
    pub options: RedisOptions,
}

impl Backend {
    /// SQLite files under the data directory and the in-process bus: nothing to install.
    pub fn embedded() -> Backend {
        Backend::default()
    }

    /// Every service on the database given for it (all six must be listed, or the missing
    /// ones fall back to SQLite) and the Redis bus at `redis_url`.
    pub fn cluster(database_urls: HashMap<String, String>, redis_url: &str) -> Backend {
        Backend {
            database_urls,
            redis: Some(RedisBackend {
                url: redis_url.to_owned(),
                options: RedisOptions::default(),
            }),
        }
    }

    /// What `ultra serve` reads from its environment: `ULTRA_<SERVICE>_DATABASE_URL` for
    /// each service that has one, `ULTRA_REDIS_URL` for the bus (unset or empty: the
    /// in-process bus).
    pub fn from_env(env: &HashMap<String, String>) -> Backend {
        let database_urls = SERVICES
            .iter()
            .filter_map(|service| {
                let variable = format!("ULTRA_{}_DATABASE_URL", service.to_ascii_uppercase());
                let url = env.get(&variable)?.trim();
                (!url.is_empty()).then(|| ((*service).to_owned(), url.to_owned()))
            })
            .collect();
        Backend {
            database_urls,
            redis: redis_url(env).map(|url| RedisBackend {
                url,
                options: RedisOptions::default(),
            }),
        }
    }

    /// The event bus this backend selects. The Redis bus does not connect here: services
    /// start while Redis is down and report NOT_SERVING until it is up.
    pub fn bus(&self) -> Result<Bus, PlatformError> {
        match &self.redis {
            None => Ok(Bus::in_process()),
            Some(redis) => Ok(Bus::redis(&redis.url, redis.options.clone())?),
        }
    }
}

/// `ULTRA_REDIS_URL` when set and not empty.
fn redis_url(env: &HashMap<String, String>) -> Option<String> {
    env.get("ULTRA_REDIS_URL")
        .map(|url| url.trim().to_owned())
        .filter(|url| !url.is_empty())
}

/// The event bus of one process from `ULTRA_REDIS_URL` (what `ultra service NAME` uses):
/// the Redis bus when set, else the in-process bus, which reaches this process only.
pub fn bus_from_env(env: &HashMap<String, String>) -> Result<Bus, PlatformError> {
    match redis_url(env) {
        None => Ok(Bus::in_process()),
        Some(url) => Ok(Bus::redis(&url, RedisOptions::default())?),
    }
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
    /// Databases and bus ([`Backend::embedded`] unless chosen).
    pub backend: Backend,
}

impl PlatformOptions {
    /// The embedded backend (SQLite, in-process bus) and no extra settings.
    pub fn new(listen: SocketAddr, data_dir: impl Into<PathBuf>) -> Self {
        PlatformOptions {
            listen,
            data_dir: data_dir.into(),
            env: HashMap::new(),
            backend: Backend::embedded(),
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
    bus: Bus,
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

/// The `ULTRA_*` map of one platform: `base` plus the wiring of this process (database URLs
/// from `backend`, peer URLs, secrets).
pub fn platform_env(
    base: &HashMap<String, String>,
    data_dir: &Path,
    urls: &ServiceUrls,
    backend: &Backend,
) -> Result<HashMap<String, String>, PlatformError> {
    let mut env = base.clone();
    let secrets_dir = data_dir.join("secrets");
    for (variable, file) in [
        ("ULTRA_JWT_SECRET", "jwt_secret"),
        ("ULTRA_MASTER_KEY", "master_key"),
        // Signs the caller metadata of every gRPC request (ultra_rpc::CallerAuth).
        ("ULTRA_SERVICE_SECRET", "service_secret"),
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
        let database_url = backend
            .database_urls
            .get(service)
            .cloned()
            .unwrap_or_else(|| sqlite_url(data_dir, service));
        env.insert(format!("ULTRA_{upper}_DATABASE_URL"), database_url);
        if let Some(url) = urls.get(service) {
            env.insert(format!("ULTRA_{upper}_URL"), url.clone());
        }
    }
    match &backend.redis {
        Some(redis) => env.insert("ULTRA_REDIS_URL".to_string(), redis.url.clone()),
        None => env.remove("ULTRA_REDIS_URL"),
    };
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
        let env = platform_env(&options.env, data_dir, &service_urls, &options.backend)?;
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
        let bus = options.backend.bus()?;
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
        tracing::info!(
            gateway = %gateway_addr,
            data_dir = %data_dir.display(),
            bus = ?bus,
            "platform started"
        );
        Ok(RunningPlatform {
            base_url: format!("{scheme}://{gateway_addr}"),
            service_urls,
            env,
            shutdown,
            tasks,
            bus,
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
        // After the services: their last outbox passes still publish.
        self.bus.close();
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

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect()
    }

    #[tokio::test]
    async fn the_bus_follows_ultra_redis_url() {
        assert!(matches!(bus_from_env(&env(&[])), Ok(Bus::InProcess(_))));
        assert!(matches!(
            bus_from_env(&env(&[("ULTRA_REDIS_URL", " ")])),
            Ok(Bus::InProcess(_))
        ));
        assert!(matches!(
            bus_from_env(&env(&[("ULTRA_REDIS_URL", "redis://127.0.0.1:1/")])),
            Ok(Bus::Redis(_))
        ));
        assert!(matches!(
            bus_from_env(&env(&[("ULTRA_REDIS_URL", "not a url")])),
            Err(PlatformError::Bus(_))
        ));
    }

    #[test]
    fn the_backend_comes_from_the_environment_and_wires_every_service() {
        let base = env(&[
            ("ULTRA_BILLING_DATABASE_URL", "postgres://u@db/billing"),
            ("ULTRA_USERS_DATABASE_URL", ""),
            ("ULTRA_REDIS_URL", "redis://cache:6379/0"),
            ("ULTRA_JWT_SECRET", "a-test-secret-that-is-long-enough-0123"),
            ("ULTRA_MASTER_KEY", &"ab".repeat(32)),
        ]);
        let backend = Backend::from_env(&base);
        assert_eq!(backend.database_urls.len(), 1, "{backend:?}");
        assert_eq!(
            backend.redis.as_ref().map(|redis| redis.url.as_str()),
            Some("redis://cache:6379/0")
        );
        let dir = tempfile::tempdir().expect("temp dir");
        let wired = platform_env(&base, dir.path(), &ServiceUrls::new(), &backend).expect("env");
        assert_eq!(
            wired["ULTRA_BILLING_DATABASE_URL"],
            "postgres://u@db/billing"
        );
        assert_eq!(
            wired["ULTRA_USERS_DATABASE_URL"],
            sqlite_url(dir.path(), "users"),
            "an empty variable means the embedded default"
        );
        assert_eq!(wired["ULTRA_REDIS_URL"], "redis://cache:6379/0");
        let embedded = platform_env(&base, dir.path(), &ServiceUrls::new(), &Backend::embedded())
            .expect("env");
        assert!(embedded["ULTRA_BILLING_DATABASE_URL"].starts_with("sqlite://"));
        assert!(!embedded.contains_key("ULTRA_REDIS_URL"));
    }
}
