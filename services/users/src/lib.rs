//! The users service: organisations, users, memberships with roles, password login
//! (argon2id), short-lived JWT access tokens and rotating, revocable refresh tokens.
//!
//! Registration always founds a new organisation whose first user is its admin
//! (`organization_name` is required); others join it by invitation
//! (`OrganizationsService`, [`orgs`]: members, roles and API keys). Publishes
//! `user.registered` through its outbox.
//!
//! GDPR ([`erasure`]): `ErasureService` erases a user or an organisation here and publishes
//! `user.deleted` / `org.deleted` for the other services; `PrivacyService` exports a user's
//! records. Single sign-on ([`oidc`]): `SsoService`, OpenID Connect per organisation.

pub mod audit;
pub mod config;
pub mod erasure;
pub mod error;
pub mod events;
pub mod grpc;
pub mod members;
pub mod oidc;
mod oidc_http;
pub mod orgs;
pub mod store;
pub mod throttle;
mod validate;

use sqlx::migrate::Migrator;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::server::NamedService;
use tonic::service::Routes;
use ultra_auth::TokenIssuer;
use ultra_proto::v1::erasure_service_server::ErasureServiceServer;
use ultra_proto::v1::organizations_service_server::OrganizationsServiceServer;
use ultra_proto::v1::sso_service_server::SsoServiceServer;
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
    )?
    .with_previous_secrets(&config.jwt_previous_secrets)?;
    let db = ultra_store::open_with(&config.database_url, &MIGRATOR, &config.db_options).await?;
    let background = shutdown.child_token();
    let readiness =
        ultra_rpc::Readiness::bus(bus.clone()).and(ultra_rpc::Readiness::database(db.clone()));
    let relay = ultra_store::spawn_relay(db.clone(), bus, background.clone());
    let sso_service = oidc::SsoGrpc::new(db.clone(), issuer.clone(), config.refresh_token_ttl);
    let sso = config.caller_auth.guard(SsoServiceServer::new(sso_service));
    let service = grpc::UsersGrpc::new(
        store::UsersStore::new(db.clone()),
        issuer,
        config.refresh_token_ttl,
    )
    .with_lockout(config.lockout.clone());
    let name = <UsersServiceServer<grpc::UsersGrpc> as NamedService>::NAME;
    let served = ultra_rpc::serve_ready(
        listener,
        Routes::new(config.caller_auth.guard(UsersServiceServer::new(service)))
            .add_service(config.caller_auth.guard(OrganizationsServiceServer::new(
                orgs::OrgsGrpc::new(members::OrgStore::new(db.clone())),
            )))
            .add_service(sso)
            .add_service(config.caller_auth.guard(ErasureServiceServer::new(
                erasure::ErasureGrpc::new(db.clone()),
            )))
            .add_service(ultra_rpc::privacy::privacy_server(
                "users",
                db.clone(),
                erasure::UsersExport::new(db.clone()),
                &config.caller_auth,
            )),
        &[
            name,
            <OrganizationsServiceServer<orgs::OrgsGrpc> as NamedService>::NAME,
            <ErasureServiceServer<erasure::ErasureGrpc> as NamedService>::NAME,
            <SsoServiceServer<oidc::SsoGrpc> as NamedService>::NAME,
            ultra_rpc::privacy::SERVICE_NAME,
        ],
        readiness,
        shutdown,
    )
    .await;
    background.cancel();
    relay.await?;
    db.close().await;
    Ok(served?)
}
