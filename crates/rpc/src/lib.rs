//! Shared gRPC plumbing for every Ultra service: one way to serve (with gRPC health checking
//! and server reflection, so `grpcurl` and load balancers can discover and probe any service),
//! one way to read the caller of a request, and lazy client channels to peers.
//!
//! Services differ in their routes only; everything a platform operator relies on (health,
//! reflection, graceful shutdown) is added here so it cannot be forgotten by one of them.

use std::time::Duration;

use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tokio_util::sync::CancellationToken;
use tonic::Status;
use tonic::service::Routes;
use tonic::transport::{Channel, Endpoint};
use ultra_proto::v1::Caller;

/// The gRPC name of the health service, for clients that check it explicitly.
pub const HEALTH_SERVICE_NAME: &str = "grpc.health.v1.Health";

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
    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    for name in service_names {
        health_reporter
            .set_service_status(*name, tonic_health::ServingStatus::Serving)
            .await;
    }
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
    tonic::transport::Server::builder()
        .add_routes(routes)
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), shutdown.cancelled_owned())
        .await?;
    tracing::info!(addr = ?local_addr, "grpc server stopped");
    Ok(())
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
