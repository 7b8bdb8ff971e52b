//! The simulation service: submit, queue, run on the engine in the background, progress,
//! cancel.
//!
//! - `Submit` validates the request (iterations in 1..=`ULTRA_MAX_ITERATIONS`, the model
//!   exists for the caller's organisation through the files service's `GetCompiledModel`,
//!   engine CPU or unspecified: `engine = GPU` answers UNIMPLEMENTED "no GPU engine in this
//!   build"), snapshots the compiled model, stores the job QUEUED and enqueues
//!   `simulation.submitted` in one transaction, and returns at once.
//! - A pool of `ULTRA_SIMULATION_WORKERS` workers claims jobs by weighted fair share: the
//!   oldest job of the organisation furthest behind its share of the slots, weighted by the
//!   plan tier that came with the submit (enterprise and ultra 3, professional 2, others
//!   and unknown 1; see `fair_share.rs`), and runs each on a blocking thread. Progress
//!   is written (and a heartbeat) every `ULTRA_SIMULATION_PROGRESS_MS` and broadcast as a
//!   `ProgressTick` on `progress:{id}`. The results go to the results service
//!   (`StoreResults`, idempotent, retried), then the job is COMPLETED and
//!   `simulation.completed` with its usage is enqueued in the same transaction. An engine
//!   error fails the job with the engine's message (`simulation.failed`); `Cancel` stops it
//!   at the next chunk (`simulation.cancelled`).
//! - Jobs never stay RUNNING forever: at shutdown running jobs are stopped and marked
//!   INTERRUPTED; at start (and every half lease) jobs whose runner is gone (this instance's
//!   after a crash, or any with a heartbeat older than `ULTRA_SIMULATION_LEASE_MS`) are
//!   marked INTERRUPTED, and interrupted jobs are queued again, or failed once they used
//!   `ULTRA_SIMULATION_MAX_ATTEMPTS` attempts. A rerun starts from iteration zero and gives
//!   the same result (a run is a pure function of its request).
//!
//! Configuration (see [`Config`]): `ULTRA_SIMULATION_DATABASE_URL`, `ULTRA_FILES_URL`,
//! `ULTRA_RESULTS_URL`, `ULTRA_MAX_ITERATIONS`, `ULTRA_SIMULATION_WORKERS`,
//! `ULTRA_SIMULATION_THREADS`, `ULTRA_SIMULATION_MAX_ATTEMPTS`,
//! `ULTRA_SIMULATION_INSTANCE_ID`, `ULTRA_SIMULATION_LEASE_MS`, `ULTRA_SIMULATION_PROGRESS_MS`,
//! `ULTRA_SIMULATION_FAIR_SHARE_WINDOW_MS`, and the pool settings of
//! [`ultra_store::DbOptions::from_env`]. Its gRPC health is NOT_SERVING while its database
//! or the event bus is unreachable; jobs still run, and their events wait in the outbox.
//!
//! The database holds `simulations`, `simulation_models` (model snapshots of unfinished
//! jobs) and the `outbox` of ultra-store, and for GDPR erasures (consumer group
//! `simulation`, see `privacy.rs`) `processed_events` and `erasures`.

mod config;
mod error;
mod events;
mod fair_share;
mod grpc;
mod privacy;
mod results;
mod runner;
mod samples;
mod store;
mod worker;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use ultra_proto::v1::files_service_client::FilesServiceClient;
use ultra_proto::v1::results_service_client::ResultsServiceClient;
use ultra_proto::v1::simulation_service_server::SimulationServiceServer;

pub use config::{Config, ConfigError};
pub use error::{Error, Result};
pub use results::{RunFacts, to_proto as results_to_proto};
pub use samples::{MAGIC as SAMPLES_MAGIC, key as samples_key};

/// The gRPC name of the service, as health checks and reflection report it.
pub const SERVICE_NAME: &str = "ultra.v1.SimulationService";

/// Runs the simulation service on `listener` until `shutdown` is cancelled: opens and
/// migrates its database, recovers orphaned jobs, starts the outbox relay and the workers,
/// serves gRPC (with health and reflection), and at shutdown stops running jobs (marked
/// INTERRUPTED, resumed at the next start).
pub async fn serve(
    config: Config,
    bus: ultra_bus::Bus,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<()> {
    let db =
        ultra_store::open_with(&config.database_url, &store::MIGRATOR, &config.db_options).await?;
    let files = FilesServiceClient::new(ultra_rpc::lazy_channel(&config.files_url)?);
    let results = ResultsServiceClient::new(ultra_rpc::lazy_channel(&config.results_url)?);
    let readiness =
        ultra_rpc::Readiness::bus(bus.clone()).and(ultra_rpc::Readiness::database(db.clone()));
    let relay_stop = CancellationToken::new();
    let relay = ultra_store::spawn_relay(db.clone(), bus.clone(), relay_stop.clone());
    let privacy_server = ultra_rpc::privacy::privacy_server(
        "simulation",
        db.clone(),
        privacy::SimulationExport::new(db.pool().clone()),
        &config.caller_auth,
    );
    let samples = match &config.samples_url {
        Some(url) => {
            let store = ultra_store::ObjectStore::from_url(url).await?;
            tracing::info!(samples = store.location(), "raw samples are kept");
            Some(store)
        }
        None => None,
    };
    let consumer =
        privacy::spawn_consumer(db.clone(), bus.clone(), samples.clone(), relay_stop.clone());
    let shared = Arc::new(worker::Shared {
        pool: db.pool().clone(),
        samples,
        db,
        bus,
        results,
        running: Mutex::new(HashMap::new()),
        wake: Notify::new(),
        shutdown: shutdown.child_token(),
        config,
    });
    worker::recover(&shared, Some(&shared.config.instance_id)).await?;
    let workers = worker::spawn(&shared);
    let routes = tonic::service::Routes::new(shared.config.caller_auth.guard(
        SimulationServiceServer::new(grpc::SimulationGrpc::new(Arc::clone(&shared), files)),
    ));
    let routes = routes.add_service(privacy_server);
    let names = [SERVICE_NAME, ultra_rpc::privacy::SERVICE_NAME];
    let served = ultra_rpc::serve_ready(listener, routes, &names, readiness, shutdown).await;
    worker::stop(&shared, workers).await;
    // The relay goes last, so that the events of the jobs that just stopped are published.
    relay_stop.cancel();
    if let Err(error) = relay.await {
        tracing::error!(error = %error, "outbox relay panicked");
    }
    if let Err(error) = consumer.await {
        tracing::error!(error = %error, "erasure consumer panicked");
    }
    served?;
    Ok(())
}
