//! The engine, run off the async runtime: `ultra_engine::simulate` is CPU-bound for seconds
//! to minutes, so it runs on a blocking thread (and from there on the rayon pool), while
//! the progress it reports lands in an atomic that the job's ticker reads at its own pace.
//! Nothing on the engine's threads ever waits on I/O.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ultra_engine::{EngineError, Model, SimulationOptions, SimulationResult};

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
    /// The engine thread panicked: a bug, reported as a failed job, never a crashed service.
    #[error("the engine stopped unexpectedly: {0}")]
    Panicked(String),
}

/// A finished run and how long it took on the wall clock.
pub struct Finished {
    pub result: SimulationResult,
    pub elapsed: Duration,
}

pub async fn run(
    model: Model,
    options: SimulationOptions,
    handles: EngineHandles,
) -> Result<Finished, RunError> {
    let joined = tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let completed = Arc::clone(&handles.completed);
        let report = move |progress: ultra_engine::executor::Progress| {
            completed.fetch_max(progress.completed_iterations, Ordering::Relaxed);
        };
        ultra_engine::simulate(&model, &options, &report, &handles.cancel).map(|result| Finished {
            result,
            elapsed: started.elapsed(),
        })
    })
    .await;
    match joined {
        Ok(outcome) => Ok(outcome?),
        Err(join_error) => Err(RunError::Panicked(join_error.to_string())),
    }
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
        let finished = run(model(), options, handles.clone()).await.expect("runs");
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
        let outcome = run(model(), options, handles).await;
        assert!(matches!(
            outcome,
            Err(RunError::Engine(EngineError::Cancelled))
        ));
    }
}
