//! Login lockout: failed logins are counted per account and per client address in the
//! users database (so every replica of the gateway and of this service sees the same
//! counts). From the `max_failures`-th failure in a row, the subject is locked for
//! `base_lockout`, doubled at each further failure up to `max_lockout`; a locked subject's
//! logins are refused with RESOURCE_EXHAUSTED and a retry-after, without looking at the
//! password (a correct guess during the lock is not confirmed). A successful login clears
//! the account's count (not the address's: one valid account must not reset an address
//! that is guessing others' passwords). Counts older than `failure_window` start over.
//!
//! Accounts are keyed by the SHA-256 of the normalised email whether or not a user has it,
//! so a lockout says nothing about which emails exist.

use std::time::Duration;

use sqlx::Row;
use ultra_store::Db;

use crate::error::Result;

/// The lockout settings (`ULTRA_LOGIN_*`, see [`crate::Config`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LockoutPolicy {
    /// Failures in a row that lock an account (default 5).
    pub account_max_failures: u32,
    /// Failures in a row that lock a client address (default 20: addresses are shared by
    /// NAT and offices, so they get more room than one account).
    pub address_max_failures: u32,
    /// The first lock's length (default 30 s), doubled per further failure.
    pub base_lockout: Duration,
    /// The longest lock (default 15 min).
    pub max_lockout: Duration,
    /// Failures further apart than this start a new count (default 1 h).
    pub failure_window: Duration,
}

impl Default for LockoutPolicy {
    fn default() -> LockoutPolicy {
        LockoutPolicy {
            account_max_failures: 5,
            address_max_failures: 20,
            base_lockout: Duration::from_secs(30),
            max_lockout: Duration::from_secs(15 * 60),
            failure_window: Duration::from_secs(3600),
        }
    }
}

impl LockoutPolicy {
    /// How long a subject with `failures` in a row (at its threshold `max_failures` or
    /// more) stays locked: base × 2^(failures − max_failures), capped.
    pub fn lock_length(&self, failures: i64, max_failures: u32) -> Option<Duration> {
        let beyond = failures.checked_sub(i64::from(max_failures))?;
        if beyond < 0 {
            return None;
        }
        let doublings = u32::try_from(beyond.min(30)).unwrap_or(30);
        let length = self
            .base_lockout
            .checked_mul(1_u32 << doublings)
            .unwrap_or(self.max_lockout);
        Some(length.min(self.max_lockout))
    }
}

/// What a failed login is counted against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// The normalised email.
    Account(String),
    /// The client address as the gateway saw it.
    Address(String),
}

impl Subject {
    fn key(&self) -> String {
        match self {
            Subject::Account(email) => format!("account:{}", ultra_auth::sha256_hex(email)),
            Subject::Address(address) => format!("address:{address}"),
        }
    }
}

#[derive(Clone, Debug)]
pub struct LoginThrottle {
    db: Db,
    policy: LockoutPolicy,
}

impl LoginThrottle {
    pub fn new(db: Db, policy: LockoutPolicy) -> LoginThrottle {
        LoginThrottle { db, policy }
    }

    fn max_failures(&self, subject: &Subject) -> u32 {
        match subject {
            Subject::Account(_) => self.policy.account_max_failures,
            Subject::Address(_) => self.policy.address_max_failures,
        }
    }

    /// How long until the most locked of `subjects` may try again; `None` if none is
    /// locked.
    pub async fn locked_for(&self, subjects: &[Subject]) -> Result<Option<Duration>> {
        let now = ultra_bus::now_ms();
        let mut longest: Option<Duration> = None;
        for subject in subjects {
            let row = sqlx::query("SELECT locked_until_ms FROM login_throttle WHERE subject = $1")
                .bind(subject.key())
                .fetch_optional(self.db.pool())
                .await?;
            let Some(row) = row else { continue };
            let locked_until_ms: i64 = row.try_get("locked_until_ms")?;
            if locked_until_ms > now {
                let left = Duration::from_millis(u64::try_from(locked_until_ms - now).unwrap_or(0));
                longest = Some(longest.map_or(left, |longest| longest.max(left)));
            }
        }
        Ok(longest)
    }

    /// Counts one failure against `subject` (atomically: concurrent failures all count) and
    /// locks it once it reaches its threshold.
    pub async fn record_failure(&self, subject: &Subject) -> Result<()> {
        let now = ultra_bus::now_ms();
        let window_ms = i64::try_from(self.policy.failure_window.as_millis()).unwrap_or(i64::MAX);
        let key = subject.key();
        let row = sqlx::query(
            "INSERT INTO login_throttle (subject, failures, last_failure_at_ms, locked_until_ms) \
             VALUES ($1, 1, $2, 0) \
             ON CONFLICT (subject) DO UPDATE SET \
             failures = CASE WHEN login_throttle.last_failure_at_ms < $3 THEN 1 \
                        ELSE login_throttle.failures + 1 END, \
             last_failure_at_ms = $4 \
             RETURNING failures",
        )
        .bind(&key)
        .bind(now)
        .bind(now.saturating_sub(window_ms))
        .bind(now)
        .fetch_one(self.db.pool())
        .await?;
        let failures: i64 = row.try_get("failures")?;
        let max_failures = self.max_failures(subject);
        if let Some(length) = self.policy.lock_length(failures, max_failures) {
            let length_ms = i64::try_from(length.as_millis()).unwrap_or(i64::MAX);
            sqlx::query("UPDATE login_throttle SET locked_until_ms = $1 WHERE subject = $2")
                .bind(now.saturating_add(length_ms))
                .bind(&key)
                .execute(self.db.pool())
                .await?;
            tracing::warn!(
                subject = %key,
                failures,
                lock_seconds = length.as_secs(),
                "login locked after repeated failures"
            );
        }
        Ok(())
    }

    /// Forgets `subject`'s failures (after a successful login).
    pub async fn clear(&self, subject: &Subject) -> Result<()> {
        sqlx::query("DELETE FROM login_throttle WHERE subject = $1")
            .bind(subject.key())
            .execute(self.db.pool())
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_double_from_the_threshold_and_are_capped() {
        let policy = LockoutPolicy::default();
        assert_eq!(policy.lock_length(4, 5), None);
        assert_eq!(policy.lock_length(5, 5), Some(Duration::from_secs(30)));
        assert_eq!(policy.lock_length(6, 5), Some(Duration::from_secs(60)));
        assert_eq!(policy.lock_length(8, 5), Some(Duration::from_secs(240)));
        assert_eq!(policy.lock_length(10, 5), Some(Duration::from_secs(900)));
        assert_eq!(
            policy.lock_length(10_000, 5),
            Some(Duration::from_secs(900))
        );
    }

    #[test]
    fn accounts_are_keyed_by_a_digest_of_the_email() {
        let key = Subject::Account("ada@example.com".into()).key();
        assert!(key.starts_with("account:"));
        assert!(!key.contains("ada"));
        assert_eq!(
            Subject::Address("203.0.113.7".into()).key(),
            "address:203.0.113.7"
        );
    }
}
