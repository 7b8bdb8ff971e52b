//! What the simulation service tells the rest of the platform: lifecycle events (through
//! the outbox, in the transaction of the state change) and progress ticks (pub/sub on
//! `progress:{simulation_id}`, ephemeral: a missed tick is superseded by the next one).

use prost::Message;
use ultra_proto::v1;
use ultra_proto::v1::event::Payload;

use crate::store::{Job, Status};

/// The pub/sub channel of a simulation's progress ticks.
pub fn progress_channel(simulation_id: &str) -> String {
    format!("progress:{simulation_id}")
}

pub fn submitted(job: &Job) -> v1::Event {
    ultra_bus::new_event(
        "simulation.submitted",
        &job.org_id,
        &job.user_id,
        Payload::SimulationSubmitted(v1::SimulationSubmitted {
            simulation_id: job.id.clone(),
            model_id: job.model_id.clone(),
            iterations: job.iterations,
        }),
    )
}

/// The usage of one finished run: what billing and analytics record (DESIGN.md, Metering:
/// compute units = iterations x evaluated cells / 1e9, the same on CPU and GPU).
pub struct Usage<'a> {
    pub evaluated_cells: u64,
    pub compute_units: f64,
    pub wall_seconds: f64,
    /// Which engine ran it: GPU runs report their wall time as GPU seconds too.
    pub engine: &'a ultra_engine::EngineInfo,
}

pub fn completed(job: &Job, usage: &Usage<'_>) -> v1::Event {
    ultra_bus::new_event(
        "simulation.completed",
        &job.org_id,
        &job.user_id,
        Payload::SimulationCompleted(v1::SimulationCompleted {
            simulation_id: job.id.clone(),
            model_id: job.model_id.clone(),
            iterations: job.iterations,
            evaluated_cells: usage.evaluated_cells,
            compute_units: usage.compute_units,
            gpu_seconds: if usage.engine.kind == "gpu" {
                usage.wall_seconds
            } else {
                0.0
            },
            wall_seconds: usage.wall_seconds,
            engine: usage.engine.kind.clone(),
        }),
    )
}

pub fn failed(job: &Job, reason: &str) -> v1::Event {
    ultra_bus::new_event(
        "simulation.failed",
        &job.org_id,
        &job.user_id,
        Payload::SimulationFailed(v1::SimulationFailed {
            simulation_id: job.id.clone(),
            reason: reason.to_owned(),
        }),
    )
}

pub fn cancelled(job: &Job, completed_iterations: u64) -> v1::Event {
    ultra_bus::new_event(
        "simulation.cancelled",
        &job.org_id,
        &job.user_id,
        Payload::SimulationCancelled(v1::SimulationCancelled {
            simulation_id: job.id.clone(),
            completed_iterations,
        }),
    )
}

/// Encodes a progress tick for `progress:{id}`; `status` is the lower-case status word.
pub fn tick(job: &Job, status: Status, completed_iterations: u64) -> Vec<u8> {
    v1::ProgressTick {
        simulation_id: job.id.clone(),
        org_id: job.org_id.clone(),
        completed_iterations,
        total_iterations: job.iterations,
        status: status.as_str().to_owned(),
    }
    .encode_to_vec()
}

/// Decodes a tick into the `Progress` message of `WatchProgress`; `None` for a payload
/// that is not a tick of a known status (ignored: pub/sub is best effort).
pub fn progress_from_tick(payload: &[u8]) -> Option<(Status, v1::Progress)> {
    let tick = v1::ProgressTick::decode(payload).ok()?;
    let status = Status::parse(&tick.status)?;
    Some((
        status,
        v1::Progress {
            simulation_id: tick.simulation_id,
            status: status.to_proto() as i32,
            completed_iterations: tick.completed_iterations,
            total_iterations: tick.total_iterations,
        },
    ))
}
