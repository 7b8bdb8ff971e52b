//! Which engine runs a simulation: the one decision the CLI and the simulation service
//! share, so that `auto` means the same everywhere.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use ultra_engine::executor::Progress;
use ultra_engine::{Model, SimulationOptions, SimulationResult};

use crate::device::GpuDevice;
use crate::error::GpuError;
use crate::{Statistics, simulate};

/// Runs above this many iterations reduce their statistics on the device (see
/// [`Statistics::Device`]); below it every sample comes back, as on the CPU.
pub const HOST_STATISTICS_LIMIT: u64 = 50_000_000;

/// Samples kept for percentiles and sensitivity when statistics are reduced on the device,
/// unless the request asks for another number.
pub const KEPT_SAMPLES: u64 = 10_000_000;

/// The engine a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EngineChoice {
    /// A hardware GPU when one is present and can run the model; else the CPU. A software
    /// Vulkan device (lavapipe) does not count: on a machine without a GPU the fused CPU
    /// executor is the better use of the cores.
    #[default]
    Auto,
    Cpu,
    /// The GPU engine on any Vulkan adapter (lavapipe included); fails clearly without one.
    Gpu,
}

/// Where the statistics of a GPU run of `iterations` are computed. `kept_samples` (default
/// [`KEPT_SAMPLES`]) is the resolution asked for percentiles, histogram and sensitivity:
/// a run longer than it and than [`HOST_STATISTICS_LIMIT`] keeps that many samples and
/// reduces the rest on the device.
pub fn statistics_for(iterations: u64, kept_samples: Option<u64>) -> Statistics {
    let kept = kept_samples.unwrap_or(KEPT_SAMPLES).max(1);
    if iterations <= HOST_STATISTICS_LIMIT.max(kept) {
        Statistics::Host
    } else {
        Statistics::Device { kept_samples: kept }
    }
}

/// The shared device when it is a hardware GPU, for `auto`.
fn hardware_gpu() -> Option<Arc<GpuDevice>> {
    match GpuDevice::shared() {
        Ok(device) if device.description().device_type != "cpu" => Some(device),
        Ok(device) => {
            tracing::debug!(adapter = %device.description().name, "software adapter: auto uses the CPU");
            None
        }
        Err(error) => {
            tracing::debug!(%error, "no GPU: auto uses the CPU");
            None
        }
    }
}

/// Runs `model` on the engine `choice` names. `auto` falls back to the CPU when there is
/// no hardware GPU or the GPU engine cannot run the model (an unsupported function, a
/// model too large for one shader); a GPU failure during the run (a lost device) is an
/// error, never a silent rerun.
pub fn run(
    choice: EngineChoice,
    model: &Model,
    options: &SimulationOptions,
    kept_samples: Option<u64>,
    progress: &(dyn Fn(Progress) + Sync),
    cancel: &AtomicBool,
) -> Result<SimulationResult, GpuError> {
    let device = match choice {
        EngineChoice::Cpu => None,
        EngineChoice::Gpu => Some(GpuDevice::shared()?),
        EngineChoice::Auto => hardware_gpu(),
    };
    let Some(device) = device else {
        return Ok(ultra_engine::simulate(model, options, progress, cancel)?);
    };
    match simulate(
        &device,
        model,
        options,
        statistics_for(options.iterations, kept_samples),
        progress,
        cancel,
    ) {
        Err(GpuError::Unsupported(reasons)) if choice == EngineChoice::Auto => {
            tracing::info!(reasons = %reasons.join("; "), "GPU cannot run the model: CPU engine");
            Ok(ultra_engine::simulate(model, options, progress, cancel)?)
        }
        Err(GpuError::TooLarge(reason)) if choice == EngineChoice::Auto => {
            tracing::info!(%reason, "model too large for the GPU: CPU engine");
            Ok(ultra_engine::simulate(model, options, progress, cancel)?)
        }
        other => other,
    }
}
