//! The rate limiter shared by gateway replicas, against a real `redis-server` (started by
//! ultra-testkit on a free port): two limiters standing for two replicas spend one bucket
//! between them, and when Redis goes away each falls back to its own buckets instead of
//! refusing or waving everything through.

use std::time::Duration;

use ultra_gateway::rate_limit::{Decision, Quota, RateLimiter};
use ultra_gateway::rate_limit_redis::RedisRateLimiter;
use ultra_testkit::RedisServer;

/// 5 at once, then one every 12 s: nothing refills within a test.
const QUOTA: Quota = Quota {
    burst: 5,
    per_minute: 5,
};

async fn allowed(limiter: &RedisRateLimiter, key: &str) -> bool {
    matches!(limiter.acquire(key, QUOTA).await, Decision::Allowed { .. })
}

#[tokio::test]
async fn replicas_share_one_bucket_per_organisation() -> anyhow::Result<()> {
    let redis = RedisServer::start()?;
    let first = RedisRateLimiter::new(&redis.url())?;
    let second = RedisRateLimiter::new(&redis.url())?;

    // Alternating replicas: the burst of 5 is spent once between them, not once each.
    let mut granted = 0;
    for request in 0..10 {
        let replica = if request % 2 == 0 { &first } else { &second };
        if allowed(replica, "org-a").await {
            granted += 1;
        }
    }
    assert_eq!(
        granted, 5,
        "two replicas granted {granted} of one burst of 5"
    );

    // The refusal says when the next token is there: 12 s at 5 a minute, at most.
    match second.acquire("org-a", QUOTA).await {
        Decision::Limited { retry_after } => {
            assert!(retry_after > Duration::ZERO && retry_after <= Duration::from_secs(12));
            assert!(Decision::retry_after_seconds(retry_after) <= 12);
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    // Another organisation's bucket is untouched.
    assert!(allowed(&first, "org-b").await);
    Ok(())
}

#[tokio::test]
async fn without_redis_each_replica_limits_on_its_own() -> anyhow::Result<()> {
    let mut redis = RedisServer::start()?;
    let limiter = RedisRateLimiter::new(&redis.url())?;
    assert!(allowed(&limiter, "org-a").await);
    redis.kill();

    // Redis is gone: the local bucket of this replica (full, burst 5) takes over, and it
    // still refuses beyond the burst.
    let mut granted = 0;
    for _ in 0..8 {
        if allowed(&limiter, "org-a").await {
            granted += 1;
        }
    }
    assert_eq!(
        granted, 5,
        "the fallback bucket granted {granted} of a burst of 5"
    );
    Ok(())
}
