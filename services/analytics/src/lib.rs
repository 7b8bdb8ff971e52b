//! The analytics service: usage per organisation and per user, fed by the
//! `simulation.completed` events of the simulation service (consumer group `analytics`,
//! idempotent by event id), and `GetUsageReport(org, range)` with a per-user breakdown.
//! Platform metrics and dashboards come in a later issue.
//!
//! Configuration (see [`Config`]): `ULTRA_ANALYTICS_DATABASE_URL`, the pool settings of
//! [`ultra_store::DbOptions::from_env`]. Its gRPC health is NOT_SERVING while its database
//! or the event bus is unreachable (events wait in Redis for the consumer group meanwhile).

mod config;
mod error;
mod events;
mod grpc;
mod store;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use ultra_proto::v1::analytics_service_server::AnalyticsServiceServer;

pub use config::{Config, ConfigError};
pub use error::{Error, Result};
pub use events::GROUP;

/// The gRPC name of the service, as health checks and reflection report it.
pub const SERVICE_NAME: &str = "ultra.v1.AnalyticsService";

/// Runs the analytics service on `listener` until `shutdown` is cancelled: opens and migrates
/// its database, consumes usage events, serves gRPC.
pub async fn serve(
    config: Config,
    bus: ultra_bus::Bus,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<()> {
    let db =
        ultra_store::open_with(&config.database_url, &store::MIGRATOR, &config.db_options).await?;
    let consumer_stop = shutdown.child_token();
    let readiness =
        ultra_rpc::Readiness::bus(bus.clone()).and(ultra_rpc::Readiness::database(db.clone()));
    let consumer = events::spawn_consumer(db.clone(), bus, consumer_stop.clone());
    let routes = tonic::service::Routes::new(config.caller_auth.guard(
        AnalyticsServiceServer::new(grpc::AnalyticsGrpc::new(db.pool().clone())),
    ))
    .add_service(ultra_rpc::privacy::privacy_server(
        "analytics",
        db.clone(),
        grpc::AnalyticsExport::new(db.pool().clone()),
        &config.caller_auth,
    ));
    let names = [SERVICE_NAME, ultra_rpc::privacy::SERVICE_NAME];
    let served = ultra_rpc::serve_ready(listener, routes, &names, readiness, shutdown).await;
    consumer_stop.cancel();
    if let Err(error) = consumer.await {
        tracing::error!(error = %error, "analytics consumer panicked");
    }
    db.close().await;
    served?;
    Ok(())
}
