//! The consumer side of the event contract (DESIGN.md, Events): read the bus "events"
//! stream as one consumer group and ack each delivery only after its handler committed, so
//! that a failure means redelivery and, with [`mark_processed`](crate::mark_processed) in
//! the handler's transaction, a redelivery is a no-op.

use std::fmt::Display;
use std::future::Future;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use ultra_proto::v1::Event;

use crate::Db;

/// Feeds every event of `group` to `handle` until `shutdown`. A handler error leaves the
/// delivery unacked (redelivered), after a back-off that grows with the attempt count so
/// that a database outage is not a busy loop.
pub fn spawn_consumer<H, F, E>(
    db: Db,
    bus: ultra_bus::Bus,
    group: &'static str,
    shutdown: CancellationToken,
    handle: H,
) -> JoinHandle<()>
where
    H: Fn(Db, Event) -> F + Send + Sync + 'static,
    F: Future<Output = Result<(), E>> + Send,
    E: Display + Send,
{
    tokio::spawn(async move {
        let mut subscription = bus.subscribe(group).await;
        loop {
            let delivery = tokio::select! {
                () = shutdown.cancelled() => return,
                delivery = subscription.next() => match delivery {
                    Some(delivery) => delivery,
                    None => return,
                },
            };
            // The handler continues the trace of the request that produced the event, so
            // what it publishes in turn carries the same trace.
            let handled = handle(db.clone(), delivery.event().clone());
            let outcome = match ultra_telemetry::TraceContext::parse(&delivery.event().traceparent)
            {
                Some(trace) => ultra_telemetry::scope(trace, handled).await,
                None => handled.await,
            };
            match outcome {
                Ok(()) => delivery.ack(),
                Err(error) => {
                    let attempt = delivery.attempt();
                    tracing::warn!(group, event_id = %delivery.event().id, attempt, error = %error, "event not handled; will retry");
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
