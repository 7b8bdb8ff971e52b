//! The results table: one row per simulation, written once.

use sqlx::Row;
use ultra_proto::v1;

use crate::error::{Error, Result};
use crate::stored::StoredOutput;

/// Embedded migrations of the results database.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Stores `results` for `org_id` unless results for that simulation exist already (a retry
/// of the simulation service after a lost reply): the first write wins, later ones are
/// no-ops. Returns whether this call stored them.
pub async fn insert(
    pool: &sqlx::AnyPool,
    org_id: &str,
    results: &v1::SimulationResults,
    now_ms: i64,
) -> Result<bool> {
    let outputs: Vec<StoredOutput> = results.outputs.iter().map(StoredOutput::from).collect();
    let outputs_json = serde_json::to_string(&outputs).map_err(|error| Error::Corrupt {
        simulation_id: results.simulation_id.clone(),
        reason: error.to_string(),
    })?;
    let inserted = sqlx::query(
        "INSERT INTO results (simulation_id, org_id, iterations, seed, sampling, engine, \
         elapsed_ms, compute_units, outputs_json, created_at_ms, adapter, arithmetic) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
         ON CONFLICT (simulation_id) DO NOTHING",
    )
    .bind(&results.simulation_id)
    .bind(org_id)
    .bind(to_i64("iterations", results.iterations)?)
    // Seeds use all 64 bits: stored as the two's-complement i64 of the same bits.
    .bind(results.seed as i64)
    .bind(results.sampling)
    .bind(&results.engine)
    .bind(results.elapsed_ms)
    .bind(results.compute_units)
    .bind(outputs_json)
    .bind(now_ms)
    .bind(&results.adapter)
    .bind(&results.precision)
    .execute(pool)
    .await?;
    Ok(inserted.rows_affected() == 1)
}

/// The results of `simulation_id` if it belongs to `org_id`.
pub async fn get(
    pool: &sqlx::AnyPool,
    org_id: &str,
    simulation_id: &str,
) -> Result<Option<v1::SimulationResults>> {
    let row = sqlx::query(
        "SELECT simulation_id, org_id, iterations, seed, sampling, engine, elapsed_ms, \
         compute_units, outputs_json, adapter, arithmetic FROM results WHERE simulation_id = $1 AND org_id = $2",
    )
    .bind(simulation_id)
    .bind(org_id)
    .fetch_optional(pool)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let outputs_json: String = row.try_get("outputs_json")?;
    let outputs: Vec<StoredOutput> =
        serde_json::from_str(&outputs_json).map_err(|error| Error::Corrupt {
            simulation_id: simulation_id.to_owned(),
            reason: error.to_string(),
        })?;
    Ok(Some(v1::SimulationResults {
        simulation_id: row.try_get("simulation_id")?,
        org_id: row.try_get("org_id")?,
        iterations: row.try_get::<i64, _>("iterations")?.max(0) as u64,
        seed: row.try_get::<i64, _>("seed")? as u64,
        sampling: row.try_get("sampling")?,
        engine: row.try_get("engine")?,
        elapsed_ms: row.try_get("elapsed_ms")?,
        compute_units: row.try_get("compute_units")?,
        outputs: outputs.into_iter().map(v1::OutputResults::from).collect(),
        adapter: row.try_get("adapter")?,
        precision: row.try_get("arithmetic")?,
    }))
}

fn to_i64(field: &str, value: u64) -> Result<i64> {
    i64::try_from(value).map_err(|_| Error::InvalidArgument(format!("{field} is too large")))
}
