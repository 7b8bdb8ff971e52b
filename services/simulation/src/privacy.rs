//! GDPR on the simulation service's side: the consumer (group `simulation`) that carries out
//! `user.deleted` and `org.deleted` ([`store::erase`]) exactly once — marked processed,
//! erased and recorded as done in one transaction, acked after the commit — and the export
//! of a user's jobs, each with a reference to its results.

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use ultra_proto::v1;

use crate::error::Result;
use crate::store;

/// The consumer group of the simulation service.
pub const GROUP: &str = "simulation";

/// Consumes events until `shutdown`; `samples` is where raw samples are kept, if anywhere.
pub fn spawn_consumer(
    db: ultra_store::Db,
    bus: ultra_bus::Bus,
    samples: Option<ultra_store::ObjectStore>,
    shutdown: CancellationToken,
) -> JoinHandle<()> {
    ultra_store::spawn_consumer(db, bus, GROUP, shutdown, move |db, event| {
        let samples = samples.clone();
        async move { handle(&db, samples.as_ref(), &event).await }
    })
}

/// Carries out an erasure once; other events are ignored. The raw samples of an erased
/// organisation (every object under its id) are deleted before the erasure is committed as
/// done: one that cannot be deleted fails the event, which is then delivered again, so the
/// erasure never reads "completed" while samples remain.
pub async fn handle(
    db: &ultra_store::Db,
    samples: Option<&ultra_store::ObjectStore>,
    event: &v1::Event,
) -> Result<()> {
    let Some(erasure) = ultra_store::ErasureRequest::from_event(event) else {
        return Ok(());
    };
    let mut tx = db.begin().await?;
    if ultra_store::mark_processed(&mut tx, &event.id).await? {
        store::erase(&mut tx, &erasure).await?;
        if let (Some(samples), ultra_store::ErasureSubject::Organization) =
            (samples, &erasure.subject)
        {
            delete_samples(samples, &erasure.org_id).await?;
        }
        ultra_store::record_erasure(&mut tx, &erasure).await?;
        tracing::info!(erasure_id = %erasure.erasure_id, org_id = %erasure.org_id, "erasure done");
    }
    tx.commit().await?;
    Ok(())
}

/// Deletes every samples object of `org_id` (keys `org_id/...`), runs no longer in the
/// database included.
async fn delete_samples(samples: &ultra_store::ObjectStore, org_id: &str) -> Result<()> {
    for key in samples.list(org_id).await? {
        samples.delete(&key).await.inspect_err(|error| {
            tracing::warn!(%error, %key, "raw samples of an erased organisation not deleted yet");
        })?;
    }
    Ok(())
}

/// The caller's simulations for the GDPR export.
pub struct SimulationExport {
    pool: sqlx::AnyPool,
}

impl SimulationExport {
    pub fn new(pool: sqlx::AnyPool) -> SimulationExport {
        SimulationExport { pool }
    }
}

#[tonic::async_trait]
impl ultra_rpc::privacy::UserDataExporter for SimulationExport {
    async fn export(&self, caller: &v1::Caller) -> Result<String, tonic::Status> {
        let jobs = store::of_user(&self.pool, &caller.org_id, &caller.user_id).await?;
        let simulations: Vec<serde_json::Value> = jobs
            .iter()
            .map(|job| {
                serde_json::json!({
                    "id": job.id,
                    "model_id": job.model_id,
                    "iterations": job.iterations,
                    "seed": job.seed,
                    "status": job.status.as_str(),
                    "completed_iterations": job.completed_iterations,
                    "compute_units": job.compute_units,
                    "error": job.error,
                    "created_at_ms": job.created_at_ms,
                    "started_at_ms": job.started_at_ms,
                    "finished_at_ms": job.finished_at_ms,
                    "results": (job.status == store::Status::Completed)
                        .then(|| format!("/v1/simulations/{}/results", job.id)),
                })
            })
            .collect();
        Ok(serde_json::json!({ "simulations": simulations }).to_string())
    }
}
