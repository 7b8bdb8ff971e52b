//! The raw output samples of a finished run, kept as one object per run in the object store
//! of `ULTRA_SIMULATION_SAMPLES_URL` (off when unset), for exports and later analysis. The
//! API serves the summaries only, as before; the object is written after the results are
//! stored and before the job completes, and a failure to write it is logged, never fatal.
//!
//! Object key `{org_id}/{simulation_id}` (one prefix per organisation, like the files
//! service's). Layout, little-endian:
//!
//! ```text
//! "ULTRA-SAMPLES-1\n"        16 bytes, the format and its version
//! header length              u32
//! header                     JSON: {"simulation_id", "iterations", "samples", "outputs": [names]}
//! one column per output      `samples` f64 each, in the order of `outputs`
//! ```
//!
//! `samples` equals `iterations` for CPU runs; a GPU run that computed its statistics on the
//! device keeps a deterministic subset (`--kept-samples`), and that subset is what is stored.

use ultra_engine::SimulationResult;
use ultra_store::{ObjectStore, StoreError};

/// The first bytes of every samples object.
pub const MAGIC: &[u8; 16] = b"ULTRA-SAMPLES-1\n";

/// Runs whose samples would take more than this are not kept (logged): the object is built
/// in memory, next to the samples themselves.
pub const MAX_BYTES: usize = 512 * 1024 * 1024;

/// The object key of a run's samples.
pub fn key(org_id: &str, simulation_id: &str) -> String {
    format!("{org_id}/{simulation_id}")
}

/// The object for `result`, or `None` when it has no samples or they exceed [`MAX_BYTES`].
pub fn encode(simulation_id: &str, result: &SimulationResult) -> Option<Vec<u8>> {
    let columns = &result.samples.outputs;
    let samples = columns.first().map_or(0, Vec::len);
    if samples == 0 || columns.iter().any(|column| column.len() != samples) {
        return None;
    }
    let body = columns.len().checked_mul(samples)?.checked_mul(8)?;
    if body > MAX_BYTES {
        return None;
    }
    let names: Vec<&str> = result
        .outputs
        .iter()
        .map(|output| output.name.as_str())
        .collect();
    let header = serde_json::json!({
        "simulation_id": simulation_id,
        "iterations": result.iterations,
        "samples": samples,
        "outputs": names,
    })
    .to_string();
    let header_len = u32::try_from(header.len()).ok()?;
    let mut bytes = Vec::with_capacity(MAGIC.len() + 4 + header.len() + body);
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&header_len.to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    for column in columns {
        for value in column {
            bytes.extend_from_slice(&value.to_le_bytes());
        }
    }
    Some(bytes)
}

/// Writes the samples of a finished run, if it has any that fit.
pub async fn keep(
    store: &ObjectStore,
    org_id: &str,
    simulation_id: &str,
    result: &SimulationResult,
) -> Result<bool, StoreError> {
    let Some(bytes) = encode(simulation_id, result) else {
        return Ok(false);
    };
    store.put(&key(org_id, simulation_id), &bytes).await?;
    Ok(true)
}
