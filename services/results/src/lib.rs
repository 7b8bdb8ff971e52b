//! The results service: stores the statistics, percentiles, histograms and sensitivity of
//! each finished simulation (sent by the simulation service through `StoreResults`,
//! idempotent per simulation id: the first store wins, a repeat is a no-op) and serves them
//! to the caller's organisation (`GetResults`; another organisation's id is NOT_FOUND).
//!
//! It neither produces nor consumes events: results arrive by a direct call so that a
//! simulation is only COMPLETED once its results are stored.
//!
//! Configuration (see [`Config`]): `ULTRA_RESULTS_DATABASE_URL`.

mod config;
mod error;
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

/// Runs the results service on `listener` until `shutdown` is cancelled. The bus is taken
/// for uniformity with the other services (results has no events yet), so its health does
/// not follow the bus either: results are stored and read over gRPC only.
pub async fn serve(
    config: Config,
    _bus: ultra_bus::Bus,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<()> {
    let db =
        ultra_store::open_with(&config.database_url, &store::MIGRATOR, &config.db_options).await?;
    let routes = tonic::service::Routes::new(ResultsServiceServer::new(grpc::ResultsGrpc::new(
        db.pool().clone(),
    )));
    ultra_rpc::serve_named(listener, routes, &[SERVICE_NAME], shutdown).await?;
    db.close().await;
    Ok(())
}
