//! Per-organisation request rate limits: a token bucket per organisation, sized by its plan
//! tier (`ultra_auth::PlanLimits`: `api_burst` tokens, refilled continuously at
//! `api_requests_per_minute`), taken from by every authenticated request.
//!
//! Why a token bucket: it allows an idle client a burst (a page that fires a dozen calls at
//! once) while holding the sustained rate to the plan, and when it refuses it knows exactly
//! when the next token arrives, which becomes the `Retry-After` of the 429.
//!
//! Buckets are keyed by the organisation id of the verified token, never by anything the
//! client sends, so one organisation's traffic can only drain its own bucket. Unauthenticated
//! routes (register, token, refresh, health) are not limited here: behind an ingress every
//! client shares the ingress's address, so a per-IP bucket would throttle everyone together,
//! and `X-Forwarded-For` is the client's to forge unless a trusted proxy is configured.
//!
//! [`RateLimiter`] is the seam for a limiter shared across gateway replicas (Redis); this
//! module has the in-memory one, [`MemoryRateLimiter`], which limits per replica.

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use std::sync::Arc;

use futures_util::future::BoxFuture;
use ultra_auth::{PlanLimits, PlanLimitsTable, PlanTier};

use crate::problem::ApiError;

/// The size and refill rate of a bucket: what a plan grants.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quota {
    /// Tokens a full bucket holds (at least 1).
    pub burst: u32,
    /// Tokens added per minute (at least 1), continuously.
    pub per_minute: u32,
}

impl Quota {
    pub fn of(limits: &PlanLimits) -> Quota {
        Quota {
            burst: limits.api_burst.max(1),
            per_minute: limits.api_requests_per_minute.max(1),
        }
    }

    fn per_second(self) -> f64 {
        f64::from(self.per_minute) / 60.0
    }

    fn capacity(self) -> f64 {
        f64::from(self.burst)
    }
}

/// The answer for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Served; this many whole tokens are left.
    Allowed { remaining: u32 },
    /// Refused; a token will be there after this long.
    Limited { retry_after: Duration },
}

impl Decision {
    /// `Retry-After` in whole seconds, rounded up and at least 1: a client that waits it
    /// out is served (RFC 9110 allows only whole seconds, and 0 would invite a hot loop).
    pub fn retry_after_seconds(retry_after: Duration) -> u64 {
        let whole = retry_after.as_secs();
        let rounded = if retry_after.subsec_nanos() > 0 {
            whole + 1
        } else {
            whole
        };
        rounded.max(1)
    }
}

/// Takes one token for `key` from a bucket of `quota`.
///
/// A trait (and a boxed future) so that a limiter shared across gateway replicas, which
/// must ask Redis, can replace the in-memory one without touching the request path. An
/// implementation that can fail decides its own failure policy; failing open is the
/// sensible one, since the limit protects the platform and bills nothing.
pub trait RateLimiter: Send + Sync + 'static {
    fn acquire<'a>(&'a self, key: &'a str, quota: Quota) -> BoxFuture<'a, Decision>;
}

/// The gateway's request limits: each organisation's bucket in `limiter`, sized by its
/// tier's row of `plans`.
pub struct OrgRateLimits {
    limiter: Arc<dyn RateLimiter>,
    plans: PlanLimitsTable,
}

impl OrgRateLimits {
    pub fn new(limiter: Arc<dyn RateLimiter>, plans: PlanLimitsTable) -> OrgRateLimits {
        OrgRateLimits { limiter, plans }
    }

    /// Takes one request from `org_id`'s bucket, or answers 429 `quota-exceeded` with the
    /// time to wait. `tier` comes from the same verified token as `org_id`; a token without
    /// one (UNSPECIFIED) is held to the lowest tier.
    pub async fn check(
        &self,
        org_id: &str,
        tier: ultra_proto::v1::PlanTier,
    ) -> Result<(), ApiError> {
        let tier = PlanTier::from_proto(tier).unwrap_or_default();
        let quota = Quota::of(self.plans.get(tier));
        match self.limiter.acquire(org_id, quota).await {
            Decision::Allowed { .. } => Ok(()),
            Decision::Limited { retry_after } => {
                let retry_after_seconds = Decision::retry_after_seconds(retry_after);
                tracing::debug!(org_id, %tier, retry_after_seconds, "rate limited");
                Err(ApiError::RateLimited {
                    tier,
                    per_minute: quota.per_minute,
                    burst: quota.burst,
                    retry_after_seconds,
                })
            }
        }
    }
}

/// One organisation's bucket. `tokens` is fractional: refill is continuous, so a client at
/// exactly its rate is never refused for rounding.
#[derive(Debug, Clone, Copy)]
pub struct TokenBucket {
    tokens: f64,
    updated: Instant,
}

impl TokenBucket {
    /// A full bucket: a client the gateway has not seen (or has forgotten) starts with its
    /// whole burst, which is also why forgetting an idle, refilled bucket changes nothing.
    pub fn full(quota: Quota, now: Instant) -> TokenBucket {
        TokenBucket {
            tokens: quota.capacity(),
            updated: now,
        }
    }

    /// Whole tokens in the bucket at `now`.
    pub fn available(&self, quota: Quota, now: Instant) -> u32 {
        let mut bucket = *self;
        bucket.refill(quota, now);
        // Truncation is the point: only whole tokens can be spent.
        bucket.tokens.floor() as u32
    }

    /// Adds what accrued since the last update, up to the capacity. A quota that shrank
    /// (a tier downgrade) clamps the bucket at once.
    fn refill(&mut self, quota: Quota, now: Instant) {
        // A clock that went backwards (an `now` older than the last update) adds nothing.
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        self.tokens = (self.tokens + elapsed * quota.per_second()).min(quota.capacity());
        self.updated = now.max(self.updated);
    }

    /// Takes one token at `now`, or says how long until one is there.
    pub fn try_take(&mut self, quota: Quota, now: Instant) -> Decision {
        self.refill(quota, now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Decision::Allowed {
                remaining: self.tokens.floor() as u32,
            }
        } else {
            let missing = 1.0 - self.tokens;
            Decision::Limited {
                retry_after: Duration::from_secs_f64(missing / quota.per_second()),
            }
        }
    }

    /// When this bucket will be full again if nothing more is taken: after that it is
    /// indistinguishable from a new one and can be forgotten.
    fn full_at(&self, quota: Quota) -> Instant {
        let missing = (quota.capacity() - self.tokens).max(0.0);
        self.updated + Duration::from_secs_f64(missing / quota.per_second())
    }
}

/// Shards of the map: requests of different organisations rarely contend for one lock,
/// and each lock is held for a hash lookup and a few float operations.
const SHARDS: usize = 64;

/// How often a shard looks for buckets to forget.
const SWEEP_INTERVAL: Duration = Duration::from_secs(60);

struct Entry {
    bucket: TokenBucket,
    /// When the bucket refills completely: it may be dropped from then on.
    idle_after: Instant,
}

struct Shard {
    buckets: HashMap<String, Entry>,
    next_sweep: Instant,
}

/// Token buckets in this process's memory, in [`SHARDS`] mutex-guarded maps chosen by the
/// hash of the key (no global lock on the hot path).
///
/// Memory stays bounded by the organisations active recently: every [`SWEEP_INTERVAL`] a
/// shard drops the buckets that have refilled completely, which is lossless (a dropped
/// bucket comes back full, as it would have been).
pub struct MemoryRateLimiter {
    shards: Box<[Mutex<Shard>]>,
    hasher: RandomState,
}

impl Default for MemoryRateLimiter {
    fn default() -> Self {
        MemoryRateLimiter::new()
    }
}

impl MemoryRateLimiter {
    pub fn new() -> MemoryRateLimiter {
        let now = Instant::now();
        MemoryRateLimiter {
            shards: (0..SHARDS)
                .map(|_| {
                    Mutex::new(Shard {
                        buckets: HashMap::new(),
                        next_sweep: now + SWEEP_INTERVAL,
                    })
                })
                .collect(),
            hasher: RandomState::new(),
        }
    }

    fn shard(&self, key: &str) -> &Mutex<Shard> {
        // The modulo keeps the index below SHARDS, so the cast cannot truncate meaningfully.
        let index = (self.hasher.hash_one(key) % SHARDS as u64) as usize;
        &self.shards[index]
    }

    /// [`RateLimiter::acquire`] at a given instant (the tests drive the clock).
    pub fn acquire_at(&self, key: &str, quota: Quota, now: Instant) -> Decision {
        // A poisoned lock only means another request panicked mid-update of plain numbers;
        // the map is still usable.
        let mut shard = self
            .shard(key)
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if now >= shard.next_sweep {
            shard.buckets.retain(|_, entry| entry.idle_after > now);
            shard.next_sweep = now + SWEEP_INTERVAL;
        }
        match shard.buckets.get_mut(key) {
            Some(entry) => {
                let decision = entry.bucket.try_take(quota, now);
                entry.idle_after = entry.bucket.full_at(quota);
                decision
            }
            None => {
                let mut bucket = TokenBucket::full(quota, now);
                let decision = bucket.try_take(quota, now);
                let idle_after = bucket.full_at(quota);
                shard
                    .buckets
                    .insert(key.to_owned(), Entry { bucket, idle_after });
                decision
            }
        }
    }

    /// Buckets held now (for tests and diagnostics).
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|shard| {
                shard
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .buckets
                    .len()
            })
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl RateLimiter for MemoryRateLimiter {
    fn acquire<'a>(&'a self, key: &'a str, quota: Quota) -> BoxFuture<'a, Decision> {
        let decision = self.acquire_at(key, quota, Instant::now());
        Box::pin(std::future::ready(decision))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIVE_PER_SECOND: Quota = Quota {
        burst: 5,
        per_minute: 300,
    };

    fn allowed(decision: Decision) -> bool {
        matches!(decision, Decision::Allowed { .. })
    }

    #[test]
    fn a_full_bucket_serves_its_burst_then_says_when_to_retry() {
        let start = Instant::now();
        let mut bucket = TokenBucket::full(FIVE_PER_SECOND, start);
        for left in (0..5).rev() {
            assert_eq!(
                bucket.try_take(FIVE_PER_SECOND, start),
                Decision::Allowed { remaining: left }
            );
        }
        // Empty: the next token is 1/5 s away.
        let Decision::Limited { retry_after } = bucket.try_take(FIVE_PER_SECOND, start) else {
            panic!("the sixth request must be refused");
        };
        assert!(
            (retry_after.as_secs_f64() - 0.2).abs() < 1e-9,
            "{retry_after:?}"
        );
        assert_eq!(Decision::retry_after_seconds(retry_after), 1);
        // Half-way there, the wait halves.
        let later = start + Duration::from_millis(100);
        let Decision::Limited { retry_after } = bucket.try_take(FIVE_PER_SECOND, later) else {
            panic!("still empty");
        };
        assert!(
            (retry_after.as_secs_f64() - 0.1).abs() < 1e-9,
            "{retry_after:?}"
        );
        // Once the wait is over, exactly one request is served.
        let refilled = later + retry_after;
        assert!(allowed(bucket.try_take(FIVE_PER_SECOND, refilled)));
        assert!(!allowed(bucket.try_take(FIVE_PER_SECOND, refilled)));
    }

    #[test]
    fn refill_is_continuous_and_capped_at_the_burst() {
        let start = Instant::now();
        let mut bucket = TokenBucket::full(FIVE_PER_SECOND, start);
        for _ in 0..5 {
            bucket.try_take(FIVE_PER_SECOND, start);
        }
        assert_eq!(bucket.available(FIVE_PER_SECOND, start), 0);
        assert_eq!(
            bucket.available(FIVE_PER_SECOND, start + Duration::from_millis(599)),
            2
        );
        assert_eq!(
            bucket.available(FIVE_PER_SECOND, start + Duration::from_secs(1)),
            5
        );
        assert_eq!(
            bucket.available(FIVE_PER_SECOND, start + Duration::from_secs(3600)),
            5
        );
        // A clock read out of order adds nothing and takes nothing.
        bucket.refill(FIVE_PER_SECOND, start + Duration::from_secs(1));
        assert_eq!(bucket.available(FIVE_PER_SECOND, start), 5);
    }

    #[test]
    fn retry_after_is_whole_seconds_rounded_up_and_at_least_one() {
        assert_eq!(Decision::retry_after_seconds(Duration::ZERO), 1);
        assert_eq!(Decision::retry_after_seconds(Duration::from_millis(1)), 1);
        assert_eq!(Decision::retry_after_seconds(Duration::from_secs(1)), 1);
        assert_eq!(
            Decision::retry_after_seconds(Duration::from_millis(1001)),
            2
        );
        // One request per minute, bucket empty: a whole minute.
        let slow = Quota {
            burst: 1,
            per_minute: 1,
        };
        let now = Instant::now();
        let mut bucket = TokenBucket::full(slow, now);
        assert!(allowed(bucket.try_take(slow, now)));
        let Decision::Limited { retry_after } = bucket.try_take(slow, now) else {
            panic!("empty");
        };
        assert_eq!(Decision::retry_after_seconds(retry_after), 60);
    }

    #[test]
    fn a_smaller_quota_clamps_the_bucket_at_once() {
        let now = Instant::now();
        let mut bucket = TokenBucket::full(
            Quota {
                burst: 100,
                per_minute: 6000,
            },
            now,
        );
        let small = Quota {
            burst: 2,
            per_minute: 60,
        };
        assert!(allowed(bucket.try_take(small, now)));
        assert!(allowed(bucket.try_take(small, now)));
        assert!(!allowed(bucket.try_take(small, now)));
    }

    #[test]
    fn keys_have_their_own_buckets() {
        let limiter = MemoryRateLimiter::new();
        let now = Instant::now();
        for _ in 0..5 {
            assert!(allowed(limiter.acquire_at("org-a", FIVE_PER_SECOND, now)));
        }
        assert!(!allowed(limiter.acquire_at("org-a", FIVE_PER_SECOND, now)));
        for _ in 0..5 {
            assert!(allowed(limiter.acquire_at("org-b", FIVE_PER_SECOND, now)));
        }
        assert_eq!(limiter.len(), 2);
    }

    #[test]
    fn refilled_buckets_are_forgotten_and_busy_ones_kept() {
        let limiter = MemoryRateLimiter::new();
        let start = Instant::now();
        let slow = Quota {
            burst: 10,
            per_minute: 1,
        };
        for key in 0..1000 {
            limiter.acquire_at(&format!("idle-{key}"), FIVE_PER_SECOND, start);
        }
        // Three tokens short of full at one per minute: three minutes to refill.
        for _ in 0..3 {
            limiter.acquire_at("busy", slow, start);
        }
        assert_eq!(limiter.len(), 1001);
        // Past the sweep interval every shard sweeps on its next use; touch them all.
        let later = start + SWEEP_INTERVAL + Duration::from_secs(1);
        for key in 0..1000 {
            limiter.acquire_at(&format!("fresh-{key}"), FIVE_PER_SECOND, later);
        }
        let remaining = limiter.len();
        assert!(
            (1001..=1001 + SHARDS).contains(&remaining),
            "the idle buckets went, the fresh ones came: {remaining}"
        );
        // The busy bucket kept its state: 7 tokens plus a minute's one (a forgotten bucket
        // would have come back with all 10), then refused.
        for _ in 0..8 {
            assert!(allowed(limiter.acquire_at("busy", slow, later)));
        }
        assert!(!allowed(limiter.acquire_at("busy", slow, later)));
    }
}
