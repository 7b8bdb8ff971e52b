//! The Redis bus against a real `redis-server` (ultra-testkit, one private server per test):
//! the promises every bus keeps (`behaviour`), then what only a shared, fallible bus has to
//! handle: consumers in other processes, dead consumers, poison, replicas, outages.

mod behaviour;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use behaviour::{QUIET, WAIT, uploaded};
use prost::Message;
use redis::Value;
use redis::aio::MultiplexedConnection;
use tokio::time::timeout;
use ultra_bus::{Bus, BusError, Delivery, RedisOptions, Subscription};
use ultra_proto::v1::Event;
use ultra_testkit::RedisServer;

/// Production semantics on a test clock: claims after 400 ms idle, quick reconnection.
fn options() -> RedisOptions {
    RedisOptions {
        max_attempts: 3,
        claim_idle: Duration::from_millis(400),
        claim_interval: Duration::from_millis(100),
        block: Duration::from_millis(100),
        command_timeout: Duration::from_secs(1),
        reconnect_min: Duration::from_millis(50),
        reconnect_max: Duration::from_millis(400),
        ..RedisOptions::default()
    }
}

fn server() -> RedisServer {
    RedisServer::start().expect("start redis-server")
}

fn bus(server: &RedisServer) -> Bus {
    Bus::redis(&server.url(), options()).expect("redis bus")
}

/// A plain client, to look at the keys the bus leaves behind.
async fn raw(server: &RedisServer) -> MultiplexedConnection {
    redis::Client::open(server.url())
        .expect("client")
        .get_multiplexed_async_connection()
        .await
        .expect("connect")
}

async fn next(subscription: &mut Subscription) -> Delivery {
    timeout(WAIT, subscription.next())
        .await
        .expect("a delivery in time")
        .expect("bus open")
}

/// What the outbox relay does: retry until the bus takes the event.
async fn publish_until_accepted(bus: &Bus, event: &Event) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while let Err(error) = bus.publish(event).await {
        assert!(Instant::now() < deadline, "publish still failing: {error}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// The promises of every bus.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_group_gets_every_event() {
    let server = server();
    behaviour::every_group_gets_every_event(&bus(&server)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_created_later_sees_retained_events() {
    let server = server();
    behaviour::a_group_created_later_sees_retained_events(&bus(&server)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_delivery_is_redelivered_until_acked() {
    let server = server();
    behaviour::a_dropped_delivery_is_redelivered_until_acked(&bus(&server)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumers_of_one_group_share_its_queue() {
    let server = server();
    behaviour::consumers_of_one_group_share_its_queue(&bus(&server)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_ends_subscriptions() {
    let server = server();
    behaviour::close_ends_subscriptions(&bus(&server)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pubsub_reaches_current_listeners_only() {
    let server = server();
    behaviour::pubsub_reaches_current_listeners_only(&bus(&server)).await;
}

// Redis only.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_are_protobuf_on_one_stream() {
    let server = server();
    let bus = bus(&server);
    let event = uploaded("m1");
    bus.publish(&event).await.expect("publish");
    let mut raw = raw(&server).await;
    let entries: Value = redis::cmd("XRANGE")
        .arg("ultra:events")
        .arg("-")
        .arg("+")
        .query_async(&mut raw)
        .await
        .expect("xrange");
    let fields = entry_fields(&entries, 0);
    assert_eq!(field(&fields, "type"), Some(b"model.uploaded".to_vec()));
    assert_eq!(field(&fields, "id"), Some(event.id.clone().into_bytes()));
    let payload = field(&fields, "event").expect("event field");
    assert_eq!(Event::decode(payload.as_slice()).expect("protobuf"), event);
}

/// Two replicas of one service (two processes: two buses) split the group's work: each
/// event handled once, by one of them, both busy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_in_one_group_share_the_work() {
    let server = server();
    let producer = bus(&server);
    let replicas = [bus(&server), bus(&server)];
    let mut subscriptions = Vec::new();
    for replica in &replicas {
        subscriptions.push(replica.subscribe("billing").await);
    }
    let mut published = HashSet::new();
    for n in 0..20 {
        let event = uploaded(&format!("m{n}"));
        published.insert(event.id.clone());
        producer.publish(&event).await.expect("publish");
    }
    let workers: Vec<_> = subscriptions
        .into_iter()
        .map(|mut subscription| {
            tokio::spawn(async move {
                let mut handled = Vec::new();
                while let Ok(Some(delivery)) = timeout(QUIET * 3, subscription.next()).await {
                    tokio::time::sleep(Duration::from_millis(20)).await; // the handler's work
                    handled.push(delivery.event().id.clone());
                    delivery.ack();
                }
                handled
            })
        })
        .collect();
    let mut all = Vec::new();
    for worker in workers {
        let handled = worker.await.expect("join");
        assert!(!handled.is_empty(), "both replicas got work");
        all.extend(handled);
    }
    assert_eq!(all.len(), 20, "each event handled once");
    assert_eq!(all.into_iter().collect::<HashSet<_>>(), published);
}

/// A consumer that dies holding an event (its process is gone: no ack, no redelivery of its
/// own) does not lose it: another consumer of the group claims it once it sat idle for
/// `claim_idle`, as its second attempt.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_consumers_events_are_claimed_by_a_live_one() {
    let server = server();
    let dying_replica = bus(&server);
    let live_replica = bus(&server);
    let mut dying = dying_replica.subscribe("billing").await;
    let mut live = live_replica.subscribe("billing").await;
    let event = uploaded("m1");
    dying_replica.publish(&event).await.expect("publish");
    let delivery = next(&mut dying).await;
    assert_eq!(delivery.event(), &event);
    let died = Instant::now();
    drop(dying);
    drop(delivery);
    drop(dying_replica);

    let claimed = timeout(Duration::from_secs(5), live.next())
        .await
        .expect("claimed in time")
        .expect("open");
    assert_eq!(claimed.event(), &event);
    assert_eq!(claimed.attempt(), 2, "the delivery count carries over");
    assert!(
        died.elapsed() >= options().claim_idle / 2,
        "claimed only once idle, after {:?}",
        died.elapsed()
    );
    claimed.ack();
    assert!(timeout(QUIET, live.next()).await.is_err(), "handled once");
}

/// An event its handler keeps failing on is delivered `max_attempts` times, then moved to
/// `<stream>:dead` (payload and history) and acked, so the group moves on. Other groups
/// are not affected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_event_ends_in_the_dead_letter_stream() {
    let server = server();
    let bus = bus(&server);
    let mut billing = bus.subscribe("billing").await;
    let mut analytics = bus.subscribe("analytics").await;
    let poison = uploaded("poison");
    let healthy = uploaded("healthy");
    bus.publish(&poison).await.expect("publish");
    bus.publish(&healthy).await.expect("publish");
    for attempt in 1..=3 {
        let delivery = next(&mut billing).await;
        assert_eq!(delivery.event(), &poison);
        assert_eq!(delivery.attempt(), attempt);
        drop(delivery); // the handler fails every time
    }
    let after = next(&mut billing).await;
    assert_eq!(after.event(), &healthy, "the group moved on");
    after.ack();
    assert!(timeout(QUIET, billing.next()).await.is_err());

    let mut raw = raw(&server).await;
    let dead: Value = redis::cmd("XRANGE")
        .arg("ultra:events:dead")
        .arg("-")
        .arg("+")
        .query_async(&mut raw)
        .await
        .expect("xrange");
    let fields = entry_fields(&dead, 0);
    let payload = field(&fields, "event").expect("payload kept");
    assert_eq!(Event::decode(payload.as_slice()).expect("protobuf"), poison);
    assert_eq!(field(&fields, "group"), Some(b"billing".to_vec()));
    assert_eq!(field(&fields, "attempts"), Some(b"3".to_vec()));
    assert_eq!(
        field(&fields, "reason"),
        Some(b"too many attempts".to_vec())
    );
    let pending: Value = redis::cmd("XPENDING")
        .arg("ultra:events")
        .arg("billing")
        .query_async(&mut raw)
        .await
        .expect("xpending");
    assert_eq!(items(&pending).first(), Some(&Value::Int(0)), "acked");

    let first = next(&mut analytics).await;
    assert_eq!((first.event(), first.attempt()), (&poison, 1));
    first.ack();
}

/// An entry that is not an event (another writer, a bad deploy) cannot be handled at any
/// attempt: it is dead-lettered at once and the group carries on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undecodable_entry_is_dead_lettered_at_once() {
    let server = server();
    let bus = bus(&server);
    let mut billing = bus.subscribe("billing").await;
    let mut raw = raw(&server).await;
    let _: Value = redis::cmd("XADD")
        .arg("ultra:events")
        .arg("*")
        .arg("event")
        .arg(b"\xff\xff not protobuf".to_vec())
        .query_async(&mut raw)
        .await
        .expect("xadd");
    let event = uploaded("m1");
    bus.publish(&event).await.expect("publish");
    let delivery = next(&mut billing).await;
    assert_eq!((delivery.event(), delivery.attempt()), (&event, 1));
    delivery.ack();
    let dead: Value = redis::cmd("XRANGE")
        .arg("ultra:events:dead")
        .arg("-")
        .arg("+")
        .query_async(&mut raw)
        .await
        .expect("xrange");
    let reason = field(&entry_fields(&dead, 0), "reason").expect("reason");
    assert!(
        String::from_utf8_lossy(&reason).starts_with("undecodable event"),
        "{}",
        String::from_utf8_lossy(&reason)
    );
}

/// Progress ticks reach every gateway replica listening (each its own bus, as its own
/// process), and a replica whose listeners are gone stops getting them without disturbing
/// the others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broadcast_reaches_every_replica() {
    let server = server();
    let simulation = bus(&server);
    let gateway_a = bus(&server);
    let gateway_b = bus(&server);
    let mut on_a = gateway_a.listen("progress:s1").await;
    let mut on_b = gateway_b.listen("progress:s1").await;
    let mut on_b_again = gateway_b.listen("progress:s1").await;
    simulation
        .broadcast("progress:s1", b"10%".to_vec())
        .await
        .expect("broadcast");
    for listener in [&mut on_a, &mut on_b, &mut on_b_again] {
        assert_eq!(
            timeout(WAIT, listener.next()).await.expect("in time"),
            Some(b"10%".to_vec())
        );
    }
    drop(on_a);
    drop(on_b);
    simulation
        .broadcast("progress:s1", b"20%".to_vec())
        .await
        .expect("broadcast");
    assert_eq!(
        timeout(WAIT, on_b_again.next()).await.expect("in time"),
        Some(b"20%".to_vec())
    );
}

/// Redis goes away mid-stream and comes back with its data (a restart of a Redis with
/// persistence): publish fails while it is down (the outbox keeps the event), readiness
/// says so, and afterwards the subscription carries on: the unacked event comes back, the
/// acked one does not, nothing published after the restart is lost, listeners resume.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bus_survives_a_redis_restart() {
    let mut server = server();
    let bus = bus(&server);
    let mut billing = bus.subscribe("billing").await;
    let mut ticks = bus.listen("progress:s1").await;
    let (acked, unacked) = (uploaded("acked"), uploaded("unacked"));
    bus.publish(&acked).await.expect("publish");
    bus.publish(&unacked).await.expect("publish");
    let first = next(&mut billing).await;
    assert_eq!(first.event(), &acked);
    first.ack();
    let second = next(&mut billing).await;
    assert_eq!(second.event(), &unacked);
    assert!(bus.is_ready().await);

    server.stop();
    let during = uploaded("during");
    assert!(
        matches!(bus.publish(&during).await, Err(BusError::Unavailable(_))),
        "publish fails while redis is down"
    );
    assert!(
        bus.publish(&during).await.is_err(),
        "and keeps failing fast"
    );
    assert!(!bus.is_ready().await, "not ready while redis is down");
    drop(second); // its handler failed while redis was down
    let waiting = tokio::spawn(async move {
        let delivery = billing.next().await.expect("open");
        let redelivered = (delivery.event().clone(), delivery.attempt());
        delivery.ack();
        (billing, redelivered)
    });
    tokio::time::sleep(Duration::from_millis(300)).await;

    server.restart().expect("restart");
    publish_until_accepted(&bus, &during).await; // the outbox relay's retry
    let after = uploaded("after");
    bus.publish(&after)
        .await
        .expect("publish after the restart");
    assert!(bus.is_ready().await);

    let (mut billing, redelivered) = timeout(Duration::from_secs(10), waiting)
        .await
        .expect("the subscription resumed in time")
        .expect("join");
    assert_eq!(redelivered, (unacked, 2), "the unacked event comes back");
    for expected in [&during, &after] {
        let delivery = next(&mut billing).await;
        assert_eq!((delivery.event(), delivery.attempt()), (expected, 1));
        delivery.ack();
    }
    assert!(
        timeout(QUIET, billing.next()).await.is_err(),
        "the acked event is not redelivered"
    );

    // Pub/sub reconnects on its own; ticks sent before it did are lost by design.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        bus.broadcast("progress:s1", b"tick".to_vec())
            .await
            .expect("broadcast");
        if let Ok(Some(tick)) = timeout(Duration::from_millis(100), ticks.next()).await {
            assert_eq!(tick, b"tick".to_vec());
            break;
        }
        assert!(Instant::now() < deadline, "listener never resumed");
    }
}

/// Redis crashes and comes back empty (no persistence): the group is recreated and the
/// subscription carries on with what is published from then on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bus_recovers_when_redis_comes_back_empty() {
    let mut server = server();
    let bus = bus(&server);
    let mut billing = bus.subscribe("billing").await;
    bus.publish(&uploaded("before")).await.expect("publish");
    next(&mut billing).await.ack();

    server.kill();
    server.restart().expect("restart");
    let after = uploaded("after");
    publish_until_accepted(&bus, &after).await;
    let delivery = timeout(Duration::from_secs(10), billing.next())
        .await
        .expect("resumed in time")
        .expect("open");
    assert_eq!((delivery.event(), delivery.attempt()), (&after, 1));
    delivery.ack();
    assert!(timeout(QUIET, billing.next()).await.is_err());
}

/// A service starts before Redis: the bus is created, reports not-ready, refuses events
/// (its outbox keeps them), and works as soon as Redis is up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bus_created_while_redis_is_down_works_once_it_is_up() {
    let mut server = server();
    server.stop();
    let bus = bus(&server);
    assert!(!bus.is_ready().await);
    let event = uploaded("m1");
    assert!(bus.publish(&event).await.is_err());
    let mut billing = bus.subscribe("billing").await;
    let mut ticks = bus.listen("progress:s1").await;
    let waiting = tokio::spawn(async move { billing.next().await.map(|d| d.event().clone()) });

    server.restart().expect("start");
    publish_until_accepted(&bus, &event).await;
    let received = timeout(Duration::from_secs(10), waiting)
        .await
        .expect("in time")
        .expect("join");
    assert_eq!(received, Some(event));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        bus.broadcast("progress:s1", b"tick".to_vec())
            .await
            .expect("broadcast");
        if timeout(Duration::from_millis(100), ticks.next())
            .await
            .is_ok()
        {
            break;
        }
        assert!(Instant::now() < deadline, "listener never started");
    }
}

/// The stream is capped (`MAXLEN ~`): old entries go, so Redis memory stays bounded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stream_is_bounded() {
    let server = server();
    let bus = Bus::redis(
        &server.url(),
        RedisOptions {
            max_len: 10,
            ..options()
        },
    )
    .expect("bus");
    for n in 0..500 {
        bus.publish(&uploaded(&format!("m{n}")))
            .await
            .expect("publish");
    }
    let mut raw = raw(&server).await;
    let length: i64 = redis::cmd("XLEN")
        .arg("ultra:events")
        .query_async(&mut raw)
        .await
        .expect("xlen");
    // Approximate trimming drops whole nodes (100 entries by default), never below the cap.
    assert!((10..=200).contains(&length), "{length} entries kept");
}

#[test]
fn a_malformed_url_is_refused() {
    assert!(matches!(
        Bus::redis("not a url", RedisOptions::default()),
        Err(BusError::InvalidUrl(_))
    ));
}

fn items(value: &Value) -> &[Value] {
    match value {
        Value::Array(items) => items,
        _ => &[],
    }
}

/// The fields of entry `index` of an XRANGE reply, as name/value pairs.
fn entry_fields(reply: &Value, index: usize) -> Vec<(Vec<u8>, Vec<u8>)> {
    let entry = items(reply).get(index).expect("entry");
    let fields = items(entry).get(1).expect("fields");
    items(fields)
        .chunks(2)
        .map(|pair| match pair {
            [Value::BulkString(name), Value::BulkString(value)] => (name.clone(), value.clone()),
            other => panic!("unexpected field pair {other:?}"),
        })
        .collect()
}

fn field(fields: &[(Vec<u8>, Vec<u8>)], name: &str) -> Option<Vec<u8>> {
    fields
        .iter()
        .find(|(key, _)| key.as_slice() == name.as_bytes())
        .map(|(_, value)| value.clone())
}
