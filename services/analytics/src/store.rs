//! Usage events per organisation and user, and the report over a time range. Portable SQL
//! (SQLite and PostgreSQL).

use sqlx::Row;
use ultra_proto::v1;

use crate::error::Result;

/// Embedded migrations of the analytics database.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Records one completed simulation (inside the transaction that marks the event processed).
pub async fn record(
    conn: &mut sqlx::AnyConnection,
    event: &v1::Event,
    usage: &v1::SimulationCompleted,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO usage_events (event_id, org_id, user_id, simulation_id, model_id, \
         occurred_at_ms, iterations, evaluated_cells, compute_units, wall_seconds, engine) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
         ON CONFLICT (event_id) DO NOTHING",
    )
    .bind(&event.id)
    .bind(&event.org_id)
    .bind(&event.user_id)
    .bind(&usage.simulation_id)
    .bind(&usage.model_id)
    .bind(event.occurred_at_ms)
    .bind(ultra_store::to_bigint(usage.iterations))
    .bind(ultra_store::to_bigint(usage.evaluated_cells))
    .bind(ultra_store::finite_or_zero(usage.compute_units))
    .bind(ultra_store::finite_or_zero(usage.wall_seconds))
    .bind(&usage.engine)
    .execute(conn)
    .await?;
    Ok(())
}

/// The organisation's usage with `occurred_at_ms` in `[from_ms, to_ms)`, in total and per
/// user (heaviest users first).
pub async fn report(
    pool: &sqlx::AnyPool,
    org_id: &str,
    from_ms: i64,
    to_ms: i64,
) -> Result<v1::UsageReport> {
    let rows = sqlx::query(
        "SELECT user_id, COUNT(*) AS simulations, \
         COALESCE(CAST(SUM(iterations) AS BIGINT), 0) AS iterations, \
         COALESCE(SUM(compute_units), 0.0) AS compute_units \
         FROM usage_events WHERE org_id = $1 AND occurred_at_ms >= $2 AND occurred_at_ms < $3 \
         GROUP BY user_id ORDER BY compute_units DESC, user_id",
    )
    .bind(org_id)
    .bind(from_ms)
    .bind(to_ms)
    .fetch_all(pool)
    .await?;
    let mut report = v1::UsageReport {
        org_id: org_id.to_owned(),
        ..Default::default()
    };
    for row in rows {
        let user = v1::UserUsage {
            user_id: row.try_get("user_id")?,
            simulations: ultra_store::from_bigint(row.try_get("simulations")?),
            iterations: ultra_store::from_bigint(row.try_get("iterations")?),
            compute_units: row.try_get("compute_units")?,
        };
        report.simulations += user.simulations;
        report.iterations = report.iterations.saturating_add(user.iterations);
        report.compute_units += user.compute_units;
        report.by_user.push(user);
    }
    Ok(report)
}
