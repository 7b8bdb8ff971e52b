//! The engine, run off the async runtime: `ultra_engine::simulate` is CPU-bound for seconds
//! to minutes, so it runs on a blocking thread (and from there on the rayon pool), while
//! the progress it reports lands in an atomic that the job's ticker reads at its own pace.
//! Nothing on the engine's threads ever waits on I/O.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ultra_engine::{EngineError, Model, SimulationOptions, SimulationResult};
use ultra_gpu::{EngineChoice, GpuError};

/// The handles a running job shares with the engine thread.
#[derive(Clone, Default)]
pub struct EngineHandles {
    /// Set to stop the run at the next chunk (user cancel or shutdown).
    pub cancel: Arc<AtomicBool>,
    /// Iterations done so far (monotonic: chunks may report out of order).
    pub completed: Arc<AtomicU64>,
}

/// Why a run produced no result.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The GPU engine failed (no adapter for `engine = GPU`, a lost device): the job fails
    /// with the reason, the service goes on.
    #[error(transparent)]
    Gpu(GpuError),
    /// The engine thread panicked: a bug, reported as a failed job, never a crashed service.
    #[error("the engine stopped unexpectedly: {0}")]
    Panicked(String),
}

/// A finished run and how long it took on the wall clock.
pub struct Finished {
    pub result: SimulationResult,
    pub elapsed: Duration,
}

/// Runs the engine on a thread pool of its own (`options.threads`, default every core)
/// whose threads run at nice value `nice`: on a busy machine the async runtimes that answer
/// RPCs and progress polls come first, and the engine still gets every idle cycle.
///
/// `engine` picks the engine as `ultra_gpu::select::run` does (auto: a hardware GPU when
/// present and able to run the model). GPU runs share the process's one device; the host
/// side of their statistics runs on the same low-priority pool.
pub async fn run(
    model: Model,
    mut options: SimulationOptions,
    handles: EngineHandles,
    nice: u8,
    engine: EngineChoice,
) -> Result<Finished, RunError> {
    let joined = tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let completed = Arc::clone(&handles.completed);
        let report = move |progress: ultra_engine::executor::Progress| {
            completed.fetch_max(progress.completed_iterations, Ordering::Relaxed);
        };
        let simulate = |options: &SimulationOptions| {
            ultra_gpu::select::run(engine, &model, options, None, &report, &handles.cancel).map_err(
                |error| match error {
                    GpuError::Engine(error) => RunError::Engine(error),
                    other => RunError::Gpu(other),
                },
            )
        };
        if options.threads == Some(0) {
            // The engine's own error for it.
            return simulate(&options).map(|result| Finished {
                result,
                elapsed: started.elapsed(),
            });
        }
        let threads = options.threads.take().unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
        });
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|index| format!("ultra-engine-{index}"))
            .start_handler(move |_| lower_priority(nice))
            .build()
            .map_err(|error| EngineError::ThreadPool(error.to_string()))?;
        pool.install(|| simulate(&options)).map(|result| Finished {
            result,
            elapsed: started.elapsed(),
        })
    })
    .await;
    match joined {
        Ok(outcome) => outcome,
        Err(join_error) => Err(RunError::Panicked(join_error.to_string())),
    }
}

/// Lowers the calling thread's scheduling priority (on Linux the nice value is per thread).
/// Best effort: a failure only leaves the thread at normal priority.
fn lower_priority(nice: u8) {
    #[cfg(target_os = "linux")]
    if nice > 0
        && let Err(error) = rustix::process::setpriority_process(None, i32::from(nice))
    {
        tracing::debug!(error = %error, "could not lower the engine thread's priority");
    }
    #[cfg(not(target_os = "linux"))]
    let _ = nice;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> Model {
        serde_json::from_str(
            r#"{"nodes": [
                {"id": 1, "op": "const", "value": 0},
                {"id": 2, "op": "const", "value": 1},
                {"id": 3, "op": "input", "distribution": {"family": "uniform"}, "params": [1, 2]},
                {"id": 4, "op": "output", "name": "X", "arg": 3}]}"#,
        )
        .expect("model parses")
    }

    #[tokio::test]
    async fn runs_and_reports_every_iteration() {
        let handles = EngineHandles::default();
        let options = SimulationOptions {
            iterations: 5000,
            chunk_size: Some(1000),
            ..Default::default()
        };
        let finished = run(model(), options, handles.clone(), 10, EngineChoice::Cpu)
            .await
            .expect("runs");
        assert_eq!(finished.result.iterations, 5000);
        assert_eq!(handles.completed.load(Ordering::Relaxed), 5000);
    }

    #[tokio::test]
    async fn a_set_cancel_flag_stops_the_run() {
        let handles = EngineHandles::default();
        handles.cancel.store(true, Ordering::Relaxed);
        let options = SimulationOptions {
            iterations: 5000,
            chunk_size: Some(100),
            ..Default::default()
        };
        let outcome = run(model(), options, handles, 10, EngineChoice::Cpu).await;
        assert!(matches!(
            outcome,
            Err(RunError::Engine(EngineError::Cancelled))
        ));
    }
}
