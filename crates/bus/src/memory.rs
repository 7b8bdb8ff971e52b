//! The in-process bus: consumer groups as queues behind a mutex, pub/sub as tokio broadcast
//! channels. Semantics match the Redis implementation's: each group gets every event at
//! least once, unacknowledged deliveries come back, pub/sub is fire-and-forget.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::{Notify, broadcast};
use ultra_proto::v1::Event;

use crate::BusError;

/// How many events the stream keeps for groups created later (a service that starts after
/// its producer still sees the events published before it subscribed).
pub const RETAINED_EVENTS: usize = 10_000;

/// Per-channel buffer of pub/sub messages before a slow listener starts skipping.
const CHANNEL_CAPACITY: usize = 256;

#[derive(Default)]
pub struct InProcessBus {
    state: Mutex<State>,
    channels: Mutex<HashMap<String, broadcast::Sender<Arc<[u8]>>>>,
}

#[derive(Default)]
struct State {
    retained: VecDeque<Arc<Event>>,
    groups: HashMap<String, Arc<Group>>,
    closed: bool,
}

struct Pending {
    event: Arc<Event>,
    attempt: u32,
}

#[derive(Default)]
struct Group {
    queue: Mutex<GroupQueue>,
    ready: Notify,
}

#[derive(Default)]
struct GroupQueue {
    pending: VecDeque<Pending>,
    closed: bool,
}

/// A poisoned lock only means another thread panicked mid-update of a plain queue; the data
/// is still consistent enough to keep delivering, so recover instead of cascading panics.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl InProcessBus {
    pub(crate) fn publish(&self, event: &Event) -> Result<(), BusError> {
        let event = Arc::new(event.clone());
        let mut state = lock(&self.state);
        if state.closed {
            return Err(BusError::Closed);
        }
        if state.retained.len() == RETAINED_EVENTS {
            state.retained.pop_front();
        }
        state.retained.push_back(event.clone());
        for group in state.groups.values() {
            group.push_back(Pending {
                event: event.clone(),
                attempt: 0,
            });
        }
        Ok(())
    }

    pub(crate) fn subscribe(&self, group_name: &str) -> MemorySubscription {
        let mut state = lock(&self.state);
        let closed = state.closed;
        let retained: Vec<Arc<Event>> = state.retained.iter().cloned().collect();
        let group = state
            .groups
            .entry(group_name.to_owned())
            .or_insert_with(|| {
                let group = Arc::new(Group::default());
                for event in retained {
                    group.push_back(Pending { event, attempt: 0 });
                }
                group
            })
            .clone();
        if closed {
            lock(&group.queue).closed = true;
        }
        MemorySubscription { group }
    }

    pub(crate) fn broadcast(&self, channel: &str, payload: Vec<u8>) -> Result<(), BusError> {
        let mut channels = lock(&self.channels);
        if let Some(sender) = channels.get(channel)
            && sender.send(Arc::from(payload)).is_err()
        {
            // Nobody listens any more: forget the channel so the map does not grow with
            // every simulation id ever seen.
            channels.remove(channel);
        }
        Ok(())
    }

    pub(crate) fn listen(&self, channel: &str) -> MemoryListener {
        let mut channels = lock(&self.channels);
        let receiver = match channels.get(channel) {
            Some(sender) => sender.subscribe(),
            None => {
                let (sender, receiver) = broadcast::channel(CHANNEL_CAPACITY);
                channels.insert(channel.to_owned(), sender);
                receiver
            }
        };
        MemoryListener { receiver }
    }

    pub(crate) fn is_closed(&self) -> bool {
        lock(&self.state).closed
    }

    pub(crate) fn close(&self) {
        let mut state = lock(&self.state);
        state.closed = true;
        for group in state.groups.values() {
            lock(&group.queue).closed = true;
            group.ready.notify_waiters();
            group.ready.notify_one();
        }
    }
}

impl Group {
    fn push_back(&self, pending: Pending) {
        lock(&self.queue).pending.push_back(pending);
        self.ready.notify_one();
    }

    fn push_front(&self, pending: Pending) {
        lock(&self.queue).pending.push_front(pending);
        self.ready.notify_one();
    }
}

pub struct MemorySubscription {
    group: Arc<Group>,
}

impl MemorySubscription {
    pub(crate) async fn next(&mut self) -> Option<MemoryDelivery> {
        loop {
            let notified = self.group.ready.notified();
            {
                let mut queue = lock(&self.group.queue);
                if queue.closed {
                    return None;
                }
                if let Some(mut pending) = queue.pending.pop_front() {
                    pending.attempt += 1;
                    // More work left: make sure another consumer of the group wakes up too.
                    if !queue.pending.is_empty() {
                        self.group.ready.notify_one();
                    }
                    return Some(MemoryDelivery {
                        group: self.group.clone(),
                        event: pending.event,
                        attempt: pending.attempt,
                        acked: false,
                    });
                }
            }
            notified.await;
        }
    }
}

pub struct MemoryDelivery {
    group: Arc<Group>,
    event: Arc<Event>,
    attempt: u32,
    acked: bool,
}

impl MemoryDelivery {
    pub(crate) fn event(&self) -> &Event {
        &self.event
    }

    pub(crate) fn attempt(&self) -> u32 {
        self.attempt
    }

    pub(crate) fn ack(mut self) {
        self.acked = true;
    }
}

impl Drop for MemoryDelivery {
    fn drop(&mut self) {
        if self.acked {
            return;
        }
        tracing::debug!(event_id = %self.event.id, attempt = self.attempt, "event not acknowledged, redelivering");
        self.group.push_front(Pending {
            event: self.event.clone(),
            attempt: self.attempt,
        });
    }
}

pub struct MemoryListener {
    receiver: broadcast::Receiver<Arc<[u8]>>,
}

impl MemoryListener {
    pub(crate) async fn next(&mut self) -> Option<Vec<u8>> {
        loop {
            match self.receiver.recv().await {
                Ok(payload) => return Some(payload.to_vec()),
                Err(broadcast::error::RecvError::Lagged(skipped)) => {
                    tracing::debug!(skipped, "pub/sub listener lagged, skipping messages");
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }
}
