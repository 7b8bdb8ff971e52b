//! Token buckets shared by every gateway replica, in Redis: with several replicas behind a
//! load balancer, per-replica buckets would grant an organisation its plan's rate once per
//! replica.
//!
//! One Lua script takes a token atomically on the Redis server, with the server's clock
//! (`TIME`), so replicas with skewed clocks agree and two replicas can never both spend the
//! last token. A bucket key expires once the bucket would be full again, which keeps Redis's
//! memory bounded by the organisations active recently, losslessly (a missing key is a full
//! bucket).
//!
//! When Redis does not answer, requests are limited by this replica's in-memory buckets
//! instead ([`MemoryRateLimiter`]): the limit protects the platform and bills nothing, so
//! it degrades to per-replica limits rather than refusing traffic or dropping all limits.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use redis::aio::MultiplexedConnection;
use tokio::sync::Mutex;

use crate::rate_limit::{Decision, MemoryRateLimiter, Quota, RateLimiter};

/// How long one Redis round trip may take before the request falls back to local buckets.
const REDIS_TIMEOUT: Duration = Duration::from_millis(250);
/// After a failure, how long requests use the local buckets before Redis is tried again
/// (so an outage costs one timeout per interval, not one per request).
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(2);
/// Key prefix of the buckets.
const KEY_PREFIX: &str = "ultra:ratelimit:";

/// KEYS[1]: the bucket. ARGV[1]: capacity (tokens), ARGV[2]: refill in tokens per second.
/// Returns {allowed (0/1), whole tokens left, microseconds until a token is there}.
const TAKE_TOKEN: &str = r#"
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'updated')
local tokens = tonumber(state[1]) or capacity
local updated = tonumber(state[2]) or now
if now > updated then
  tokens = math.min(capacity, tokens + (now - updated) * rate)
  updated = now
end
tokens = math.min(tokens, capacity)
local allowed = 0
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
else
  wait = math.ceil((1 - tokens) / rate)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'updated', tostring(updated))
redis.call('PEXPIRE', KEYS[1], math.ceil((capacity - tokens) / rate / 1000) + 1000)
return {allowed, math.floor(tokens), wait}
"#;

/// Why the shared limiter could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("invalid Redis URL for the rate limiter: {0}")]
pub struct RedisLimiterError(#[from] redis::RedisError);

struct Connection {
    connection: Option<MultiplexedConnection>,
    /// Until when Redis is not asked again after a failure.
    down_until: Option<Instant>,
}

/// Buckets in Redis, shared by every replica that points at the same server.
pub struct RedisRateLimiter {
    client: redis::Client,
    connection: Mutex<Connection>,
    fallback: Arc<MemoryRateLimiter>,
}

impl RedisRateLimiter {
    /// A limiter on the Redis server at `url` (`redis://host:port`). Connects lazily: the
    /// gateway starts, and limits locally, while Redis is still coming up.
    pub fn new(url: &str) -> Result<RedisRateLimiter, RedisLimiterError> {
        Ok(RedisRateLimiter {
            client: redis::Client::open(url)?,
            connection: Mutex::new(Connection {
                connection: None,
                down_until: None,
            }),
            fallback: Arc::new(MemoryRateLimiter::new()),
        })
    }

    /// The connection to use now, or `None` while Redis is considered down.
    async fn connection(&self) -> Option<MultiplexedConnection> {
        let mut state = self.connection.lock().await;
        if let Some(connection) = &state.connection {
            return Some(connection.clone());
        }
        if state.down_until.is_some_and(|until| Instant::now() < until) {
            return None;
        }
        let connect = self.client.get_multiplexed_async_connection();
        match tokio::time::timeout(REDIS_TIMEOUT, connect).await {
            Ok(Ok(connection)) => {
                state.connection = Some(connection.clone());
                state.down_until = None;
                Some(connection)
            }
            Ok(Err(error)) => {
                tracing::warn!(%error, "rate limiter: Redis unreachable, limiting per replica");
                state.down_until = Some(Instant::now() + RETRY_AFTER_FAILURE);
                None
            }
            Err(_) => {
                tracing::warn!("rate limiter: Redis connect timed out, limiting per replica");
                state.down_until = Some(Instant::now() + RETRY_AFTER_FAILURE);
                None
            }
        }
    }

    /// Forgets the connection after a failed call; the next request reconnects after
    /// [`RETRY_AFTER_FAILURE`].
    async fn connection_failed(&self) {
        let mut state = self.connection.lock().await;
        state.connection = None;
        state.down_until = Some(Instant::now() + RETRY_AFTER_FAILURE);
    }

    async fn take(&self, key: &str, quota: Quota) -> Option<Decision> {
        let mut connection = self.connection().await?;
        // EVAL with the script's text: Redis caches the compiled script by its hash, and the
        // few hundred bytes per call cost less than a second round trip would.
        let mut command = redis::cmd("EVAL");
        command
            .arg(TAKE_TOKEN)
            .arg(1)
            .arg(format!("{KEY_PREFIX}{key}"))
            .arg(quota.burst)
            .arg(f64::from(quota.per_minute) / 60.0);
        let call = command.query_async::<(i64, i64, i64)>(&mut connection);
        match tokio::time::timeout(REDIS_TIMEOUT, call).await {
            Ok(Ok((1, remaining, _))) => Some(Decision::Allowed {
                remaining: u32::try_from(remaining.max(0)).unwrap_or(u32::MAX),
            }),
            Ok(Ok((_, _, wait_micros))) => Some(Decision::Limited {
                retry_after: Duration::from_micros(u64::try_from(wait_micros).unwrap_or(0)),
            }),
            Ok(Err(error)) => {
                tracing::warn!(%error, "rate limiter: Redis call failed, limiting per replica");
                self.connection_failed().await;
                None
            }
            Err(_) => {
                tracing::warn!("rate limiter: Redis call timed out, limiting per replica");
                self.connection_failed().await;
                None
            }
        }
    }
}

impl RateLimiter for RedisRateLimiter {
    fn acquire<'a>(&'a self, key: &'a str, quota: Quota) -> BoxFuture<'a, Decision> {
        Box::pin(async move {
            match self.take(key, quota).await {
                Some(decision) => decision,
                None => self.fallback.acquire_at(key, quota, Instant::now()),
            }
        })
    }
}
