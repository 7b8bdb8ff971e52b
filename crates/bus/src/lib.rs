//! The event bus: durable events (a stream read through consumer groups, at-least-once) and
//! ephemeral pub/sub (progress ticks, cache invalidation).
//!
//! `Bus` is an enum with two variants behind one API, so that callers do not change with the
//! deployment: the in-process bus (what `ultra serve` uses: one process, nothing installed)
//! and the Redis bus (streams + pub/sub, shared by replicas across processes; see the
//! [`redis`] module docs for its keys and semantics).

mod memory;
pub mod redis;

use std::sync::Arc;

use ultra_proto::v1::Event;
use ultra_proto::v1::event::Payload;

pub use memory::{InProcessBus, RETAINED_EVENTS};
pub use redis::{RedisBus, RedisOptions};

/// Why a bus operation failed. The in-process bus only fails once closed; the Redis bus also
/// while Redis is unreachable, which callers treat as transient (the outbox relay retries,
/// progress ticks are skipped).
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("the bus is closed")]
    Closed,
    #[error("redis is unreachable: {0}")]
    Unavailable(String),
    #[error("redis {command} failed: {source}")]
    Redis {
        command: &'static str,
        #[source]
        source: ::redis::RedisError,
    },
    #[error("invalid redis url: {0}")]
    InvalidUrl(String),
}

/// A handle to the bus; cheap to clone and share between tasks and services.
#[derive(Clone)]
pub enum Bus {
    InProcess(Arc<InProcessBus>),
    Redis(Arc<RedisBus>),
}

impl std::fmt::Debug for Bus {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Bus::InProcess(_) => formatter.write_str("Bus::InProcess"),
            Bus::Redis(_) => formatter.write_str("Bus::Redis"),
        }
    }
}

impl Bus {
    /// The in-process bus: every service of one process shares it (clone the handle).
    pub fn in_process() -> Bus {
        Bus::InProcess(Arc::new(InProcessBus::default()))
    }

    /// The Redis bus at `url` (`redis://host:port/db`). Does not connect: a service starts
    /// while Redis is down and reports not-ready ([`Bus::is_ready`]) until it is up; only a
    /// malformed URL is an error. Needs a tokio runtime when used.
    pub fn redis(url: &str, options: RedisOptions) -> Result<Bus, BusError> {
        Ok(Bus::Redis(Arc::new(RedisBus::new(url, options)?)))
    }

    /// Appends `event` to the durable stream "events": every consumer group receives it.
    /// On Redis it fails fast while Redis is unreachable: the outbox keeps the event.
    pub async fn publish(&self, event: &Event) -> Result<(), BusError> {
        match self {
            Bus::InProcess(bus) => bus.publish(event),
            Bus::Redis(bus) => bus.publish(event).await,
        }
    }

    /// Whether the bus can take events now: the readiness probe of a service. Always true
    /// for the open in-process bus; a `PING` for Redis.
    pub async fn is_ready(&self) -> bool {
        self.ping().await.is_ok()
    }

    /// [`Bus::is_ready`] with the reason when not.
    pub async fn ping(&self) -> Result<(), BusError> {
        match self {
            Bus::InProcess(bus) if bus.is_closed() => Err(BusError::Closed),
            Bus::InProcess(_) => Ok(()),
            Bus::Redis(bus) => bus.ping().await,
        }
    }

    /// Joins consumer group `group` (created on first use, starting from the oldest retained
    /// event, like `XGROUP CREATE ... 0`). Subscriptions of the same group share its queue
    /// (competing consumers); each group gets every event at least once.
    pub async fn subscribe(&self, group: &str) -> Subscription {
        match self {
            Bus::InProcess(bus) => Subscription(SubscriptionInner::InProcess(bus.subscribe(group))),
            Bus::Redis(bus) => Subscription(SubscriptionInner::Redis(bus.subscribe(group).await)),
        }
    }

    /// Sends an ephemeral message to the listeners of `channel` currently listening, in
    /// every process on the bus; nobody listening means it is dropped (pub/sub semantics, no
    /// persistence).
    pub async fn broadcast(&self, channel: &str, payload: Vec<u8>) -> Result<(), BusError> {
        match self {
            Bus::InProcess(bus) => bus.broadcast(channel, payload),
            Bus::Redis(bus) => bus.broadcast(channel, payload).await,
        }
    }

    /// Listens to `channel` from now on (on Redis: once the subscription is confirmed, or at
    /// once while Redis is down, receiving from when it is back).
    pub async fn listen(&self, channel: &str) -> Listener {
        match self {
            Bus::InProcess(bus) => Listener(ListenerInner::InProcess(bus.listen(channel))),
            Bus::Redis(bus) => Listener(ListenerInner::Redis(bus.listen(channel).await)),
        }
    }

    /// Closes the bus: pending `Subscription::next` calls return `None`.
    pub fn close(&self) {
        match self {
            Bus::InProcess(bus) => bus.close(),
            Bus::Redis(bus) => bus.close(),
        }
    }
}

/// A member of a consumer group.
pub struct Subscription(SubscriptionInner);

enum SubscriptionInner {
    InProcess(memory::MemorySubscription),
    Redis(redis::RedisSubscription),
}

impl Subscription {
    /// The next delivery for this group; `None` once the bus is closed. On Redis it waits
    /// out outages (reconnecting with backoff) rather than returning `None`.
    pub async fn next(&mut self) -> Option<Delivery> {
        match &mut self.0 {
            SubscriptionInner::InProcess(subscription) => subscription
                .next()
                .await
                .map(|delivery| Delivery(DeliveryInner::InProcess(delivery))),
            SubscriptionInner::Redis(subscription) => subscription
                .next()
                .await
                .map(|delivery| Delivery(DeliveryInner::Redis(Box::new(delivery)))),
        }
    }
}

/// One delivered event. Call [`Delivery::ack`] once it is handled (after the consumer's
/// transaction commits); dropping it without ack puts the event back in the group's queue, so
/// a crash or an error means redelivery, never loss.
pub struct Delivery(DeliveryInner);

enum DeliveryInner {
    InProcess(memory::MemoryDelivery),
    // Boxed: it carries the decoded event, the in-process delivery only an `Arc` of it.
    Redis(Box<redis::RedisDelivery>),
}

impl Delivery {
    pub fn event(&self) -> &Event {
        match &self.0 {
            DeliveryInner::InProcess(delivery) => delivery.event(),
            DeliveryInner::Redis(delivery) => delivery.event(),
        }
    }

    /// How many times this event has been delivered to the group (1 on the first delivery):
    /// a consumer can give up on a poison event after a few attempts.
    pub fn attempt(&self) -> u32 {
        match &self.0 {
            DeliveryInner::InProcess(delivery) => delivery.attempt(),
            DeliveryInner::Redis(delivery) => delivery.attempt(),
        }
    }

    /// Acknowledges the event: the group never sees it again.
    pub fn ack(self) {
        match self.0 {
            DeliveryInner::InProcess(delivery) => delivery.ack(),
            DeliveryInner::Redis(delivery) => (*delivery).ack(),
        }
    }
}

/// A listener of one pub/sub channel.
pub struct Listener(ListenerInner);

enum ListenerInner {
    InProcess(memory::MemoryListener),
    Redis(redis::RedisListener),
}

impl Listener {
    /// The next message; slow listeners skip what they missed (ticks are superseded by the
    /// next one anyway). `None` when the channel is gone.
    pub async fn next(&mut self) -> Option<Vec<u8>> {
        match &mut self.0 {
            ListenerInner::InProcess(listener) => listener.next().await,
            ListenerInner::Redis(listener) => listener.next().await,
        }
    }

    /// The messages as a stream (for SSE responses).
    pub fn into_stream(self) -> impl futures_util::Stream<Item = Vec<u8>> + Send + 'static {
        futures_util::stream::unfold(self, |mut listener| async move {
            listener.next().await.map(|payload| (payload, listener))
        })
    }
}

/// A new event envelope: a fresh UUIDv7 id (time-ordered, so outboxes sort by it) and the
/// current time. `kind` is the event type, e.g. `"model.uploaded"`.
pub fn new_event(kind: &str, org_id: &str, user_id: &str, payload: Payload) -> Event {
    Event {
        id: uuid::Uuid::now_v7().to_string(),
        r#type: kind.to_owned(),
        occurred_at_ms: now_ms(),
        org_id: org_id.to_owned(),
        user_id: user_id.to_owned(),
        // The request (or event) being handled, when there is one: consumers can tie their
        // work to the request that caused it.
        traceparent: ultra_telemetry::outgoing_traceparent(),
        payload: Some(payload),
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
