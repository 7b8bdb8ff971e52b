//! The usage ledger: one row per `simulation.completed`, summed per organisation and time
//! range. Portable SQL (SQLite and PostgreSQL).

use sqlx::Row;
use ultra_proto::v1;

use crate::error::Result;

/// Embedded migrations of the billing database.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

fn signed(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// Records one completed simulation's usage (inside the transaction that marks the event
/// processed).
pub async fn record(
    conn: &mut sqlx::AnyConnection,
    event: &v1::Event,
    usage: &v1::SimulationCompleted,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO usage_ledger (event_id, org_id, user_id, simulation_id, occurred_at_ms, \
         iterations, evaluated_cells, compute_units, gpu_seconds, wall_seconds, engine) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
         ON CONFLICT (event_id) DO NOTHING",
    )
    .bind(&event.id)
    .bind(&event.org_id)
    .bind(&event.user_id)
    .bind(&usage.simulation_id)
    .bind(event.occurred_at_ms)
    .bind(signed(usage.iterations))
    .bind(signed(usage.evaluated_cells))
    .bind(finite(usage.compute_units))
    .bind(finite(usage.gpu_seconds))
    .bind(finite(usage.wall_seconds))
    .bind(&usage.engine)
    .execute(conn)
    .await?;
    Ok(())
}

/// A NaN or infinite figure in an event is a producer bug; it is recorded as 0 rather than
/// poisoning every sum of the organisation.
fn finite(value: f64) -> f64 {
    if value.is_finite() { value } else { 0.0 }
}

/// The organisation's usage with `occurred_at_ms` in `[from_ms, to_ms)`.
pub async fn usage(
    pool: &sqlx::AnyPool,
    org_id: &str,
    from_ms: i64,
    to_ms: i64,
) -> Result<v1::Usage> {
    let row = sqlx::query(
        "SELECT COUNT(*) AS simulations, \
         COALESCE(SUM(compute_units), 0.0) AS compute_units, \
         COALESCE(SUM(gpu_seconds), 0.0) AS gpu_seconds, \
         COALESCE(CAST(SUM(iterations) AS BIGINT), 0) AS iterations \
         FROM usage_ledger WHERE org_id = $1 AND occurred_at_ms >= $2 AND occurred_at_ms < $3",
    )
    .bind(org_id)
    .bind(from_ms)
    .bind(to_ms)
    .fetch_one(pool)
    .await?;
    Ok(v1::Usage {
        org_id: org_id.to_owned(),
        compute_units: row.try_get("compute_units")?,
        gpu_seconds: row.try_get("gpu_seconds")?,
        simulations: u64::try_from(row.try_get::<i64, _>("simulations")?).unwrap_or(0),
        iterations: u64::try_from(row.try_get::<i64, _>("iterations")?).unwrap_or(0),
    })
}
