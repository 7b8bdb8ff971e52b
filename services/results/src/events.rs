//! The results consumer: reads the bus "events" stream as consumer group `results` for GDPR
//! erasures only. `org.deleted` deletes the organisation's results; `user.deleted` has
//! nothing to delete here (results are keyed by simulation and organisation, and carry no
//! user id), and is recorded as done all the same, so the erasure status shows that this
//! service looked. Each erasure is marked processed, carried out and recorded in one
//! transaction; the delivery is acked after the commit.

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use ultra_proto::v1;

use crate::error::Result;

/// The consumer group of the results service.
pub const GROUP: &str = "results";

/// Consumes events until `shutdown`.
pub fn spawn_consumer(
    db: ultra_store::Db,
    bus: ultra_bus::Bus,
    shutdown: CancellationToken,
) -> JoinHandle<()> {
    ultra_store::spawn_consumer(db, bus, GROUP, shutdown, |db, event| async move {
        handle(&db, &event).await
    })
}

/// Carries out an erasure once; other events are ignored.
pub async fn handle(db: &ultra_store::Db, event: &v1::Event) -> Result<()> {
    let Some(erasure) = ultra_store::ErasureRequest::from_event(event) else {
        return Ok(());
    };
    let mut tx = db.begin().await?;
    if ultra_store::mark_processed(&mut tx, &event.id).await? {
        if erasure.subject == ultra_store::ErasureSubject::Organization {
            sqlx::query("DELETE FROM results WHERE org_id = $1")
                .bind(&erasure.org_id)
                .execute(&mut *tx)
                .await?;
        }
        ultra_store::record_erasure(&mut tx, &erasure).await?;
        tracing::info!(erasure_id = %erasure.erasure_id, org_id = %erasure.org_id, "erasure done");
    }
    tx.commit().await?;
    Ok(())
}

/// Results hold no per-user records: a user's results are exported by reference, from the
/// simulations the simulation service exports.
pub struct ResultsExport;

#[tonic::async_trait]
impl ultra_rpc::privacy::UserDataExporter for ResultsExport {
    async fn export(&self, _caller: &v1::Caller) -> Result<String, tonic::Status> {
        Ok(serde_json::json!({
            "note": "results carry no user ids; each exported simulation links its results"
        })
        .to_string())
    }
}
