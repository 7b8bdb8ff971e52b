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
    // Usage of a user erased before it arrived goes under their pseudonym, and so does that
    // of any user of an organisation erased before it arrived.
    let user_id = match ultra_store::pseudonym_of(&mut *conn, &event.user_id).await? {
        Some(pseudonym) => pseudonym,
        None => ultra_store::erased_organization_pseudonym(&mut *conn, &event.org_id)
            .await?
            .unwrap_or_else(|| event.user_id.clone()),
    };
    sqlx::query(
        "INSERT INTO usage_ledger (event_id, org_id, user_id, simulation_id, occurred_at_ms, \
         iterations, evaluated_cells, compute_units, gpu_seconds, wall_seconds, engine) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
         ON CONFLICT (event_id) DO NOTHING",
    )
    .bind(&event.id)
    .bind(&event.org_id)
    .bind(&user_id)
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

/// Carries out an erasure in the ledger (inside the transaction that marks the event
/// processed and records the erasure): the rows are financial records and stay, amounts and
/// organisation included, with the erased user ids replaced by the pseudonym (for an
/// organisation, every user id of it).
pub async fn erase(
    conn: &mut sqlx::AnyConnection,
    erasure: &ultra_store::ErasureRequest,
) -> Result<()> {
    match &erasure.subject {
        ultra_store::ErasureSubject::User { user_id } => {
            sqlx::query("UPDATE usage_ledger SET user_id = $1 WHERE user_id = $2")
                .bind(&erasure.pseudonym)
                .bind(user_id)
                .execute(&mut *conn)
                .await?;
            ultra_store::record_erased_user(conn, user_id, &erasure.pseudonym).await?;
        }
        ultra_store::ErasureSubject::Organization => {
            sqlx::query("UPDATE usage_ledger SET user_id = $1 WHERE org_id = $2")
                .bind(&erasure.pseudonym)
                .bind(&erasure.org_id)
                .execute(&mut *conn)
                .await?;
            ultra_store::record_erased_organization(conn, &erasure.org_id, &erasure.pseudonym)
                .await?;
        }
    }
    Ok(())
}

/// The ledger rows of `user_id` in `org_id`, oldest first, as a JSON object (GDPR export).
pub async fn export(pool: &sqlx::AnyPool, org_id: &str, user_id: &str) -> Result<String> {
    let rows = sqlx::query(
        "SELECT event_id, simulation_id, occurred_at_ms, iterations, evaluated_cells, \
         compute_units, gpu_seconds, wall_seconds, engine FROM usage_ledger \
         WHERE org_id = $1 AND user_id = $2 ORDER BY occurred_at_ms, event_id",
    )
    .bind(org_id)
    .bind(user_id)
    .fetch_all(pool)
    .await?;
    let mut usage = Vec::with_capacity(rows.len());
    for row in rows {
        usage.push(serde_json::json!({
            "event_id": row.try_get::<String, _>("event_id")?,
            "simulation_id": row.try_get::<String, _>("simulation_id")?,
            "occurred_at_ms": row.try_get::<i64, _>("occurred_at_ms")?,
            "iterations": ultra_store::from_bigint(row.try_get("iterations")?),
            "evaluated_cells": ultra_store::from_bigint(row.try_get("evaluated_cells")?),
            "compute_units": row.try_get::<f64, _>("compute_units")?,
            "gpu_seconds": row.try_get::<f64, _>("gpu_seconds")?,
            "wall_seconds": row.try_get::<f64, _>("wall_seconds")?,
            "engine": row.try_get::<String, _>("engine")?,
        }));
    }
    Ok(serde_json::json!({ "usage_ledger": usage }).to_string())
}
