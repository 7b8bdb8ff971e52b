//! The billing consumer: reads the bus "events" stream as consumer group `billing` and
//! records the usage of every `simulation.completed` exactly once — the event id is marked
//! processed in the same transaction as the ledger insert, and the delivery is acked only
//! after the commit (a failure means redelivery, a redelivery is a no-op).
//!
//! It also carries out GDPR erasures (`user.deleted`, `org.deleted`) the same way. The
//! ledger is a financial record, so its rows stay and keep every amount (the organisation's
//! usage totals do not change): only the erased user ids are replaced by the erasure's
//! pseudonym.

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use ultra_proto::v1;
use ultra_proto::v1::event::Payload;

use crate::error::Result;
use crate::store;

/// The consumer group of the billing service.
pub const GROUP: &str = "billing";

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

/// Records the usage of a `simulation.completed` event, or carries out an erasure, once;
/// other events are ignored.
pub async fn handle(db: &ultra_store::Db, event: &v1::Event) -> Result<()> {
    if let Some(erasure) = ultra_store::ErasureRequest::from_event(event) {
        let mut tx = db.begin().await?;
        if ultra_store::mark_processed(&mut tx, &event.id).await? {
            store::erase(&mut tx, &erasure).await?;
            ultra_store::record_erasure(&mut tx, &erasure).await?;
            tracing::info!(erasure_id = %erasure.erasure_id, org_id = %erasure.org_id, "erasure done: ledger pseudonymised");
        }
        tx.commit().await?;
        return Ok(());
    }
    let Some(Payload::SimulationCompleted(usage)) = &event.payload else {
        return Ok(());
    };
    let mut tx = db.begin().await?;
    if ultra_store::mark_processed(&mut tx, &event.id).await? {
        store::record(&mut tx, event, usage).await?;
        tracing::debug!(event_id = %event.id, org_id = %event.org_id, "usage recorded");
    }
    tx.commit().await?;
    Ok(())
}
