//! The results service: stores the statistics, percentiles, histograms and sensitivity of
//! each finished simulation (sent by the simulation service through `StoreResults`,
//! idempotent per simulation id: the first store wins, a repeat is a no-op) and serves them
//! to the caller's organisation (`GetResults`; another organisation's id is NOT_FOUND).
//!
//! It produces no events and consumes only GDPR erasures (`org.deleted` deletes the
//! organisation's results): results arrive by a direct call so that a simulation is only
//! COMPLETED once its results are stored.
//!
//! Configuration (see [`Config`]): `ULTRA_RESULTS_DATABASE_URL`.

mod config;
mod error;
mod events;
mod grpc;
mod store;
mod stored;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use ultra_proto::v1::results_service_server::ResultsServiceServer;

pub use config::{Config, ConfigError};
pub use error::{Error, Result};

/// The gRPC name of the service, as health checks and reflection report it.
pub const SERVICE_NAME: &str = "ultra.v1.ResultsService";

/// Runs the results service on `listener` until `shutdown` is cancelled. It consumes the
/// bus only for GDPR erasures (see `events.rs`), so its health does not follow the bus:
/// results are stored and read over gRPC only. Its health follows its database
/// (NOT_SERVING while that is unreachable).
pub async fn serve(
    config: Config,
    bus: ultra_bus::Bus,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<()> {
    let db =
        ultra_store::open_with(&config.database_url, &store::MIGRATOR, &config.db_options).await?;
    let consumer_stop = shutdown.child_token();
    let consumer = events::spawn_consumer(db.clone(), bus, consumer_stop.clone());
    let routes = tonic::service::Routes::new(config.caller_auth.guard(ResultsServiceServer::new(
        grpc::ResultsGrpc::new(db.pool().clone()),
    )))
    .add_service(ultra_rpc::privacy::privacy_server(
        "results",
        db.clone(),
        events::ResultsExport,
        &config.caller_auth,
    ));
    let readiness = ultra_rpc::Readiness::database(db.clone());
    let names = [SERVICE_NAME, ultra_rpc::privacy::SERVICE_NAME];
    let served = ultra_rpc::serve_ready(listener, routes, &names, readiness, shutdown).await;
    consumer_stop.cancel();
    if let Err(error) = consumer.await {
        tracing::error!(error = %error, "results consumer panicked");
    }
    db.close().await;
    served?;
    Ok(())
}
