//! The billing consumer: reads the bus "events" stream as consumer group `billing` and
//! records the usage of every `simulation.completed` exactly once — the event id is marked
//! processed in the same transaction as the ledger insert, and the delivery is acked only
//! after the commit (a failure means redelivery, a redelivery is a no-op).

use std::time::Duration;

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
    tokio::spawn(async move {
        let mut subscription = bus.subscribe(GROUP).await;
        loop {
            let delivery = tokio::select! {
                () = shutdown.cancelled() => return,
                delivery = subscription.next() => match delivery {
                    Some(delivery) => delivery,
                    None => return,
                },
            };
            match handle(&db, delivery.event()).await {
                Ok(()) => delivery.ack(),
                Err(error) => {
                    let attempt = delivery.attempt();
                    tracing::warn!(event_id = %delivery.event().id, attempt, error = %error, "usage not recorded; will retry");
                    // Dropped without ack: redelivered. Back off so a database outage is
                    // not a busy loop.
                    drop(delivery);
                    let backoff = Duration::from_millis(100 * u64::from(attempt.min(50)));
                    tokio::select! {
                        () = shutdown.cancelled() => return,
                        () = tokio::time::sleep(backoff) => {}
                    }
                }
            }
        }
    })
}

/// Records the usage of a `simulation.completed` event, once; other events are ignored.
pub async fn handle(db: &ultra_store::Db, event: &v1::Event) -> Result<()> {
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
