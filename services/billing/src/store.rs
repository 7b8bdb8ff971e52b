//! The usage ledger: one row per `simulation.completed`, summed per organisation and time
//! range. Portable SQL (SQLite and PostgreSQL).

use sqlx::Row;
use ultra_proto::v1;

use crate::error::Result;

/// Embedded migrations of the billing database.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

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
    .bind(ultra_store::to_bigint(usage.iterations))
    .bind(ultra_store::to_bigint(usage.evaluated_cells))
    .bind(ultra_store::finite_or_zero(usage.compute_units))
    .bind(ultra_store::finite_or_zero(usage.gpu_seconds))
    .bind(ultra_store::finite_or_zero(usage.wall_seconds))
    .bind(&usage.engine)
    .execute(conn)
    .await?;
    Ok(())
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
        simulations: ultra_store::from_bigint(row.try_get("simulations")?),
        iterations: ultra_store::from_bigint(row.try_get("iterations")?),
    })
}
