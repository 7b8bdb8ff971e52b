//! The Redis bus: durable events on a Redis Stream read through consumer groups, ephemeral
//! messages on Redis pub/sub. Same promises as the in-process bus, across processes.
//!
//! # Keys
//!
//! | key | type | what |
//! | --- | --- | --- |
//! | `ultra:events` ([`RedisOptions::stream`]) | stream | every published event; fields `type`, `id` (the envelope's, for `redis-cli` readers) and `event` (the protobuf-encoded `ultra.v1.Event`) |
//! | consumer group `<group>` on it | group | one per consuming service, created at `0` on first use so a late service still reads the retained events |
//! | `ultra:events:dead` | stream | poison entries: `event`, `source_id`, `group`, `consumer`, `attempts`, `reason`, `dead_at_ms` |
//! | pub/sub channel `<channel>` | channel | [`Bus::broadcast`](crate::Bus::broadcast) payloads, as given |
//!
//! # Semantics
//!
//! - **Bounded stream.** `XADD ... MAXLEN ~ max_len` (1,000,000 by default, about 0.3 GB at
//!   the few hundred bytes an event takes): Redis trims whole macro-nodes past the bound, so
//!   a group that falls further behind than that loses the oldest entries. Producers are not
//!   affected (their outbox keeps what Redis did not accept), and a pending entry that was
//!   trimmed is acked away with a warning when met.
//! - **At-least-once.** An entry is acked (`XACK`) when
//!   [`Delivery::ack`](crate::Delivery::ack) is called, i.e. after the consumer's
//!   transaction committed. A delivery dropped without ack is
//!   re-delivered to the same subscription on its next `next()` (`XCLAIM` to itself, which
//!   counts a delivery). Entries of a consumer that died (process gone, subscription dropped)
//!   stay in the group's pending list until a live consumer of the group claims them with
//!   `XAUTOCLAIM` once idle for [`RedisOptions::claim_idle`]; that must exceed the longest
//!   handler, or a slow handler's entry is also handed to a second consumer (harmless with
//!   idempotent handlers, wasteful otherwise).
//! - **Attempts** are Redis' delivery counts (`XPENDING`), so they survive consumer deaths.
//!   An entry delivered more than [`RedisOptions::max_attempts`] times, or whose payload does
//!   not decode, is moved to the dead-letter stream and acked in one `MULTI`: poison must
//!   not block its group forever, and must not be lost either (replay it by re-publishing
//!   the `event` field).
//! - **Consumers** are named `<host>-<pid>-<random>-<n>`, unique per subscription, so that a
//!   dropped subscription is a dead consumer like a dead process. Consumers with nothing
//!   pending and idle for [`RedisOptions::consumer_expiry`] are deleted during claim sweeps,
//!   so restarts do not pile names up in `XINFO CONSUMERS`.
//! - **Outages.** Nothing blocks on Redis being up: [`Bus::redis`](crate::Bus::redis) does
//!   not connect, `publish` and `broadcast` fail fast with [`BusError::Unavailable`] while
//!   reconnection backs off (the outbox relay retries), subscriptions and listeners
//!   reconnect with exponential backoff and carry on, recreating their group if Redis came
//!   back empty. Acks that could not be sent are retried before the next read; if they are
//!   lost anyway (Redis lost its data, or the process exits) the entry is delivered again,
//!   which idempotent consumers absorb.
//! - **Pub/sub** runs on one connection per bus (per process), whose channels fan out to
//!   local listeners: every replica that listens gets every message, and a hundred SSE
//!   clients of one replica cost one Redis subscription. Messages sent while a replica is
//!   disconnected are lost, as pub/sub messages are by design (ticks are superseded).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use prost::Message;
use redis::aio::{MultiplexedConnection, PubSubSink};
use redis::{AsyncConnectionConfig, ErrorKind, RedisError, Value};
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use ultra_proto::v1::Event;

use crate::BusError;

/// Per-channel buffer of pub/sub messages before a slow local listener starts skipping.
const CHANNEL_CAPACITY: usize = 256;

/// Tuning of the Redis bus. The defaults suit production; tests shorten the times.
#[derive(Clone, Debug)]
pub struct RedisOptions {
    /// The stream of domain events; the dead-letter stream is this plus `:dead`.
    pub stream: String,
    /// Approximate bound of the stream (`XADD MAXLEN ~`): see the module docs.
    pub max_len: u64,
    /// Approximate bound of the dead-letter stream.
    pub dead_letter_max_len: u64,
    /// Deliveries of one entry to a group before it is dead-lettered instead. With the
    /// store's consumer back-off (100 ms x attempt) the default rides out about 20 s of a
    /// failing dependency; a dead-lettered event is kept, not lost.
    pub max_attempts: u32,
    /// How long an entry must sit unacknowledged before another consumer may claim it.
    pub claim_idle: Duration,
    /// How often each subscription looks for claimable entries.
    pub claim_interval: Duration,
    /// Consumers with nothing pending and idle this long are deleted from their group.
    pub consumer_expiry: Duration,
    /// How long one `XREADGROUP` blocks: the longest a dropped delivery of a concurrent
    /// handler waits before its redelivery, and the granularity of claim sweeps.
    pub block: Duration,
    /// Connect and reply timeout of every command but the blocking read.
    pub command_timeout: Duration,
    /// First and longest wait between reconnection attempts (doubling in between).
    pub reconnect_min: Duration,
    pub reconnect_max: Duration,
}

impl Default for RedisOptions {
    fn default() -> RedisOptions {
        RedisOptions {
            stream: "ultra:events".to_owned(),
            max_len: 1_000_000,
            dead_letter_max_len: 100_000,
            max_attempts: 20,
            claim_idle: Duration::from_secs(60),
            claim_interval: Duration::from_secs(10),
            consumer_expiry: Duration::from_secs(3600),
            block: Duration::from_secs(1),
            command_timeout: Duration::from_secs(3),
            reconnect_min: Duration::from_millis(100),
            reconnect_max: Duration::from_secs(5),
        }
    }
}

/// The shared connection for short commands and its reconnection state.
#[derive(Default)]
struct Link {
    connection: Option<MultiplexedConnection>,
    failures: u32,
    retry_at: Option<Instant>,
}

type Channels = Arc<Mutex<HashMap<String, broadcast::Sender<Arc<[u8]>>>>>;

pub struct RedisBus {
    client: redis::Client,
    options: RedisOptions,
    dead_stream: String,
    consumer_prefix: String,
    consumers: AtomicU64,
    link: tokio::sync::Mutex<Link>,
    closed: watch::Sender<bool>,
    hub: Mutex<Option<mpsc::UnboundedSender<HubCommand>>>,
    channels: Channels,
}

/// A poisoned lock only means another thread panicked mid-update of a plain map or list;
/// keep going rather than cascade the panic.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Errors that say nothing about the connection (the server answered with an error) keep
/// it; anything else (I/O, timeout, closed) means it must be replaced.
fn is_connection_error(error: &RedisError) -> bool {
    !matches!(error.kind(), ErrorKind::Server(_) | ErrorKind::Extension)
}

/// The group (or the whole stream) is gone: Redis restarted without its data.
fn is_no_group(error: &RedisError) -> bool {
    error.code() == Some("NOGROUP") || error.to_string().contains("NOGROUP")
}

/// Resolves once the bus is closed (or dropped). Returns `()` rather than the watch guard,
/// which is not `Send` and must not live across the `select!` arms' awaits.
async fn until_closed(closed: &mut watch::Receiver<bool>) {
    let _ = closed.wait_for(|closed| *closed).await;
}

fn redis_error(command: &'static str) -> impl FnOnce(RedisError) -> BusError {
    move |source| BusError::Redis { command, source }
}

/// Exponential backoff with up to 25% jitter, so that replicas cut off together do not
/// reconnect in lockstep.
fn backoff(options: &RedisOptions, failures: u32) -> Duration {
    let exponent = failures.saturating_sub(1).min(16);
    let base = options
        .reconnect_min
        .saturating_mul(1 << exponent)
        .min(options.reconnect_max);
    let jitter = (uuid::Uuid::new_v4().as_u128() % 256) as u32;
    base + base / 4 * jitter / 256
}

impl RedisBus {
    pub(crate) fn new(url: &str, options: RedisOptions) -> Result<RedisBus, BusError> {
        let client =
            redis::Client::open(url).map_err(|error| BusError::InvalidUrl(error.to_string()))?;
        let host = std::env::var("HOSTNAME")
            .ok()
            .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
            .unwrap_or_default();
        let host: String = host
            .trim()
            .chars()
            .filter(|character| character.is_ascii_alphanumeric() || "-_.".contains(*character))
            .collect();
        let random = uuid::Uuid::new_v4().simple().to_string();
        let consumer_prefix = format!(
            "{}-{}-{}",
            if host.is_empty() { "ultra" } else { &host },
            std::process::id(),
            &random[..8]
        );
        Ok(RedisBus {
            client,
            dead_stream: format!("{}:dead", options.stream),
            options,
            consumer_prefix,
            consumers: AtomicU64::new(0),
            link: tokio::sync::Mutex::new(Link::default()),
            closed: watch::Sender::new(false),
            hub: Mutex::new(None),
            channels: Arc::default(),
        })
    }

    pub fn options(&self) -> &RedisOptions {
        &self.options
    }

    fn is_closed(&self) -> bool {
        *self.closed.borrow()
    }

    async fn connect(&self, reply_timeout: Duration) -> Result<MultiplexedConnection, BusError> {
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.options.command_timeout))
            .set_response_timeout(Some(reply_timeout));
        self.client
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .map_err(|error| BusError::Unavailable(error.to_string()))
    }

    /// The shared connection, connecting if there is none and the backoff allows. Fails
    /// fast while backing off: callers (the outbox relay, progress ticks) retry on their own
    /// schedule and must not stall on a dead Redis.
    async fn connection(&self) -> Result<MultiplexedConnection, BusError> {
        if self.is_closed() {
            return Err(BusError::Closed);
        }
        let mut link = self.link.lock().await;
        if let Some(connection) = &link.connection {
            return Ok(connection.clone());
        }
        if let Some(retry_at) = link.retry_at
            && Instant::now() < retry_at
        {
            return Err(BusError::Unavailable(format!(
                "reconnecting in {:?}",
                retry_at - Instant::now()
            )));
        }
        match self.connect(self.options.command_timeout).await {
            Ok(connection) => {
                if link.failures > 0 {
                    tracing::info!("redis connection restored");
                }
                link.connection = Some(connection.clone());
                link.failures = 0;
                link.retry_at = None;
                Ok(connection)
            }
            Err(error) => {
                link.failures = link.failures.saturating_add(1);
                link.retry_at = Some(Instant::now() + backoff(&self.options, link.failures));
                if link.failures == 1 {
                    tracing::warn!(%error, "redis unavailable; reconnecting with backoff");
                }
                Err(error)
            }
        }
    }

    /// Runs `command` on the shared connection; a connection-level failure drops the
    /// connection so that the next call reconnects (immediately the first time).
    async fn run(&self, name: &'static str, command: &redis::Cmd) -> Result<Value, BusError> {
        let mut connection = self.connection().await?;
        match command.query_async::<Value>(&mut connection).await {
            Ok(value) => Ok(value),
            Err(error) => {
                if is_connection_error(&error) {
                    let mut link = self.link.lock().await;
                    link.connection = None;
                    link.failures = link.failures.saturating_add(1);
                    if link.failures == 1 {
                        tracing::warn!(%error, "redis connection lost; reconnecting with backoff");
                    }
                    // The first failure retries at once (the server may just have restarted).
                    if link.failures > 1 {
                        link.retry_at =
                            Some(Instant::now() + backoff(&self.options, link.failures));
                    }
                    return Err(BusError::Unavailable(error.to_string()));
                }
                Err(redis_error(name)(error))
            }
        }
    }

    pub(crate) async fn publish(&self, event: &Event) -> Result<(), BusError> {
        let mut command = redis::cmd("XADD");
        command
            .arg(&self.options.stream)
            .arg("MAXLEN")
            .arg("~")
            .arg(self.options.max_len)
            .arg("*")
            .arg("type")
            .arg(&event.r#type)
            .arg("id")
            .arg(&event.id)
            .arg("event")
            .arg(event.encode_to_vec());
        self.run("XADD", &command).await.map(drop)
    }

    pub(crate) async fn broadcast(&self, channel: &str, payload: Vec<u8>) -> Result<(), BusError> {
        let mut command = redis::cmd("PUBLISH");
        command.arg(channel).arg(payload);
        self.run("PUBLISH", &command).await.map(drop)
    }

    /// `PING` on the shared connection: the readiness probe of a service on the Redis bus.
    pub(crate) async fn ping(&self) -> Result<(), BusError> {
        self.run("PING", &redis::cmd("PING")).await.map(drop)
    }

    pub(crate) async fn subscribe(self: &Arc<Self>, group: &str) -> RedisSubscription {
        let n = self.consumers.fetch_add(1, Ordering::Relaxed);
        let mut subscription = RedisSubscription {
            bus: Arc::clone(self),
            group: group.to_owned(),
            consumer: format!("{}-{n}", self.consumer_prefix),
            connection: None,
            group_ready: false,
            shared: Arc::default(),
            last_claim: None,
            claim_cursor: "0-0".to_owned(),
            failures: 0,
        };
        // Create the group now when Redis is up, so that it exists as soon as `subscribe`
        // returns (as with the in-process bus); otherwise `next` creates it.
        if !self.is_closed() {
            let _ = tokio::time::timeout(self.options.command_timeout, subscription.ensure_group())
                .await;
        }
        subscription
    }

    pub(crate) async fn listen(self: &Arc<Self>, channel: &str) -> RedisListener {
        if self.is_closed() {
            // A sender dropped at once: the listener ends immediately.
            let (_, receiver) = broadcast::channel(1);
            return RedisListener {
                receiver: Some(receiver),
                channel: channel.to_owned(),
                hub: None,
            };
        }
        let hub = self.hub();
        let receiver = {
            let mut channels = lock(&self.channels);
            match channels.get(channel) {
                Some(sender) => sender.subscribe(),
                None => {
                    let (sender, receiver) = broadcast::channel(CHANNEL_CAPACITY);
                    channels.insert(channel.to_owned(), sender);
                    receiver
                }
            }
        };
        // "From now on": wait until Redis confirmed the subscription, so that a message
        // published after `listen` returns is received. While Redis is down the hub answers
        // at once and subscribes when it is back.
        let (confirmed, confirmation) = oneshot::channel();
        if hub
            .send(HubCommand::Subscribe(channel.to_owned(), confirmed))
            .is_ok()
        {
            let _ = tokio::time::timeout(self.options.command_timeout, confirmation).await;
        }
        RedisListener {
            receiver: Some(receiver),
            channel: channel.to_owned(),
            hub: Some(hub),
        }
    }

    /// The pub/sub hub's command queue, starting the hub on first use.
    fn hub(&self) -> mpsc::UnboundedSender<HubCommand> {
        let mut hub = lock(&self.hub);
        if let Some(sender) = hub.as_ref()
            && !sender.is_closed()
        {
            return sender.clone();
        }
        let (sender, receiver) = mpsc::unbounded_channel();
        let task = Hub {
            client: self.client.clone(),
            options: self.options.clone(),
            channels: Arc::clone(&self.channels),
            commands: receiver,
            closed: self.closed.subscribe(),
        };
        tokio::spawn(task.run());
        *hub = Some(sender.clone());
        sender
    }

    pub(crate) fn close(&self) {
        self.closed.send_replace(true);
    }

    /// Sends the given acks on the shared connection (`XACK` takes many ids at once).
    async fn xack(&self, group: &str, ids: &[String]) -> Result<(), BusError> {
        let mut command = redis::cmd("XACK");
        command.arg(&self.options.stream).arg(group).arg(ids);
        self.run("XACK", &command).await.map(drop)
    }
}

/// Acks and nacks of one subscription's deliveries, which may be handled on other tasks.
#[derive(Default)]
struct Shared {
    /// Entries dropped without ack (their handler failed): redelivered before anything new.
    nacked: Mutex<Vec<String>>,
    /// Acks not yet known to be in Redis.
    unsent: Mutex<Vec<String>>,
    /// Acks being sent; `next` waits for them so that nothing it reads was already acked.
    inflight: Mutex<Vec<JoinHandle<()>>>,
}

/// One stream entry as Redis returned it; `fields` is `None` for an entry that was trimmed
/// or deleted while pending.
struct Entry {
    id: String,
    fields: Option<Vec<(Vec<u8>, Vec<u8>)>>,
}

pub struct RedisSubscription {
    bus: Arc<RedisBus>,
    group: String,
    consumer: String,
    /// Dedicated to this subscription: a blocking `XREADGROUP` holds its connection.
    connection: Option<MultiplexedConnection>,
    group_ready: bool,
    shared: Arc<Shared>,
    last_claim: Option<Instant>,
    claim_cursor: String,
    failures: u32,
}

impl RedisSubscription {
    pub(crate) async fn next(&mut self) -> Option<RedisDelivery> {
        let mut closed = self.bus.closed.subscribe();
        loop {
            if *closed.borrow() {
                return None;
            }
            let step = tokio::select! {
                biased;
                () = until_closed(&mut closed) => return None,
                step = self.step() => step,
            };
            match step {
                Ok(Some(delivery)) => {
                    self.failures = 0;
                    return Some(delivery);
                }
                Ok(None) => self.failures = 0,
                Err(error) => {
                    self.failures = self.failures.saturating_add(1);
                    if self.failures == 1 {
                        tracing::warn!(group = %self.group, %error, "redis subscription interrupted; retrying with backoff");
                    }
                    let wait = backoff(&self.bus.options, self.failures);
                    tokio::select! {
                        () = until_closed(&mut closed) => return None,
                        () = tokio::time::sleep(wait) => {}
                    }
                }
            }
        }
    }

    /// One round: flush acks, then a redelivery, a claim or a blocking read. `Ok(None)` when
    /// the round produced nothing to hand out (timeout, dead-lettered entry, recreated
    /// group).
    async fn step(&mut self) -> Result<Option<RedisDelivery>, BusError> {
        self.flush_acks().await?;
        if !self.group_ready {
            self.ensure_group().await?;
        }
        let result = self.fetch().await;
        match result {
            Err(BusError::Redis { source, .. }) if is_no_group(&source) => {
                tracing::warn!(group = %self.group, "consumer group missing (redis lost its data?); recreating it");
                self.group_ready = false;
                Ok(None)
            }
            other => other,
        }
    }

    async fn fetch(&mut self) -> Result<Option<RedisDelivery>, BusError> {
        let nacked = lock(&self.shared.nacked).last().cloned();
        if let Some(id) = nacked {
            let result = self.redeliver(&id).await;
            // Forget it only once Redis answered: during an outage it stays first in line.
            if result.is_ok() {
                lock(&self.shared.nacked).retain(|nacked| *nacked != id);
            }
            return result;
        }
        let claim_due = self
            .last_claim
            .is_none_or(|last| last.elapsed() >= self.bus.options.claim_interval);
        if claim_due && let Some(delivery) = self.claim().await? {
            return Ok(Some(delivery));
        }
        self.read_new().await
    }

    /// The dedicated connection, with a reply timeout longer than the blocking read.
    async fn connection(&mut self) -> Result<MultiplexedConnection, BusError> {
        if let Some(connection) = &self.connection {
            return Ok(connection.clone());
        }
        let timeout = self.bus.options.block + self.bus.options.command_timeout;
        let connection = self.bus.connect(timeout).await?;
        self.connection = Some(connection.clone());
        Ok(connection)
    }

    async fn query(&mut self, name: &'static str, command: &redis::Cmd) -> Result<Value, BusError> {
        let mut connection = self.connection().await?;
        command
            .query_async::<Value>(&mut connection)
            .await
            .map_err(|error| {
                if is_connection_error(&error) {
                    self.connection = None;
                    BusError::Unavailable(error.to_string())
                } else {
                    redis_error(name)(error)
                }
            })
    }

    async fn ensure_group(&mut self) -> Result<(), BusError> {
        let mut command = redis::cmd("XGROUP");
        command
            .arg("CREATE")
            .arg(&self.bus.options.stream)
            .arg(&self.group)
            .arg("0")
            .arg("MKSTREAM");
        match self.query("XGROUP CREATE", &command).await {
            Ok(_) => {}
            Err(BusError::Redis { source, .. }) if source.code() == Some("BUSYGROUP") => {}
            Err(error) => return Err(error),
        }
        self.group_ready = true;
        Ok(())
    }

    /// Waits for the acks handed out so far and sends those that failed earlier: an entry
    /// acked before this `next` must not come back from it.
    async fn flush_acks(&mut self) -> Result<(), BusError> {
        let inflight = std::mem::take(&mut *lock(&self.shared.inflight));
        for task in inflight {
            let _ = task.await;
        }
        let unsent = std::mem::take(&mut *lock(&self.shared.unsent));
        if unsent.is_empty() {
            return Ok(());
        }
        if let Err(error) = self.bus.xack(&self.group, &unsent).await {
            lock(&self.shared.unsent).extend(unsent);
            return Err(error);
        }
        Ok(())
    }

    /// The delivery count of a pending entry and its owner, `None` if not pending.
    async fn pending(&mut self, id: &str) -> Result<Option<(String, u32)>, BusError> {
        let mut command = redis::cmd("XPENDING");
        command
            .arg(&self.bus.options.stream)
            .arg(&self.group)
            .arg(id)
            .arg(id)
            .arg(1);
        let reply = self.query("XPENDING", &command).await?;
        Ok(items(&reply).first().and_then(|row| {
            let row = items(row);
            let owner = text(row.get(1)?)?;
            let count = integer(row.get(3)?)?;
            Some((owner, u32::try_from(count).unwrap_or(u32::MAX)))
        }))
    }

    /// Hands a dropped delivery out again, if it is still ours (a slow handler's entry may
    /// have been claimed by another consumer meanwhile: then it is theirs).
    async fn redeliver(&mut self, id: &str) -> Result<Option<RedisDelivery>, BusError> {
        match self.pending(id).await? {
            Some((owner, _)) if owner == self.consumer => {}
            _ => return Ok(None),
        }
        // XCLAIM to ourselves fetches the entry again and counts one more delivery, as
        // another consumer's claim would: attempts mean the same whoever retries.
        let mut command = redis::cmd("XCLAIM");
        command
            .arg(&self.bus.options.stream)
            .arg(&self.group)
            .arg(&self.consumer)
            .arg(0)
            .arg(id);
        let reply = self.query("XCLAIM", &command).await?;
        let Some(entry) = items(&reply).iter().find_map(parse_entry) else {
            return Ok(None);
        };
        let attempt = self.pending(&entry.id).await?.map_or(1, |(_, count)| count);
        self.prepare(entry, attempt).await
    }

    /// One `XAUTOCLAIM` step over the group's pending list: an entry idle for `claim_idle`
    /// (its consumer died, or never acked) becomes ours.
    async fn claim(&mut self) -> Result<Option<RedisDelivery>, BusError> {
        let options = &self.bus.options;
        let min_idle = u64::try_from(options.claim_idle.as_millis()).unwrap_or(u64::MAX);
        let mut command = redis::cmd("XAUTOCLAIM");
        command
            .arg(&options.stream)
            .arg(&self.group)
            .arg(&self.consumer)
            .arg(min_idle)
            .arg(&self.claim_cursor)
            .arg("COUNT")
            .arg(1);
        let reply = self.query("XAUTOCLAIM", &command).await?;
        let parts = items(&reply);
        let cursor = parts
            .first()
            .and_then(text)
            .unwrap_or_else(|| "0-0".to_owned());
        for deleted in parts.get(2).map(items).unwrap_or_default() {
            if let Some(id) = text(deleted) {
                tracing::warn!(group = %self.group, entry = %id, "pending entry was trimmed from the stream before it was handled");
            }
        }
        let entry = parts
            .get(1)
            .map(items)
            .unwrap_or_default()
            .iter()
            .find_map(parse_entry);
        // Keep sweeping without waiting while the scan is not over; wait a full interval
        // once it has wrapped around with nothing left to claim.
        let wrapped = cursor == "0-0";
        self.claim_cursor = cursor;
        if wrapped && entry.is_none() {
            self.last_claim = Some(Instant::now());
            self.expire_consumers().await?;
        }
        let Some(entry) = entry else {
            return Ok(None);
        };
        let attempt = self.pending(&entry.id).await?.map_or(1, |(_, count)| count);
        tracing::info!(group = %self.group, entry = %entry.id, attempt, "claimed an entry left pending by another consumer");
        self.prepare(entry, attempt).await
    }

    /// Deletes consumers of the group that hold nothing and have not read for
    /// `consumer_expiry` (subscriptions of processes long gone).
    async fn expire_consumers(&mut self) -> Result<(), BusError> {
        let mut command = redis::cmd("XINFO");
        command
            .arg("CONSUMERS")
            .arg(&self.bus.options.stream)
            .arg(&self.group);
        let reply = self.query("XINFO CONSUMERS", &command).await?;
        let expiry =
            u64::try_from(self.bus.options.consumer_expiry.as_millis()).unwrap_or(u64::MAX);
        for consumer in items(&reply) {
            let fields = pairs(consumer);
            let field = |name: &str| {
                fields
                    .iter()
                    .find(|(key, _)| key.as_deref() == Some(name))
                    .map(|(_, value)| *value)
            };
            let (Some(name), Some(pending), Some(idle)) = (
                field("name").and_then(text),
                field("pending").and_then(integer),
                field("idle").and_then(integer),
            ) else {
                continue;
            };
            if name != self.consumer && pending == 0 && u64::try_from(idle).unwrap_or(0) > expiry {
                let mut delete = redis::cmd("XGROUP");
                delete
                    .arg("DELCONSUMER")
                    .arg(&self.bus.options.stream)
                    .arg(&self.group)
                    .arg(&name);
                self.query("XGROUP DELCONSUMER", &delete).await?;
                tracing::debug!(group = %self.group, consumer = %name, "deleted an expired consumer");
            }
        }
        Ok(())
    }

    /// Blocks up to `block` for an entry never delivered to the group.
    async fn read_new(&mut self) -> Result<Option<RedisDelivery>, BusError> {
        let block = u64::try_from(self.bus.options.block.as_millis()).unwrap_or(1000);
        let mut command = redis::cmd("XREADGROUP");
        command
            .arg("GROUP")
            .arg(&self.group)
            .arg(&self.consumer)
            .arg("COUNT")
            .arg(1)
            .arg("BLOCK")
            .arg(block)
            .arg("STREAMS")
            .arg(&self.bus.options.stream)
            .arg(">");
        let reply = self.query("XREADGROUP", &command).await?;
        match read_reply_entries(&reply).into_iter().next() {
            Some(entry) => self.prepare(entry, 1).await,
            None => Ok(None),
        }
    }

    /// Turns an entry into a delivery, or settles it: trimmed entries are acked away,
    /// undecodable ones and those past `max_attempts` go to the dead-letter stream.
    async fn prepare(
        &mut self,
        entry: Entry,
        attempt: u32,
    ) -> Result<Option<RedisDelivery>, BusError> {
        let Some(fields) = &entry.fields else {
            self.bus
                .xack(&self.group, std::slice::from_ref(&entry.id))
                .await?;
            return Ok(None);
        };
        let payload = fields
            .iter()
            .find(|(name, _)| name.as_slice() == b"event")
            .map(|(_, value)| value.as_slice());
        let event = match payload.map(Event::decode) {
            Some(Ok(event)) => event,
            Some(Err(error)) => {
                let reason = format!("undecodable event: {error}");
                self.dead_letter(&entry, 0, &reason).await?;
                return Ok(None);
            }
            None => {
                self.dead_letter(&entry, 0, "no `event` field").await?;
                return Ok(None);
            }
        };
        if attempt > self.bus.options.max_attempts {
            let attempts = attempt - 1;
            self.dead_letter(&entry, attempts, "too many attempts")
                .await?;
            return Ok(None);
        }
        Ok(Some(RedisDelivery {
            bus: Arc::clone(&self.bus),
            group: self.group.clone(),
            entry_id: entry.id,
            event,
            attempt,
            shared: Arc::clone(&self.shared),
            acked: false,
        }))
    }

    /// Copies a poison entry to the dead-letter stream and acks it, atomically.
    async fn dead_letter(
        &mut self,
        entry: &Entry,
        attempts: u32,
        reason: &str,
    ) -> Result<(), BusError> {
        let options = &self.bus.options;
        let payload = entry
            .fields
            .iter()
            .flatten()
            .find(|(name, _)| name.as_slice() == b"event")
            .map(|(_, value)| value.clone())
            .unwrap_or_default();
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("XADD")
            .arg(&self.bus.dead_stream)
            .arg("MAXLEN")
            .arg("~")
            .arg(options.dead_letter_max_len)
            .arg("*")
            .arg("event")
            .arg(payload)
            .arg("source_id")
            .arg(&entry.id)
            .arg("group")
            .arg(&self.group)
            .arg("consumer")
            .arg(&self.consumer)
            .arg("attempts")
            .arg(attempts)
            .arg("reason")
            .arg(reason)
            .arg("dead_at_ms")
            .arg(crate::now_ms())
            .ignore()
            .cmd("XACK")
            .arg(&options.stream)
            .arg(&self.group)
            .arg(&entry.id)
            .ignore();
        let mut connection = self.connection().await?;
        if let Err(error) = pipe.query_async::<Value>(&mut connection).await {
            if is_connection_error(&error) {
                self.connection = None;
                return Err(BusError::Unavailable(error.to_string()));
            }
            return Err(redis_error("MULTI XADD XACK")(error));
        }
        tracing::error!(group = %self.group, entry = %entry.id, attempts, reason, stream = %self.bus.dead_stream, "event dead-lettered");
        Ok(())
    }
}

impl Drop for RedisSubscription {
    fn drop(&mut self) {
        // Acks handed to us but not sent yet: send them rather than have them redelivered.
        let unsent = std::mem::take(&mut *lock(&self.shared.unsent));
        if !unsent.is_empty()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            let bus = Arc::clone(&self.bus);
            let group = self.group.clone();
            runtime.spawn(async move {
                let _ = bus.xack(&group, &unsent).await;
            });
        }
    }
}

pub struct RedisDelivery {
    bus: Arc<RedisBus>,
    group: String,
    entry_id: String,
    event: Event,
    attempt: u32,
    shared: Arc<Shared>,
    acked: bool,
}

impl RedisDelivery {
    pub(crate) fn event(&self) -> &Event {
        &self.event
    }

    pub(crate) fn attempt(&self) -> u32 {
        self.attempt
    }

    /// Sends `XACK` in the background (ack is synchronous in the bus API); the subscription
    /// waits for it before its next read, and retries it if Redis was unreachable.
    pub(crate) fn ack(mut self) {
        self.acked = true;
        let id = std::mem::take(&mut self.entry_id);
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            lock(&self.shared.unsent).push(id);
            return;
        };
        let bus = Arc::clone(&self.bus);
        let group = self.group.clone();
        let shared = Arc::clone(&self.shared);
        let task = runtime.spawn(async move {
            if bus.xack(&group, std::slice::from_ref(&id)).await.is_err() {
                lock(&shared.unsent).push(id);
            }
        });
        let mut inflight = lock(&self.shared.inflight);
        inflight.retain(|task| !task.is_finished());
        inflight.push(task);
    }
}

impl Drop for RedisDelivery {
    fn drop(&mut self) {
        if self.acked {
            return;
        }
        tracing::debug!(event_id = %self.event.id, attempt = self.attempt, "event not acknowledged, redelivering");
        lock(&self.shared.nacked).push(std::mem::take(&mut self.entry_id));
    }
}

enum HubCommand {
    /// Subscribe to a channel, confirming once Redis did (or at once while disconnected).
    Subscribe(String, oneshot::Sender<()>),
    /// A listener went away: unsubscribe if it was the channel's last.
    Release(String),
}

/// The task that owns the bus' pub/sub connection: (re)subscribes the channels local
/// listeners want and fans incoming messages out to them.
struct Hub {
    client: redis::Client,
    options: RedisOptions,
    channels: Channels,
    commands: mpsc::UnboundedReceiver<HubCommand>,
    closed: watch::Receiver<bool>,
}

#[derive(Clone, Copy)]
enum HubExit {
    Closed,
    Disconnected { was_connected: bool },
}

impl Hub {
    async fn run(mut self) {
        let mut failures = 0u32;
        loop {
            match self.session().await {
                HubExit::Closed => break,
                // The connection worked for a while: retry soon, as after a first failure.
                HubExit::Disconnected {
                    was_connected: true,
                } => failures = 1,
                HubExit::Disconnected {
                    was_connected: false,
                } => {
                    failures = failures.saturating_add(1);
                }
            }
            if failures == 1 {
                tracing::warn!("redis pub/sub connection lost; reconnecting with backoff");
            }
            let wait = tokio::time::sleep(backoff(&self.options, failures));
            tokio::pin!(wait);
            // Keep serving commands while waiting, so listeners never hang on a dead Redis;
            // the channels they registered are subscribed on reconnection.
            loop {
                tokio::select! {
                    () = &mut wait => break,
                    () = until_closed(&mut self.closed) => {
                        lock(&self.channels).clear();
                        return;
                    }
                    command = self.commands.recv() => match command {
                        Some(HubCommand::Release(channel)) => {
                            Hub::release(&self.channels, &channel);
                        }
                        Some(HubCommand::Subscribe(..)) => {}
                        None => break,
                    },
                }
            }
        }
        // Dropping the senders ends every local listener.
        lock(&self.channels).clear();
    }

    /// Forgets `channel` if nobody listens any more; `true` if it did.
    fn release(channels: &Channels, channel: &str) -> bool {
        let mut channels = lock(channels);
        if channels
            .get(channel)
            .is_some_and(|sender| sender.receiver_count() == 0)
        {
            channels.remove(channel);
            return true;
        }
        false
    }

    /// One connection's life: subscribe everything wanted, then relay until it breaks.
    async fn session(&mut self) -> HubExit {
        if *self.closed.borrow() {
            return HubExit::Closed;
        }
        let connected =
            tokio::time::timeout(self.options.command_timeout, self.client.get_async_pubsub())
                .await;
        let Ok(Ok(pubsub)) = connected else {
            return HubExit::Disconnected {
                was_connected: false,
            };
        };
        let (mut sink, mut stream) = pubsub.split();
        let wanted: Vec<String> = lock(&self.channels).keys().cloned().collect();
        if !wanted.is_empty() && sink.subscribe(&wanted).await.is_err() {
            return HubExit::Disconnected {
                was_connected: false,
            };
        }
        let lost = HubExit::Disconnected {
            was_connected: true,
        };
        tracing::debug!(channels = wanted.len(), "redis pub/sub connected");
        loop {
            tokio::select! {
                () = until_closed(&mut self.closed) => return HubExit::Closed,
                message = stream.next() => {
                    let Some(message) = message else {
                        return lost;
                    };
                    let channel = message.get_channel_name().to_owned();
                    let payload: Arc<[u8]> = Arc::from(message.get_payload_bytes());
                    let gone = {
                        let mut channels = lock(&self.channels);
                        match channels.get(&channel) {
                            Some(sender) if sender.send(payload).is_err() => {
                                channels.remove(&channel);
                                true
                            }
                            Some(_) => false,
                            None => true,
                        }
                    };
                    if gone && !unsubscribe(&mut sink, &channel).await {
                        return lost;
                    }
                }
                command = self.commands.recv() => match command {
                    None => return HubExit::Closed,
                    Some(HubCommand::Subscribe(channel, confirmed)) => {
                        if sink.subscribe(&channel).await.is_err() {
                            return lost;
                        }
                        let _ = confirmed.send(());
                    }
                    Some(HubCommand::Release(channel)) => {
                        if Hub::release(&self.channels, &channel) && !unsubscribe(&mut sink, &channel).await {
                            return lost;
                        }
                    }
                },
            }
        }
    }
}

async fn unsubscribe(sink: &mut PubSubSink, channel: &str) -> bool {
    sink.unsubscribe(channel).await.is_ok()
}

pub struct RedisListener {
    receiver: Option<broadcast::Receiver<Arc<[u8]>>>,
    channel: String,
    hub: Option<mpsc::UnboundedSender<HubCommand>>,
}

impl RedisListener {
    pub(crate) async fn next(&mut self) -> Option<Vec<u8>> {
        let receiver = self.receiver.as_mut()?;
        loop {
            match receiver.recv().await {
                Ok(payload) => return Some(payload.to_vec()),
                Err(broadcast::error::RecvError::Lagged(skipped)) => {
                    tracing::debug!(skipped, "pub/sub listener lagged, skipping messages");
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }
}

impl Drop for RedisListener {
    fn drop(&mut self) {
        // Drop the receiver first so that the hub sees the channel's true listener count.
        self.receiver = None;
        if let Some(hub) = &self.hub {
            let _ = hub.send(HubCommand::Release(std::mem::take(&mut self.channel)));
        }
    }
}

// Reply parsing. Values are read by hand rather than through typed replies: pending
// entries can come back with nil fields (trimmed), and RESP2 and RESP3 shapes differ.

fn items(value: &Value) -> &[Value] {
    match value {
        Value::Array(items) | Value::Set(items) => items,
        _ => &[],
    }
}

fn bytes(value: &Value) -> Option<&[u8]> {
    match value {
        Value::BulkString(bytes) => Some(bytes),
        Value::SimpleString(text) => Some(text.as_bytes()),
        _ => None,
    }
}

fn text(value: &Value) -> Option<String> {
    bytes(value).and_then(|bytes| String::from_utf8(bytes.to_vec()).ok())
}

fn integer(value: &Value) -> Option<i64> {
    match value {
        Value::Int(number) => Some(*number),
        other => text(other)?.parse().ok(),
    }
}

/// Key-value pairs of a flat RESP2 array or a RESP3 map.
fn pairs(value: &Value) -> Vec<(Option<String>, &Value)> {
    match value {
        Value::Map(entries) => entries
            .iter()
            .map(|(key, value)| (text(key), value))
            .collect(),
        other => items(other)
            .chunks(2)
            .filter_map(|pair| Some((text(pair.first()?), pair.get(1)?)))
            .collect(),
    }
}

/// `[id, [field, value, ...]]`, or `[id, nil]` for a deleted entry.
fn parse_entry(value: &Value) -> Option<Entry> {
    let parts = items(value);
    let id = text(parts.first()?)?;
    let fields = match parts.get(1) {
        None | Some(Value::Nil) => None,
        Some(fields) => Some(
            pairs(fields)
                .into_iter()
                .filter_map(|(name, value)| Some((name?.into_bytes(), bytes(value)?.to_vec())))
                .collect(),
        ),
    };
    Some(Entry { id, fields })
}

/// The entries of an `XREADGROUP` reply: nil on timeout, `[[stream, entries]]` in RESP2, a
/// map of stream to entries in RESP3.
fn read_reply_entries(value: &Value) -> Vec<Entry> {
    match value {
        Value::Map(streams) => streams
            .iter()
            .flat_map(|(_, entries)| items(entries).iter().filter_map(parse_entry))
            .collect(),
        other => items(other)
            .iter()
            .flat_map(|stream| {
                items(stream)
                    .get(1)
                    .map(items)
                    .unwrap_or_default()
                    .iter()
                    .filter_map(parse_entry)
            })
            .collect(),
    }
}
