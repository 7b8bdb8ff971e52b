//! The transactional outbox and idempotent consumption (DESIGN.md, Events).
//!
//! A producer writes its events into its own `outbox` table in the same transaction as the
//! state change ([`enqueue`]); the relay ([`spawn_relay`]) publishes committed rows to the
//! bus and deletes them. A crash between publish and delete republishes: delivery is
//! at-least-once, and consumers make the effect exactly-once with [`mark_processed`] in their
//! own transaction.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use prost::Message;
use sqlx::{AnyConnection, Row};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use ultra_bus::Bus;
use ultra_proto::v1::Event;

use crate::{Backend, Db, StoreError};

/// The outbox table every producer creates in its own migrations (portable SQL).
/// `payload` is the base64 of the protobuf-encoded `ultra.v1.Event` (TEXT rather than a
/// binary column, whose type differs between SQLite and PostgreSQL).
pub const OUTBOX_TABLE_SQL: &str = "CREATE TABLE outbox (
    event_id      TEXT PRIMARY KEY,
    event_type    TEXT NOT NULL,
    payload       TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL
);
CREATE INDEX outbox_by_age ON outbox (created_at_ms, event_id);";

/// The table every consumer creates in its own migrations for [`mark_processed`].
pub const PROCESSED_EVENTS_TABLE_SQL: &str = "CREATE TABLE processed_events (
    event_id        TEXT PRIMARY KEY,
    processed_at_ms BIGINT NOT NULL
);";

/// How often the relay looks for rows when nobody woke it.
const POLL_INTERVAL: Duration = Duration::from_millis(200);
/// Rows published per round trip.
const BATCH: i64 = 100;

/// Writes `event` to the outbox inside the caller's transaction: it is published if and only
/// if the transaction commits.
pub async fn enqueue(connection: &mut AnyConnection, event: &Event) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO outbox (event_id, event_type, payload, created_at_ms) VALUES ($1, $2, $3, $4)",
    )
    .bind(&event.id)
    .bind(&event.r#type)
    .bind(STANDARD.encode(event.encode_to_vec()))
    .bind(event.occurred_at_ms)
    .execute(connection)
    .await?;
    Ok(())
}

/// Records that `event_id` is being handled in the caller's transaction. Returns `false` if
/// it already was (a redelivery): the caller then skips its effect and acks.
pub async fn mark_processed(
    connection: &mut AnyConnection,
    event_id: &str,
) -> Result<bool, StoreError> {
    let result = sqlx::query(
        "INSERT INTO processed_events (event_id, processed_at_ms) VALUES ($1, $2) \
         ON CONFLICT (event_id) DO NOTHING",
    )
    .bind(event_id)
    .bind(ultra_bus::now_ms())
    .execute(connection)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// Publishes up to one batch of committed outbox rows, oldest first, deleting each after
/// the bus accepted it. Returns how many were published.
///
/// On PostgreSQL several replicas of a service run a relay on one outbox, so rows are
/// claimed: the batch is selected `FOR UPDATE SKIP LOCKED` inside a transaction that
/// publishes and deletes them, and a concurrent relay skips the rows this one holds (it
/// takes the next ones, or none) instead of publishing them a second time. The lock ends
/// with the transaction, so a relay that dies mid-batch (its connection dropped) releases
/// its rows to the others; its published-but-undeleted rows go out again, which is the
/// outbox's at-least-once (consumers dedupe). On SQLite there is one process and one writer:
/// the rows are read and deleted outside a transaction, so publishing to a slow bus never
/// holds the database's only write lock.
pub async fn relay_once(db: &Db, bus: &Bus) -> Result<usize, StoreError> {
    match db.backend() {
        Backend::Postgres => relay_claimed(db, bus).await,
        Backend::Sqlite => relay_unclaimed(db, bus).await,
    }
}

async fn relay_unclaimed(db: &Db, bus: &Bus) -> Result<usize, StoreError> {
    let rows = sqlx::query(
        "SELECT event_id, payload FROM outbox ORDER BY created_at_ms, event_id LIMIT $1",
    )
    .bind(BATCH)
    .fetch_all(db.pool())
    .await?;
    let mut published = 0;
    for row in rows {
        let event_id: String = row.try_get("event_id")?;
        let payload: String = row.try_get("payload")?;
        if publish_row(bus, &event_id, &payload).await? {
            published += 1;
        }
        sqlx::query("DELETE FROM outbox WHERE event_id = $1")
            .bind(&event_id)
            .execute(db.pool())
            .await?;
    }
    Ok(published)
}

async fn relay_claimed(db: &Db, bus: &Bus) -> Result<usize, StoreError> {
    let mut tx = db.begin().await?;
    let rows = sqlx::query(
        "SELECT event_id, payload FROM outbox ORDER BY created_at_ms, event_id LIMIT $1 \
         FOR UPDATE SKIP LOCKED",
    )
    .bind(BATCH)
    .fetch_all(&mut *tx)
    .await?;
    let mut published = 0;
    for row in rows {
        let event_id: String = row.try_get("event_id")?;
        let payload: String = row.try_get("payload")?;
        match publish_row(bus, &event_id, &payload).await {
            Ok(sent) => published += usize::from(sent),
            Err(error) => {
                // Keep what went out deleted (so it is not published again), leave the rest
                // for the next round.
                tx.commit().await?;
                return Err(error);
            }
        }
        sqlx::query("DELETE FROM outbox WHERE event_id = $1")
            .bind(&event_id)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(published)
}

/// Publishes one row; `Ok(false)` for a row that cannot be decoded (to be deleted all the
/// same: it could never be published, and keeping it would retry it forever).
async fn publish_row(bus: &Bus, event_id: &str, payload: &str) -> Result<bool, StoreError> {
    match decode(event_id, payload) {
        Ok(event) => {
            bus.publish(&event).await?;
            Ok(true)
        }
        Err(error) => {
            tracing::error!(%error, "dropping corrupt outbox row");
            Ok(false)
        }
    }
}

fn decode(event_id: &str, payload: &str) -> Result<Event, StoreError> {
    let corrupt = |reason: String| StoreError::CorruptOutboxRow {
        event_id: event_id.to_owned(),
        reason,
    };
    let bytes = STANDARD
        .decode(payload)
        .map_err(|error| corrupt(error.to_string()))?;
    Event::decode(bytes.as_slice()).map_err(|error| corrupt(error.to_string()))
}

/// The longest pause between two relay attempts while the bus or the database fails.
const MAX_FAILURE_PAUSE: Duration = Duration::from_secs(5);

/// Runs the relay in the background until `shutdown`, then makes one last pass so events
/// committed just before shutdown are not left behind.
///
/// While publishing fails (Redis down: the events stay in the outbox, which is the point)
/// the relay backs off exponentially up to 5 s, and logs the first failure and every tenth
/// rather than each retry; a commit that wakes it ([`Db::wake_relay`]) retries at once.
pub fn spawn_relay(db: Db, bus: Bus, shutdown: CancellationToken) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut failures: u32 = 0;
        loop {
            let (drained, pause) = match relay_once(&db, &bus).await {
                Ok(published) => {
                    if failures > 0 {
                        tracing::info!(failures, "outbox relay recovered");
                        failures = 0;
                    }
                    (published < BATCH as usize, POLL_INTERVAL)
                }
                Err(error) => {
                    failures = failures.saturating_add(1);
                    if failures == 1 || failures.is_multiple_of(10) {
                        tracing::warn!(%error, failures, "outbox relay failed; events stay in the outbox, retrying");
                    }
                    let pause = POLL_INTERVAL
                        .saturating_mul(1 << (failures - 1).min(8))
                        .min(MAX_FAILURE_PAUSE);
                    (true, pause)
                }
            };
            if drained {
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = db.outbox_signal().notified() => {}
                    () = tokio::time::sleep(pause) => {}
                }
            } else if shutdown.is_cancelled() {
                break;
            }
        }
        if let Err(error) = relay_once(&db, &bus).await {
            tracing::warn!(%error, "final outbox relay failed; rows stay for the next start");
        }
    })
}
