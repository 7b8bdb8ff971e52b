//! What every bus promises, written once against the `Bus` API and run against each
//! implementation (`tests/bus.rs`: in-process; `tests/redis.rs`: Redis): fan-out to every
//! group, retained events for late groups, redelivery of unacknowledged events, competing
//! consumers within a group, close, pub/sub to current listeners only.

use std::time::Duration;

use tokio::time::timeout;
use ultra_bus::{Bus, new_event};
use ultra_proto::v1::event::Payload;
use ultra_proto::v1::{Event, ModelUploaded};

pub const WAIT: Duration = Duration::from_secs(2);
/// How long "nothing more" is watched for.
pub const QUIET: Duration = Duration::from_millis(300);

pub fn uploaded(model_id: &str) -> Event {
    new_event(
        "model.uploaded",
        "org-1",
        "user-1",
        Payload::ModelUploaded(ModelUploaded {
            model_id: model_id.to_owned(),
            size_bytes: 3,
        }),
    )
}

pub async fn every_group_gets_every_event(bus: &Bus) {
    let mut billing = bus.subscribe("billing").await;
    let mut analytics = bus.subscribe("analytics").await;
    let first = uploaded("m1");
    let second = uploaded("m2");
    bus.publish(&first).await.expect("publish");
    bus.publish(&second).await.expect("publish");
    for subscription in [&mut billing, &mut analytics] {
        for expected in [&first, &second] {
            let delivery = timeout(WAIT, subscription.next())
                .await
                .expect("in time")
                .expect("open");
            assert_eq!(delivery.event(), expected);
            assert_eq!(delivery.attempt(), 1);
            delivery.ack();
        }
    }
    assert!(
        timeout(QUIET, billing.next()).await.is_err(),
        "nothing more"
    );
}

pub async fn a_group_created_later_sees_retained_events(bus: &Bus) {
    let event = uploaded("m1");
    bus.publish(&event).await.expect("publish");
    let mut late = bus.subscribe("late").await;
    let delivery = timeout(WAIT, late.next())
        .await
        .expect("in time")
        .expect("open");
    assert_eq!(delivery.event(), &event);
}

pub async fn a_dropped_delivery_is_redelivered_until_acked(bus: &Bus) {
    let mut group = bus.subscribe("billing").await;
    let event = uploaded("m1");
    bus.publish(&event).await.expect("publish");
    let first = timeout(WAIT, group.next())
        .await
        .expect("in time")
        .expect("open");
    assert_eq!(first.attempt(), 1);
    drop(first); // the handler failed: no ack
    let second = timeout(WAIT, group.next())
        .await
        .expect("in time")
        .expect("open");
    assert_eq!(second.event(), &event);
    assert_eq!(second.attempt(), 2);
    second.ack();
    assert!(timeout(QUIET, group.next()).await.is_err());
}

pub async fn consumers_of_one_group_share_its_queue(bus: &Bus) {
    let mut worker_a = bus.subscribe("billing").await;
    let mut worker_b = bus.subscribe("billing").await;
    bus.publish(&uploaded("m1")).await.expect("publish");
    bus.publish(&uploaded("m2")).await.expect("publish");
    let a = timeout(WAIT, worker_a.next())
        .await
        .expect("in time")
        .expect("open");
    let b = timeout(WAIT, worker_b.next())
        .await
        .expect("in time")
        .expect("open");
    assert_ne!(a.event().id, b.event().id);
    a.ack();
    b.ack();
    assert!(timeout(QUIET, worker_a.next()).await.is_err());
}

pub async fn close_ends_subscriptions(bus: &Bus) {
    let mut group = bus.subscribe("billing").await;
    let waiter = tokio::spawn(async move { group.next().await.is_none() });
    tokio::time::sleep(Duration::from_millis(50)).await;
    bus.close();
    assert!(timeout(WAIT, waiter).await.expect("in time").expect("join"));
    assert!(bus.publish(&uploaded("m1")).await.is_err(), "closed");
    assert!(!bus.is_ready().await, "a closed bus is not ready");
}

pub async fn pubsub_reaches_current_listeners_only(bus: &Bus) {
    bus.broadcast("progress:s1", b"lost".to_vec())
        .await
        .expect("broadcast");
    let mut first = bus.listen("progress:s1").await;
    let mut second = bus.listen("progress:s1").await;
    let mut other = bus.listen("progress:s2").await;
    bus.broadcast("progress:s1", b"50%".to_vec())
        .await
        .expect("broadcast");
    assert_eq!(
        timeout(WAIT, first.next()).await.expect("in time"),
        Some(b"50%".to_vec())
    );
    assert_eq!(
        timeout(WAIT, second.next()).await.expect("in time"),
        Some(b"50%".to_vec())
    );
    assert!(timeout(QUIET, other.next()).await.is_err());
}
