//! The billing service: the usage ledger of each organisation, fed by the
//! `simulation.completed` events of the simulation service (consumer group `billing`,
//! idempotent by event id), and `GetUsage(org, range)`, which sums compute units
//! (DESIGN.md, Metering), GPU seconds, simulations and iterations. Plans, quotas and
//! invoices come in a later issue.
//!
//! Configuration (see [`Config`]): `ULTRA_BILLING_DATABASE_URL`.

mod config;
mod error;
mod events;
mod grpc;
mod store;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use ultra_proto::v1::billing_service_server::BillingServiceServer;

pub use config::{Config, ConfigError};
pub use error::{Error, Result};
pub use events::GROUP;

/// The gRPC name of the service, as health checks and reflection report it.
pub const SERVICE_NAME: &str = "ultra.v1.BillingService";

/// Runs the billing service on `listener` until `shutdown` is cancelled: opens and migrates
/// its database, consumes usage events, serves gRPC.
pub async fn serve(
    config: Config,
    bus: ultra_bus::Bus,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<()> {
    let db = ultra_store::open(&config.database_url, &store::MIGRATOR).await?;
    let consumer_stop = shutdown.child_token();
    let consumer = events::spawn_consumer(db.clone(), bus, consumer_stop.clone());
    let routes = tonic::service::Routes::new(BillingServiceServer::new(grpc::BillingGrpc::new(
        db.pool().clone(),
    )));
    let served = ultra_rpc::serve_named(listener, routes, &[SERVICE_NAME], shutdown).await;
    consumer_stop.cancel();
    if let Err(error) = consumer.await {
        tracing::error!(error = %error, "billing consumer panicked");
    }
    db.close().await;
    served?;
    Ok(())
}
