//! Shared gRPC plumbing for every Ultra service: one way to serve (with gRPC health checking
//! and server reflection, so `grpcurl` and load balancers can discover and probe any service),
//! one way to read the caller of a request, and lazy client channels to peers.
//!
//! Services differ in their routes only; everything a platform operator relies on (health,
//! reflection, graceful shutdown) is added here so it cannot be forgotten by one of them.

pub mod privacy;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tokio_util::sync::CancellationToken;
use tonic::Status;
use tonic::service::Routes;
use tonic::transport::{Channel, Endpoint};
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;
use ultra_proto::v1::Caller;

mod caller_auth;

/// The gRPC name of the health service, for clients that check it explicitly.
pub const HEALTH_SERVICE_NAME: &str = "grpc.health.v1.Health";

/// How often a [`Readiness`] probe runs while a service serves.
const READINESS_INTERVAL: Duration = Duration::from_millis(500);
/// A probe that has not answered in this long counts as not ready.
const READINESS_TIMEOUT: Duration = Duration::from_secs(2);
/// The database's `SELECT 1` must answer within this (within [`READINESS_TIMEOUT`], so a
/// slow database reads as "database", not as a probe that hung).
const DATABASE_PING_TIMEOUT: Duration = Duration::from_secs(1);

/// Ids are UUIDs in practice; anything longer than this is rejected before it reaches SQL.
const MAX_ID_LEN: usize = 128;

/// Why serving or connecting failed.
#[derive(Debug, thiserror::Error)]
pub enum RpcError {
    #[error("gRPC transport error: {0}")]
    Transport(#[from] tonic::transport::Error),
    #[error("reflection service could not load the descriptor set: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    #[error("invalid peer URL {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },
}

/// Serves `routes` on `listener`, plus gRPC health (overall status `""` SERVING) and
/// reflection (v1) for every Ultra proto, until `shutdown` is cancelled; in-flight calls are
/// allowed to finish.
///
/// Prefer [`serve_named`] in services: it also reports each named service as SERVING, which
/// is what Kubernetes gRPC probes and the gateway's readiness check ask for.
pub async fn serve(
    listener: TcpListener,
    routes: Routes,
    shutdown: CancellationToken,
) -> Result<(), RpcError> {
    serve_named(listener, routes, &[], shutdown).await
}

/// Like [`serve`], and additionally reports each of `service_names` (the full gRPC names,
/// e.g. `UsersServiceServer::<T>::NAME` = `"ultra.v1.UsersService"`) as SERVING, and lists
/// exactly those (plus health and reflection) in reflection. With an empty list, reflection
/// lists every service of the Ultra descriptor set.
pub async fn serve_named(
    listener: TcpListener,
    routes: Routes,
    service_names: &[&str],
    shutdown: CancellationToken,
) -> Result<(), RpcError> {
    serve_ready(
        listener,
        routes,
        service_names,
        Readiness::always(),
        shutdown,
    )
    .await
}

type Probe = dyn Fn() -> Pin<Box<dyn Future<Output = bool> + Send>> + Send + Sync;

/// What a service's gRPC health follows: the overall status (`""`, which the gateway's
/// `/readyz` and Kubernetes probes ask) and each named service are SERVING while the probe
/// answers `true` and NOT_SERVING otherwise, so that traffic and readiness move away from
/// a replica that cannot do its work (its event bus is unreachable) while it stays up and
/// recovers on its own. Services with a database follow it too:
/// `Readiness::bus(bus).and(Readiness::database(db))`.
#[derive(Clone)]
pub struct Readiness {
    probe: Option<Arc<Probe>>,
}

impl std::fmt::Debug for Readiness {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Readiness")
            .field("probed", &self.probe.is_some())
            .finish()
    }
}

impl Readiness {
    /// Always SERVING (a service that depends on nothing that can go away).
    pub fn always() -> Readiness {
        Readiness { probe: None }
    }

    /// SERVING while `probe` answers `true` (within 2 s); asked every 500 ms.
    pub fn new<F, Fut>(probe: F) -> Readiness
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = bool> + Send + 'static,
    {
        Readiness {
            probe: Some(Arc::new(move || Box::pin(probe()))),
        }
    }

    /// SERVING while the event bus takes events ([`ultra_bus::Bus::is_ready`]: always for
    /// the in-process bus, a `PING` for Redis).
    pub fn bus(bus: ultra_bus::Bus) -> Readiness {
        Readiness::new(move || {
            let bus = bus.clone();
            async move { bus.is_ready().await }
        })
    }

    /// SERVING while the service's database answers `SELECT 1` within 1 s
    /// ([`ultra_store::Db::ping`]): a replica whose database is down (restarting, failed
    /// over, unreachable) takes no traffic until it answers again. A pool that is busy
    /// enough to keep the probe waiting that long is as unable to serve, so it counts too.
    pub fn database(db: ultra_store::Db) -> Readiness {
        Readiness::new(move || {
            let db = db.clone();
            async move {
                match tokio::time::timeout(DATABASE_PING_TIMEOUT, db.ping()).await {
                    Ok(Ok(())) => true,
                    Ok(Err(error)) => {
                        tracing::debug!(%error, "readiness: database ping failed");
                        false
                    }
                    Err(_elapsed) => {
                        tracing::debug!("readiness: database ping timed out");
                        false
                    }
                }
            }
        })
    }

    /// SERVING while both `self` and `other` are (probed concurrently).
    pub fn and(self, other: Readiness) -> Readiness {
        match (self.probe, other.probe) {
            (None, probe) | (probe, None) => Readiness { probe },
            (Some(first), Some(second)) => Readiness::new(move || {
                let (first, second) = (first(), second());
                async move {
                    let (first, second) = tokio::join!(first, second);
                    first && second
                }
            }),
        }
    }

    async fn ready(&self) -> bool {
        match &self.probe {
            None => true,
            Some(probe) => tokio::time::timeout(READINESS_TIMEOUT, probe())
                .await
                .unwrap_or(false),
        }
    }
}

/// Like [`serve_named`], with the health of the server and of every named service following
/// `readiness` (see [`Readiness`]). The probe runs once before the first request is served,
/// then every 500 ms until shutdown.
pub async fn serve_ready(
    listener: TcpListener,
    routes: Routes,
    service_names: &[&str],
    readiness: Readiness,
    shutdown: CancellationToken,
) -> Result<(), RpcError> {
    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    let names: Vec<String> = service_names
        .iter()
        .map(|name| (*name).to_owned())
        .collect();
    let mut ready = readiness.ready().await;
    report(&health_reporter, &names, ready).await;
    if !ready {
        tracing::warn!(services = ?names, "not ready at start: health NOT_SERVING");
    }
    let watcher_stop = shutdown.child_token();
    let watcher = readiness.probe.is_some().then(|| {
        let stop = watcher_stop.clone();
        let reporter = health_reporter.clone();
        let names = names.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(READINESS_INTERVAL) => {}
                }
                let now = readiness.ready().await;
                if now != ready {
                    ready = now;
                    report(&reporter, &names, ready).await;
                    if ready {
                        tracing::info!(services = ?names, "ready again: health SERVING");
                    } else {
                        tracing::warn!(services = ?names, "not ready: health NOT_SERVING");
                    }
                }
            }
        })
    });
    let mut reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(ultra_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET);
    if !service_names.is_empty() {
        for name in service_names {
            reflection = reflection.with_service_name(*name);
        }
        reflection = reflection
            .with_service_name(HEALTH_SERVICE_NAME)
            .with_service_name("grpc.reflection.v1.ServerReflection");
    }
    let reflection_service = reflection.build_v1()?;
    let local_addr = listener.local_addr().ok();
    tracing::info!(addr = ?local_addr, services = ?service_names, "grpc server listening");
    let routes = routes
        .add_service(health_service)
        .add_service(reflection_service);
    let served = tonic::transport::Server::builder()
        .add_routes(routes)
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), shutdown.cancelled_owned())
        .await;
    watcher_stop.cancel();
    if let Some(watcher) = watcher
        && let Err(error) = watcher.await
    {
        tracing::error!(%error, "readiness watcher panicked");
    }
    served?;
    tracing::info!(addr = ?local_addr, "grpc server stopped");
    Ok(())
}

/// Sets the overall status and each named service's to SERVING or NOT_SERVING.
async fn report(reporter: &HealthReporter, names: &[String], ready: bool) {
    let status = if ready {
        ServingStatus::Serving
    } else {
        ServingStatus::NotServing
    };
    reporter.set_service_status("", status).await;
    for name in names {
        reporter.set_service_status(name, status).await;
    }
}

pub use caller_auth::{
    CallerAuth, Guarded, SERVICE_SECRET_ENV, WEAK_SERVICE_SECRET, current_principal, principal_of,
};
/// The permissions services check with [`authorize`].
pub use ultra_auth::Permission;

/// gRPC metadata naming the problem type the gateway should answer with, where the status
/// code alone is too coarse (the one value so far: [`PLAN_LIMIT_PROBLEM`]).
pub const PROBLEM_METADATA: &str = "ultra-problem";
/// The request exceeds a limit of the organisation's plan (iterations per run, simulations
/// at once): `plan-limit-exceeded`, 403 (FAILED_PRECONDITION) or 429 (RESOURCE_EXHAUSTED).
pub const PLAN_LIMIT_PROBLEM: &str = "plan-limit-exceeded";

/// A request carrying `message` and the current W3C trace context (a child span of it) in
/// its `traceparent` metadata: every call the platform makes to a peer continues the trace
/// of the work that made it ([`ultra_telemetry`]).
pub fn traced<T>(message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    let traceparent = ultra_telemetry::outgoing_traceparent();
    if let Ok(value) = tonic::metadata::MetadataValue::try_from(traceparent.as_str())
        && !traceparent.is_empty()
    {
        request
            .metadata_mut()
            .insert(ultra_telemetry::TRACEPARENT, value);
    }
    request
}

/// The caller of a request, validated: both `org_id` and `user_id` must be present (every
/// query filters by the org, so a missing one must never reach the store).
pub fn caller(caller: Option<&Caller>) -> Result<&Caller, Status> {
    let Some(caller) = caller else {
        return Err(Status::unauthenticated("missing caller"));
    };
    validate_id("caller.org_id", &caller.org_id)
        .and_then(|()| validate_id("caller.user_id", &caller.user_id))
        .map_err(Status::unauthenticated)?;
    // In a service guarded by `CallerAuth::guard`: the signed metadata must name this caller.
    caller_auth::check_signed(caller)?;
    Ok(caller)
}

/// [`caller`], and PERMISSION_DENIED unless the request may do `permission`: the
/// permissions signed into its metadata (a role's or an API key's scopes), or the message's
/// role in a service that does not verify metadata. State-changing RPCs check here again
/// what the gateway already checked (defence in depth).
pub fn authorize(
    caller: Option<&Caller>,
    permission: ultra_auth::Permission,
) -> Result<&Caller, Status> {
    let caller = self::caller(caller)?;
    caller_auth::check_permission(caller, permission)?;
    Ok(caller)
}

/// Checks that an id from a request is present and plausible; the message names the field.
pub fn validate_id(field: &str, id: &str) -> Result<(), String> {
    if id.is_empty() {
        return Err(format!("{field} is required"));
    }
    if id.len() > MAX_ID_LEN
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(format!("{field} is not a valid id"));
    }
    Ok(())
}

/// A client channel to a peer that connects on first use (and reconnects after failures), so
/// services can start in any order: a peer that is not up yet is not an error at startup.
pub fn lazy_channel(url: &str) -> Result<Channel, RpcError> {
    Ok(endpoint(url)?.connect_lazy())
}

/// The endpoint for `url` (`http://host:port`) with the platform's connect timeout and
/// keep-alive settings, for callers that want to tune it further before connecting.
pub fn endpoint(url: &str) -> Result<Endpoint, RpcError> {
    let endpoint = Endpoint::from_shared(url.to_owned()).map_err(|error| RpcError::InvalidUrl {
        url: url.to_owned(),
        reason: error.to_string(),
    })?;
    Ok(endpoint
        .connect_timeout(Duration::from_secs(5))
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(30))
        .keep_alive_while_idle(true))
}
