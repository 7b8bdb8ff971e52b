//! The users service: organisations, users, memberships with roles, password login
//! (argon2id), short-lived JWT access tokens and rotating, revocable refresh tokens.
//!
//! Registration always founds a new organisation whose first user is its admin
//! (`organization_name` is required: joining an existing organisation needs invitations,
//! which come later). Publishes `user.registered` through its outbox.

pub mod config;
pub mod error;
pub mod events;
pub mod grpc;
pub mod store;
mod validate;

use sqlx::migrate::Migrator;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::server::NamedService;
use tonic::service::Routes;
use ultra_auth::TokenIssuer;
use ultra_proto::v1::users_service_server::UsersServiceServer;

pub use config::{Config, ConfigError};
pub use error::{Error, Result};

/// The service's schema, embedded in the binary.
pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// Opens the database, runs migrations, starts the outbox relay and serves `UsersService`
/// (with health and reflection) on `listener` until `shutdown`.
pub async fn serve(
    config: Config,
    bus: ultra_bus::Bus,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<()> {
    let issuer = TokenIssuer::new(
        &config.jwt_secret,
        config.jwt_issuer.clone(),
        config.jwt_audience.clone(),
        config.access_token_ttl,
    )?;
    let db = ultra_store::open_with(&config.database_url, &MIGRATOR, &config.db_options).await?;
    let background = shutdown.child_token();
    let readiness = ultra_rpc::Readiness::bus(bus.clone());
    let relay = ultra_store::spawn_relay(db.clone(), bus, background.clone());
    let service = grpc::UsersGrpc::new(
        store::UsersStore::new(db.clone()),
        issuer,
        config.refresh_token_ttl,
    );
    let name = <UsersServiceServer<grpc::UsersGrpc> as NamedService>::NAME;
    let served = ultra_rpc::serve_ready(
        listener,
        Routes::new(UsersServiceServer::new(service)),
        &[name],
        readiness,
        shutdown,
    )
    .await;
    background.cancel();
    relay.await?;
    db.close().await;
    Ok(served?)
}
