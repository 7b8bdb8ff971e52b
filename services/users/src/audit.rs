//! The audit log: one append-only, hash-chained sequence of entries per organisation.
//!
//! Entry `n` of an organisation stores `prev_hash` (entry `n - 1`'s hash, or
//! [`GENESIS_HASH`] for the first) and `hash` = SHA-256 of [`canonical_encoding`], which
//! covers every field and `prev_hash`. Editing any stored field, deleting or reordering
//! entries therefore breaks verification at that `seq`. (Deleting the newest entries leaves
//! a valid shorter chain: only a copy of the head hash kept elsewhere shows that, which is
//! why verification reports it.)
//!
//! Appends to one chain are serialised: within this process by a lock per organisation (so
//! one busy organisation does not hold up the others' appends), across replicas by
//! the primary key `(org_id, seq)` (two appenders that read the same head collide on it,
//! and the loser retries on the new head). Both work the same on SQLite and PostgreSQL.
//!
//! Failed logins whose email matches no user belong to no organisation: they are chained
//! under `org_id = ''` ([`UNATTRIBUTED_ORG`]), which no organisation's admin can read
//! (operators can, in the database). Failed logins of a known email go to the chain of the
//! user's organisation, so its admins see attacks on their accounts.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sqlx::Row;
use sqlx::any::AnyRow;
use ultra_store::Db;

use crate::error::{Error, Result};

/// `prev_hash` of an organisation's first entry.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The chain of failed logins for emails that match no user.
pub const UNATTRIBUTED_ORG: &str = "";

/// Tags the encoding, so a future change of fields cannot be confused with this one.
const ENCODING_VERSION: &str = "ultra-audit-v1";

/// Appends that lose a race for the chain head retry this many times.
const MAX_APPEND_ATTEMPTS: u32 = 20;

/// Rows read per query while verifying a chain.
const VERIFY_BATCH: i64 = 500;

/// Longest stored text per field (characters); longer values are cut before hashing.
const MAX_FIELD_CHARS: usize = 512;

const COLUMNS: &str = "org_id, seq, id, occurred_at_ms, actor_type, actor_id, action, \
     target_id, outcome, ip, user_agent, request_id, detail, prev_hash, hash";

pub const OUTCOME_SUCCESS: &str = "success";
pub const OUTCOME_FAILURE: &str = "failure";
pub const OUTCOME_DENIED: &str = "denied";
pub const ACTOR_USER: &str = "user";
pub const ACTOR_API_KEY: &str = "api_key";
pub const ACTOR_ANONYMOUS: &str = "anonymous";

/// What an appender supplies; the chain position and hashes are added on append.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewEntry {
    pub id: String,
    pub org_id: String,
    pub occurred_at_ms: i64,
    pub actor_type: String,
    pub actor_id: String,
    pub action: String,
    pub target_id: String,
    pub outcome: String,
    pub ip: String,
    pub user_agent: String,
    pub request_id: String,
    pub detail: String,
}

/// A stored entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub fields: NewEntry,
    pub seq: i64,
    pub prev_hash: String,
    pub hash: String,
}

/// Filters of a listing; `None` matches everything.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub action: Option<String>,
    pub actor_id: Option<String>,
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
    /// Only entries older than this `seq` (the page cursor).
    pub before_seq: Option<i64>,
}

/// The result of recomputing one organisation's chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verification {
    Intact {
        checked: i64,
        head_hash: String,
    },
    Broken {
        checked: i64,
        seq: i64,
        reason: String,
    },
}

/// Length-prefixed fields in a fixed order (`len:value;`), so that no two different
/// entries encode alike (a field cannot absorb its neighbour's text).
pub fn canonical_encoding(fields: &NewEntry, seq: i64, prev_hash: &str) -> String {
    let seq = seq.to_string();
    let occurred_at_ms = fields.occurred_at_ms.to_string();
    let parts: [&str; 15] = [
        ENCODING_VERSION,
        &fields.org_id,
        &seq,
        &fields.id,
        &occurred_at_ms,
        &fields.actor_type,
        &fields.actor_id,
        &fields.action,
        &fields.target_id,
        &fields.outcome,
        &fields.ip,
        &fields.user_agent,
        &fields.request_id,
        &fields.detail,
        prev_hash,
    ];
    let mut encoded = String::new();
    for part in parts {
        encoded.push_str(&part.len().to_string());
        encoded.push(':');
        encoded.push_str(part);
        encoded.push(';');
    }
    encoded
}

/// The hash an entry at `seq` after `prev_hash` must carry.
pub fn entry_hash(fields: &NewEntry, seq: i64, prev_hash: &str) -> String {
    ultra_auth::sha256_hex(&canonical_encoding(fields, seq, prev_hash))
}

/// Cuts every free-text field to [`MAX_FIELD_CHARS`] and control characters out, so that a
/// hostile user agent cannot bloat the table or forge lines where entries are printed.
pub fn sanitized(mut entry: NewEntry) -> NewEntry {
    for field in [
        &mut entry.actor_id,
        &mut entry.target_id,
        &mut entry.ip,
        &mut entry.user_agent,
        &mut entry.request_id,
        &mut entry.detail,
    ] {
        *field = field
            .chars()
            .filter(|c| !c.is_control())
            .take(MAX_FIELD_CHARS)
            .collect();
    }
    entry
}

/// Page tokens are opaque to clients: base64url of the last entry's `seq`.
pub fn encode_page_token(last_seq: i64) -> String {
    URL_SAFE_NO_PAD.encode(last_seq.to_string())
}

pub fn decode_page_token(token: &str) -> Result<i64> {
    let invalid = || Error::InvalidArgument("page_token is invalid".into());
    let decoded = URL_SAFE_NO_PAD.decode(token).map_err(|_| invalid())?;
    let text = String::from_utf8(decoded).map_err(|_| invalid())?;
    text.parse().map_err(|_| invalid())
}

#[derive(Clone, Debug)]
pub struct AuditStore {
    db: Db,
    /// One appender per organisation at a time in this process: leaves the primary-key
    /// retry for other replicas only (and for SQLite's busy writers). A lock is dropped from
    /// the map once no appender holds or waits for it.
    append_locks: Arc<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>,
}

enum Attempt {
    Stored(Box<Entry>),
    LostRace,
}

impl AuditStore {
    pub fn new(db: Db) -> AuditStore {
        AuditStore {
            db,
            append_locks: Arc::default(),
        }
    }

    /// `org_id`'s append lock, created on first use; locks nobody else holds are pruned.
    fn append_lock(&self, org_id: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self
            .append_locks
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        locks.retain(|_, lock| Arc::strong_count(lock) > 1);
        Arc::clone(locks.entry(org_id.to_owned()).or_default())
    }

    /// How many organisations' append locks are held or awaited (after pruning the map).
    #[cfg(test)]
    fn append_locks_len(&self) -> usize {
        let mut locks = self
            .append_locks
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        locks.retain(|_, lock| Arc::strong_count(lock) > 1);
        locks.len()
    }

    /// Appends `entry` to its organisation's chain and returns it as stored. An entry whose
    /// `id` is already stored is not appended again: the stored one is returned.
    pub async fn append(&self, entry: NewEntry) -> Result<Entry> {
        let entry = sanitized(entry);
        let lock = self.append_lock(&entry.org_id);
        let _serialised = lock.lock().await;
        for attempt in 0..MAX_APPEND_ATTEMPTS {
            if let Some(existing) = self.by_id(&entry.org_id, &entry.id).await? {
                return Ok(existing);
            }
            match self.try_append(&entry).await? {
                Attempt::Stored(stored) => return Ok(*stored),
                Attempt::LostRace => {
                    // Another replica appended to this chain meanwhile: back off a little
                    // (growing, with the entry id's low bits as jitter) and retry.
                    let jitter = u64::from(entry.id.bytes().last().unwrap_or(0) % 8);
                    let wait = 5 * u64::from(attempt + 1) + jitter;
                    tokio::time::sleep(Duration::from_millis(wait)).await;
                }
            }
        }
        Err(Error::Unavailable(format!(
            "audit chain of organisation {:?} is contended; gave up after {MAX_APPEND_ATTEMPTS} attempts",
            entry.org_id
        )))
    }

    async fn try_append(&self, entry: &NewEntry) -> Result<Attempt> {
        let mut tx = self.db.begin().await?;
        let head = sqlx::query(
            "SELECT seq, hash FROM audit_log WHERE org_id = $1 ORDER BY seq DESC LIMIT 1",
        )
        .bind(&entry.org_id)
        .fetch_optional(&mut *tx)
        .await?;
        let (seq, prev_hash) = match head {
            Some(row) => (
                row.try_get::<i64, _>("seq")? + 1,
                row.try_get::<String, _>("hash")?,
            ),
            None => (1, GENESIS_HASH.to_owned()),
        };
        let hash = entry_hash(entry, seq, &prev_hash);
        let inserted = sqlx::query(&format!(
            "INSERT INTO audit_log ({COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
        ))
        .bind(&entry.org_id)
        .bind(seq)
        .bind(&entry.id)
        .bind(entry.occurred_at_ms)
        .bind(&entry.actor_type)
        .bind(&entry.actor_id)
        .bind(&entry.action)
        .bind(&entry.target_id)
        .bind(&entry.outcome)
        .bind(&entry.ip)
        .bind(&entry.user_agent)
        .bind(&entry.request_id)
        .bind(&entry.detail)
        .bind(&prev_hash)
        .bind(&hash)
        .execute(&mut *tx)
        .await;
        if let Err(error) = inserted {
            return lost_race_or(error);
        }
        if let Err(error) = tx.commit().await {
            return lost_race_or(error);
        }
        Ok(Attempt::Stored(Box::new(Entry {
            fields: entry.clone(),
            seq,
            prev_hash,
            hash,
        })))
    }

    /// The entry `id` of `org_id`'s chain, if stored. Ids are unique across chains: an id
    /// already used in another organisation is refused (ALREADY_EXISTS) rather than
    /// answered with that organisation's entry.
    async fn by_id(&self, org_id: &str, id: &str) -> Result<Option<Entry>> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM audit_log WHERE id = $1 AND org_id = $2"
        ))
        .bind(id)
        .bind(org_id)
        .fetch_optional(self.db.pool())
        .await?;
        if let Some(row) = row {
            return entry(&row).map(Some);
        }
        let elsewhere = sqlx::query("SELECT 1 FROM audit_log WHERE id = $1")
            .bind(id)
            .fetch_optional(self.db.pool())
            .await?;
        if elsewhere.is_some() {
            return Err(Error::AlreadyExists(
                "audit entry id is already in use; choose a new one".into(),
            ));
        }
        Ok(None)
    }

    /// Up to `limit` entries of `org_id` matching `filter`, newest (highest `seq`) first.
    pub async fn list(&self, org_id: &str, filter: &Filter, limit: i64) -> Result<Vec<Entry>> {
        let mut sql = format!("SELECT {COLUMNS} FROM audit_log WHERE org_id = $1");
        let mut texts: Vec<&str> = Vec::new();
        let mut numbers: Vec<i64> = Vec::new();
        let mut next = 2;
        let mut condition = |sql: &mut String, clause: &str| {
            sql.push_str(&format!(" AND {clause} ${next}"));
            next += 1;
        };
        // Text parameters are bound first, then numbers, in the order their clauses appear.
        if let Some(action) = &filter.action {
            condition(&mut sql, "action =");
            texts.push(action);
        }
        if let Some(actor_id) = &filter.actor_id {
            condition(&mut sql, "actor_id =");
            texts.push(actor_id);
        }
        if let Some(from_ms) = filter.from_ms {
            condition(&mut sql, "occurred_at_ms >=");
            numbers.push(from_ms);
        }
        if let Some(to_ms) = filter.to_ms {
            condition(&mut sql, "occurred_at_ms <=");
            numbers.push(to_ms);
        }
        if let Some(before_seq) = filter.before_seq {
            condition(&mut sql, "seq <");
            numbers.push(before_seq);
        }
        sql.push_str(&format!(" ORDER BY seq DESC LIMIT ${next}"));
        let mut query = sqlx::query(&sql).bind(org_id);
        for text in texts {
            query = query.bind(text);
        }
        for number in numbers {
            query = query.bind(number);
        }
        let rows = query.bind(limit).fetch_all(self.db.pool()).await?;
        rows.iter().map(entry).collect()
    }

    /// Recomputes `org_id`'s chain from its first entry: every `seq` follows the previous
    /// one, every `prev_hash` is the previous `hash`, every `hash` matches the fields.
    pub async fn verify(&self, org_id: &str) -> Result<Verification> {
        let mut checked = 0_i64;
        let mut last_seq = 0_i64;
        let mut last_hash = GENESIS_HASH.to_owned();
        loop {
            let rows = sqlx::query(&format!(
                "SELECT {COLUMNS} FROM audit_log WHERE org_id = $1 AND seq > $2 \
                 ORDER BY seq LIMIT $3"
            ))
            .bind(org_id)
            .bind(last_seq)
            .bind(VERIFY_BATCH)
            .fetch_all(self.db.pool())
            .await?;
            let batch_len = rows.len();
            for row in &rows {
                let stored = entry(row)?;
                let broken = |reason: &str| Verification::Broken {
                    checked,
                    seq: stored.seq,
                    reason: reason.to_owned(),
                };
                if stored.seq != last_seq + 1 {
                    return Ok(Verification::Broken {
                        checked,
                        seq: last_seq + 1,
                        reason: format!("entry {} is missing", last_seq + 1),
                    });
                }
                if stored.prev_hash != last_hash {
                    return Ok(broken("prev_hash does not match the previous entry's hash"));
                }
                let expected = entry_hash(&stored.fields, stored.seq, &stored.prev_hash);
                if !ultra_auth::constant_time_eq(expected.as_bytes(), stored.hash.as_bytes()) {
                    return Ok(broken("hash does not match the entry's fields"));
                }
                checked += 1;
                last_seq = stored.seq;
                last_hash = stored.hash;
            }
            if batch_len < VERIFY_BATCH as usize {
                return Ok(Verification::Intact {
                    checked,
                    head_hash: last_hash,
                });
            }
        }
    }
}

/// A unique violation (another appender took this `seq`), a busy SQLite database or a
/// PostgreSQL serialisation failure means "try again on the new head"; anything else is
/// an error.
fn lost_race_or(error: sqlx::Error) -> Result<Attempt> {
    let retryable = match &error {
        sqlx::Error::Database(database) => {
            database.is_unique_violation()
                || database.code().is_some_and(|code| {
                    // SQLITE_BUSY (5) and its extended codes; PostgreSQL 40001/40P01.
                    code == "5" || code == "517" || code == "261" || code.starts_with("40")
                })
                || database.message().contains("database is locked")
        }
        _ => false,
    };
    if retryable {
        Ok(Attempt::LostRace)
    } else {
        Err(Error::Database(error))
    }
}

fn entry(row: &AnyRow) -> Result<Entry> {
    Ok(Entry {
        fields: NewEntry {
            id: row.try_get("id")?,
            org_id: row.try_get("org_id")?,
            occurred_at_ms: row.try_get("occurred_at_ms")?,
            actor_type: row.try_get("actor_type")?,
            actor_id: row.try_get("actor_id")?,
            action: row.try_get("action")?,
            target_id: row.try_get("target_id")?,
            outcome: row.try_get("outcome")?,
            ip: row.try_get("ip")?,
            user_agent: row.try_get("user_agent")?,
            request_id: row.try_get("request_id")?,
            detail: row.try_get("detail")?,
        },
        seq: row.try_get("seq")?,
        prev_hash: row.try_get("prev_hash")?,
        hash: row.try_get("hash")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> NewEntry {
        NewEntry {
            id: "0190-a".into(),
            org_id: "org-1".into(),
            occurred_at_ms: 1_700_000_000_000,
            actor_type: ACTOR_USER.into(),
            actor_id: "user-1".into(),
            action: "model.upload".into(),
            target_id: "model-1".into(),
            outcome: OUTCOME_SUCCESS.into(),
            ip: "203.0.113.7".into(),
            user_agent: "curl/8".into(),
            request_id: "req-1".into(),
            detail: "201".into(),
        }
    }

    #[test]
    fn every_field_and_the_previous_hash_are_covered() {
        let base = sample();
        let hash = entry_hash(&base, 1, GENESIS_HASH);
        assert_eq!(hash.len(), 64);
        assert_ne!(hash, entry_hash(&base, 2, GENESIS_HASH));
        assert_ne!(hash, entry_hash(&base, 1, &"1".repeat(64)));
        let edits: [fn(&mut NewEntry); 12] = [
            |e| e.id.push('x'),
            |e| e.org_id.push('x'),
            |e| e.occurred_at_ms += 1,
            |e| e.actor_type.push('x'),
            |e| e.actor_id.push('x'),
            |e| e.action.push('x'),
            |e| e.target_id.push('x'),
            |e| e.outcome.push('x'),
            |e| e.ip.push('x'),
            |e| e.user_agent.push('x'),
            |e| e.request_id.push('x'),
            |e| e.detail.push('x'),
        ];
        for edit in edits {
            let mut edited = sample();
            edit(&mut edited);
            assert_ne!(entry_hash(&edited, 1, GENESIS_HASH), hash, "{edited:?}");
        }
    }

    #[test]
    fn text_moved_between_fields_changes_the_encoding() {
        let mut left = sample();
        left.actor_id = "ab".into();
        left.action = "c".into();
        let mut right = sample();
        right.actor_id = "a".into();
        right.action = "bc".into();
        assert_ne!(
            canonical_encoding(&left, 1, GENESIS_HASH),
            canonical_encoding(&right, 1, GENESIS_HASH)
        );
    }

    #[test]
    fn page_tokens_round_trip_and_garbage_is_refused() {
        assert_eq!(decode_page_token(&encode_page_token(42)).ok(), Some(42));
        assert!(decode_page_token("not base64 !").is_err());
        assert!(decode_page_token(&URL_SAFE_NO_PAD.encode("x")).is_err());
    }

    /// An organisation whose append is held up does not hold up another's; the lock map is
    /// pruned; an id stored in one organisation is refused in another.
    #[tokio::test]
    async fn appends_lock_per_organisation_and_ids_stay_in_theirs() {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}/users.db", dir.path().display());
        let db = ultra_store::open(&url, &crate::MIGRATOR)
            .await
            .expect("open");
        let store = AuditStore::new(db);
        let held = store.append_lock("org-1");
        let busy = held.lock().await;
        let other = NewEntry {
            id: "0190-b".into(),
            org_id: "org-2".into(),
            ..sample()
        };
        let stored = tokio::time::timeout(Duration::from_secs(5), store.append(other))
            .await
            .expect("org-2 is not blocked by org-1's lock")
            .expect("append");
        assert_eq!(stored.seq, 1);
        assert_eq!(store.append_locks_len(), 1, "only the held lock stays");

        drop(busy);
        drop(held);
        let mut reused = sample();
        reused.id = "0190-b".into();
        let refused = store.append(reused).await.expect_err("id of org-2");
        assert!(matches!(refused, Error::AlreadyExists(_)), "{refused:?}");
        assert_eq!(store.append_locks_len(), 0);
    }

    #[test]
    fn control_characters_and_long_fields_are_cut() {
        let mut entry = sample();
        entry.user_agent = format!("evil\nline{}", "x".repeat(2000));
        let clean = sanitized(entry);
        assert!(!clean.user_agent.contains('\n'));
        assert_eq!(clean.user_agent.chars().count(), MAX_FIELD_CHARS);
    }
}
