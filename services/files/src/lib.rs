//! The files service: model uploads (client-streaming gRPC), parsed and validated by
//! compiling them with `ultra_formula` at upload time so a bad model is rejected with the
//! cells at fault, stored encrypted at rest (AES-256-GCM, a per-org data key wrapped by the
//! master key) under `{org_id}/{model_id}`, with their metadata; the compiled IR for the
//! simulation service. Publishes `model.uploaded` and `model.deleted` through its outbox.
//!
//! Status codes: a file larger than `ULTRA_MAX_UPLOAD_BYTES` is RESOURCE_EXHAUSTED (HTTP
//! 413 at the gateway); an unsupported extension, an empty file or a model that does not
//! compile is INVALID_ARGUMENT; another org's model is NOT_FOUND. Upload chunks must each
//! fit tonic's default 4 MiB message limit. Role permissions (`file.upload`, ...) are
//! enforced by the gateway, which sets the caller.
//!
//! GDPR ([`privacy`]): consumes `user.deleted` / `org.deleted` (consumer group `files`) and
//! exports a user's model metadata.

pub mod config;
pub mod crypto;
pub mod error;
pub mod events;
pub mod grpc;
pub mod model;
pub mod privacy;
pub mod store;

use sqlx::migrate::Migrator;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::server::NamedService;
use tonic::service::Routes;
use ultra_proto::v1::files_service_server::FilesServiceServer;

pub use config::{Config, ConfigError};
pub use error::{Error, Result};

/// The service's schema, embedded in the binary.
pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// Opens the database and object store, runs migrations, starts the outbox relay and serves
/// `FilesService` (with health and reflection) on `listener` until `shutdown`.
pub async fn serve(
    config: Config,
    bus: ultra_bus::Bus,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<()> {
    let db = ultra_store::open_with(&config.database_url, &MIGRATOR, &config.db_options).await?;
    let objects = config.open_objects().await?;
    tracing::info!(objects = objects.location(), "files object store");
    let background = shutdown.child_token();
    let readiness =
        ultra_rpc::Readiness::bus(bus.clone()).and(ultra_rpc::Readiness::database(db.clone()));
    let relay = ultra_store::spawn_relay(db.clone(), bus.clone(), background.clone());
    let store = store::FilesStore::new(db.clone(), objects, config.master_key.clone());
    let consumer = privacy::spawn_consumer(store.clone(), db.clone(), bus, background.clone());
    let privacy_server = ultra_rpc::privacy::privacy_server(
        "files",
        db.clone(),
        privacy::FilesExport::new(store.clone()),
        &config.caller_auth,
    );
    let service = grpc::FilesGrpc::new(store, config.max_upload_bytes);
    let name = <FilesServiceServer<grpc::FilesGrpc> as NamedService>::NAME;
    let served = ultra_rpc::serve_ready(
        listener,
        Routes::new(config.caller_auth.guard(FilesServiceServer::new(service)))
            .add_service(privacy_server),
        &[name, ultra_rpc::privacy::SERVICE_NAME],
        readiness,
        shutdown,
    )
    .await;
    background.cancel();
    relay.await?;
    consumer.await?;
    db.close().await;
    Ok(served?)
}
