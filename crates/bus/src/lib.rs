//! The event bus: durable events (a stream read through consumer groups, at-least-once) and
//! ephemeral pub/sub (progress ticks, cache invalidation).
//!
//! `Bus` is an enum so that the Redis implementation (streams + pub/sub) can be added as a
//! second variant without changing any caller; today only the in-process variant exists,
//! which is what `ultra serve` uses.

mod memory;

use std::sync::Arc;

use ultra_proto::v1::Event;
use ultra_proto::v1::event::Payload;

pub use memory::{InProcessBus, RETAINED_EVENTS};

/// Why a bus operation failed (the in-process bus never fails; Redis will).
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("the bus is closed")]
    Closed,
}

/// A handle to the bus; cheap to clone and share between tasks and services.
#[derive(Clone)]
pub enum Bus {
    InProcess(Arc<InProcessBus>),
}

impl std::fmt::Debug for Bus {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Bus::InProcess(_) => formatter.write_str("Bus::InProcess"),
        }
    }
}

impl Bus {
    /// The in-process bus: every service of one process shares it (clone the handle).
    pub fn in_process() -> Bus {
        Bus::InProcess(Arc::new(InProcessBus::default()))
    }

    /// Appends `event` to the durable stream "events": every consumer group receives it.
    pub async fn publish(&self, event: &Event) -> Result<(), BusError> {
        match self {
            Bus::InProcess(bus) => bus.publish(event),
        }
    }

    /// Joins consumer group `group` (created on first use, starting from the oldest retained
    /// event, like `XGROUP CREATE ... 0`). Subscriptions of the same group share its queue
    /// (competing consumers); each group gets every event at least once.
    pub async fn subscribe(&self, group: &str) -> Subscription {
        match self {
            Bus::InProcess(bus) => Subscription(SubscriptionInner::InProcess(bus.subscribe(group))),
        }
    }

    /// Sends an ephemeral message to the listeners of `channel` currently listening; nobody
    /// listening means it is dropped (pub/sub semantics, no persistence).
    pub async fn broadcast(&self, channel: &str, payload: Vec<u8>) -> Result<(), BusError> {
        match self {
            Bus::InProcess(bus) => bus.broadcast(channel, payload),
        }
    }

    /// Listens to `channel` from now on.
    pub async fn listen(&self, channel: &str) -> Listener {
        match self {
            Bus::InProcess(bus) => Listener(ListenerInner::InProcess(bus.listen(channel))),
        }
    }

    /// Closes the bus: pending `Subscription::next` calls return `None`.
    pub fn close(&self) {
        match self {
            Bus::InProcess(bus) => bus.close(),
        }
    }
}

/// A member of a consumer group.
pub struct Subscription(SubscriptionInner);

enum SubscriptionInner {
    InProcess(memory::MemorySubscription),
}

impl Subscription {
    /// The next delivery for this group; `None` once the bus is closed.
    pub async fn next(&mut self) -> Option<Delivery> {
        match &mut self.0 {
            SubscriptionInner::InProcess(subscription) => subscription.next().await.map(Delivery),
        }
    }
}

/// One delivered event. Call [`Delivery::ack`] once it is handled (after the consumer's
/// transaction commits); dropping it without ack puts the event back in the group's queue, so
/// a crash or an error means redelivery, never loss.
pub struct Delivery(memory::MemoryDelivery);

impl Delivery {
    pub fn event(&self) -> &Event {
        self.0.event()
    }

    /// How many times this event has been delivered to the group (1 on the first delivery):
    /// a consumer can give up on a poison event after a few attempts.
    pub fn attempt(&self) -> u32 {
        self.0.attempt()
    }

    /// Acknowledges the event: the group never sees it again.
    pub fn ack(self) {
        self.0.ack();
    }
}

/// A listener of one pub/sub channel.
pub struct Listener(ListenerInner);

enum ListenerInner {
    InProcess(memory::MemoryListener),
}

impl Listener {
    /// The next message; slow listeners skip what they missed (ticks are superseded by the
    /// next one anyway). `None` when the channel is gone.
    pub async fn next(&mut self) -> Option<Vec<u8>> {
        match &mut self.0 {
            ListenerInner::InProcess(listener) => listener.next().await,
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
        traceparent: String::new(),
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
