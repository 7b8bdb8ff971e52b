//! The worker pool: claims queued jobs (weighted fair share across organisations, see
//! `fair_share.rs`), runs each on the engine with a ticker that writes progress and a
//! heartbeat and broadcasts ticks, then records how the job ended together with its event.
//! Also the recovery of orphans: jobs left running by a process that died or stopped are
//! interrupted, then queued again or, after `max_attempts`, failed. A job is never left
//! "running" forever.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;
use ultra_engine::{EngineError, SimulationOptions};
use ultra_proto::v1;
use ultra_proto::v1::results_service_client::ResultsServiceClient;

use crate::config::Config;
use crate::error::Result;
use crate::events::{self, Usage};
use crate::results::{self, RunFacts};
use crate::runner::{self, EngineHandles, Finished, RunError};
use crate::store::{self, Job, Outcome, Status};

/// How long an idle worker sleeps before looking for work that another instance queued
/// (work queued here wakes it at once).
const IDLE_POLL: Duration = Duration::from_secs(1);
/// How long shutdown waits for running jobs to stop before marking them interrupted anyway.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// Attempts at storing results before the job is failed.
const STORE_ATTEMPTS: u32 = 5;

/// A job running in this process.
#[derive(Clone)]
pub struct Running {
    pub handles: EngineHandles,
    /// Set when the stop is the user's (Cancel): the job ends CANCELLED, not INTERRUPTED.
    pub user_cancelled: Arc<AtomicBool>,
    /// The job as claimed (status RUNNING), for answering reads from memory.
    pub job: Arc<Job>,
    /// The completed iterations last written to the database (what a read there answers).
    pub reported: Arc<AtomicU64>,
    /// True while the row in the database is RUNNING with `reported` iterations and owned
    /// here; cleared before the job's outcome is written (reads then go to the database).
    pub live: Arc<AtomicBool>,
}

impl Running {
    /// The job as the database has it right now, while it runs here: lets
    /// `GetSimulation` (polled by progress bars) answer without a query.
    pub fn snapshot(&self) -> Option<Job> {
        if !self.live.load(Ordering::Acquire) {
            return None;
        }
        let mut job = Job::clone(&self.job);
        job.completed_iterations = self.reported.load(Ordering::Acquire);
        // Cleared meanwhile: the outcome may be written already.
        self.live.load(Ordering::Acquire).then_some(job)
    }
}

/// What the RPC handlers and the workers share.
pub struct Shared {
    pub db: ultra_store::Db,
    pub pool: sqlx::AnyPool,
    pub bus: ultra_bus::Bus,
    pub config: Config,
    pub results: ResultsServiceClient<Channel>,
    /// Where raw samples are kept (`ULTRA_SIMULATION_SAMPLES_URL`); `None`: they are not.
    pub samples: Option<ultra_store::ObjectStore>,
    pub running: Mutex<HashMap<String, Running>>,
    /// Wakes an idle worker when a job is queued.
    pub wake: Notify,
    /// Cancelled when the service stops: workers take no new job, running jobs stop.
    pub shutdown: CancellationToken,
}

impl Shared {
    fn running_ids(&self) -> Vec<String> {
        self.lock_running().keys().cloned().collect()
    }

    pub fn lock_running(&self) -> std::sync::MutexGuard<'_, HashMap<String, Running>> {
        // The map stays consistent whatever panicked while holding it (single inserts and
        // removes), so a poisoned lock is still usable.
        self.running.lock().unwrap_or_else(PoisonError::into_inner)
    }

    async fn broadcast(&self, job: &Job, status: Status, completed_iterations: u64) {
        let tick = events::tick(job, status, completed_iterations);
        if let Err(error) = self
            .bus
            .broadcast(&events::progress_channel(&job.id), tick)
            .await
        {
            tracing::warn!(simulation_id = %job.id, error = %error, "progress broadcast failed");
        }
    }
}

/// Starts `config.workers` workers and the orphan sweeper.
pub fn spawn(shared: &Arc<Shared>) -> Vec<JoinHandle<()>> {
    let mut handles: Vec<JoinHandle<()>> = (0..shared.config.workers)
        .map(|_| tokio::spawn(work(Arc::clone(shared))))
        .collect();
    handles.push(tokio::spawn(sweep(Arc::clone(shared))));
    handles
}

/// Stops the pool: running jobs are told to stop (they end INTERRUPTED), workers are
/// awaited, and whatever still runs after the timeout is marked interrupted in the database.
pub async fn stop(shared: &Arc<Shared>, workers: Vec<JoinHandle<()>>) {
    shared.shutdown.cancel();
    for running in shared.lock_running().values() {
        running.live.store(false, Ordering::Release);
        running.handles.cancel.store(true, Ordering::Relaxed);
    }
    let all = futures_join(workers);
    if tokio::time::timeout(STOP_TIMEOUT, all).await.is_err() {
        tracing::warn!("simulation workers did not stop in time");
    }
    match store::interrupt_mine(&shared.pool, &shared.config.instance_id).await {
        Ok(0) => {}
        Ok(count) => tracing::warn!(count, "simulations marked interrupted at shutdown"),
        Err(error) => {
            tracing::error!(error = %error, "could not mark running simulations interrupted")
        }
    }
}

async fn futures_join(handles: Vec<JoinHandle<()>>) {
    for handle in handles {
        if let Err(error) = handle.await {
            tracing::error!(error = %error, "simulation worker panicked");
        }
    }
}

async fn work(shared: Arc<Shared>) {
    let window_ms = i64::try_from(shared.config.fair_share_window.as_millis()).unwrap_or(i64::MAX);
    while !shared.shutdown.is_cancelled() {
        let claimed = store::claim_next(
            &shared.pool,
            &shared.config.instance_id,
            ultra_bus::now_ms(),
            window_ms,
        )
        .await;
        match claimed {
            Ok(Some(job)) => run_job(&shared, job).await,
            Ok(None) => {
                tokio::select! {
                    () = shared.wake.notified() => {}
                    () = tokio::time::sleep(IDLE_POLL) => {}
                    () = shared.shutdown.cancelled() => {}
                }
            }
            Err(error) => {
                tracing::error!(error = %error, "could not claim a simulation");
                tokio::select! {
                    () = tokio::time::sleep(IDLE_POLL) => {}
                    () = shared.shutdown.cancelled() => {}
                }
            }
        }
    }
}

/// Recovers orphans now and then: jobs whose runner stopped sending heartbeats (its process
/// died) and jobs interrupted by another instance's shutdown.
async fn sweep(shared: Arc<Shared>) {
    let period = (shared.config.lease / 2).max(Duration::from_millis(100));
    loop {
        tokio::select! {
            () = tokio::time::sleep(period) => {}
            () = shared.shutdown.cancelled() => return,
        }
        if let Err(error) = recover(&shared, None).await {
            tracing::error!(error = %error, "orphan recovery failed");
        }
    }
}

/// Interrupts orphaned running jobs (with `own_instance`, at start: every job this
/// instance was running), then queues interrupted jobs again or fails those out of attempts.
pub async fn recover(shared: &Shared, own_instance: Option<&str>) -> Result<()> {
    let lease_ms = i64::try_from(shared.config.lease.as_millis()).unwrap_or(i64::MAX);
    let stale_before = ultra_bus::now_ms().saturating_sub(lease_ms);
    let interrupted = store::interrupt_orphans(
        &shared.pool,
        own_instance,
        stale_before,
        &shared.running_ids(),
    )
    .await?;
    if interrupted > 0 {
        tracing::warn!(count = interrupted, "orphaned simulations interrupted");
    }
    let mut requeued = false;
    for job in store::interrupted(&shared.pool).await? {
        if job.attempts < i64::from(shared.config.max_attempts) {
            requeued |= store::requeue(&shared.pool, &job.id).await?;
            tracing::info!(simulation_id = %job.id, attempts = job.attempts, "simulation queued again");
            continue;
        }
        let reason = format!("interrupted {} times; giving up", job.attempts);
        let mut tx = shared.pool.begin().await?;
        if store::fail_interrupted(&mut tx, &job.id, &reason, ultra_bus::now_ms()).await? {
            ultra_store::enqueue(&mut tx, &events::failed(&job, &reason)).await?;
        }
        tx.commit().await?;
        shared.db.wake_relay();
        shared.broadcast(&job, Status::Failed, 0).await;
        tracing::warn!(simulation_id = %job.id, attempts = job.attempts, "simulation failed after interruptions");
    }
    if requeued {
        shared.wake.notify_waiters();
    }
    Ok(())
}

async fn run_job(shared: &Arc<Shared>, job: Job) {
    tracing::info!(simulation_id = %job.id, org_id = %job.org_id, iterations = job.iterations, "simulation started");
    let model = match load_model(shared, &job).await {
        Ok(model) => model,
        Err(reason) => {
            conclude(shared, &job, Status::Failed, 0, 0.0, &reason, None).await;
            return;
        }
    };
    let running = Running {
        handles: EngineHandles::default(),
        user_cancelled: Arc::new(AtomicBool::new(job.cancel_requested)),
        job: Arc::new(job.clone()),
        reported: Arc::new(AtomicU64::new(job.completed_iterations)),
        live: Arc::new(AtomicBool::new(job.status == Status::Running)),
    };
    running
        .handles
        .cancel
        .store(job.cancel_requested, Ordering::Relaxed);
    shared
        .lock_running()
        .insert(job.id.clone(), running.clone());
    shared.broadcast(&job, Status::Running, 0).await;

    let ticker_stop = CancellationToken::new();
    let ticker = tokio::spawn(tick(
        Arc::clone(shared),
        job.clone(),
        running.clone(),
        ticker_stop.clone(),
    ));
    let options = SimulationOptions {
        iterations: job.iterations,
        seed: job.seed,
        sampling: results::sampling_from_proto(
            v1::SamplingMethod::try_from(job.sampling).unwrap_or_default(),
        ),
        threads: shared.config.engine_threads,
        max_iterations: shared.config.max_iterations,
        ..SimulationOptions::default()
    };
    let engine = match v1::Engine::try_from(job.engine) {
        Ok(v1::Engine::Cpu) => ultra_gpu::EngineChoice::Cpu,
        Ok(v1::Engine::Gpu) => ultra_gpu::EngineChoice::Gpu,
        Ok(v1::Engine::Unspecified) | Err(_) => ultra_gpu::EngineChoice::Auto,
    };
    let outcome = runner::run(
        model,
        options,
        running.handles.clone(),
        shared.config.engine_nice,
        engine,
    )
    .await;
    ticker_stop.cancel();
    if let Err(error) = ticker.await {
        tracing::error!(error = %error, "progress ticker panicked");
    }
    // From here on the row changes (results, outcome): reads go to the database again.
    running.live.store(false, Ordering::Release);
    let completed = running.handles.completed.load(Ordering::Relaxed);
    match outcome {
        Ok(finished) => complete(shared, &job, finished).await,
        Err(RunError::Engine(EngineError::Cancelled)) => {
            let status = if running.user_cancelled.load(Ordering::Relaxed) {
                Status::Cancelled
            } else {
                Status::Interrupted
            };
            conclude(shared, &job, status, completed, 0.0, "", None).await;
        }
        Err(error) => {
            let reason = error.to_string();
            conclude(shared, &job, Status::Failed, completed, 0.0, &reason, None).await;
        }
    }
    shared.lock_running().remove(&job.id);
}

async fn load_model(shared: &Shared, job: &Job) -> Result<ultra_engine::Model, String> {
    let ir_json = match store::model_of(&shared.pool, &job.id).await {
        Ok(Some(ir_json)) => ir_json,
        Ok(None) => return Err("the model snapshot of this simulation is missing".to_owned()),
        Err(error) => return Err(format!("could not read the model: {error}")),
    };
    serde_json::from_str(&ir_json).map_err(|error| format!("the model is unreadable: {error}"))
}

/// Writes progress and a heartbeat while the job runs, broadcasts ticks, and picks up a
/// cancel requested through another instance.
async fn tick(shared: Arc<Shared>, job: Job, running: Running, stop: CancellationToken) {
    let mut interval = tokio::time::interval(shared.config.progress_interval);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let heartbeat_every = shared.config.lease / 4;
    let mut last_sent = 0;
    let mut last_heartbeat = Instant::now();
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = interval.tick() => {}
        }
        let completed = running.handles.completed.load(Ordering::Relaxed);
        if completed == last_sent && last_heartbeat.elapsed() < heartbeat_every {
            continue;
        }
        let written = store::heartbeat(
            &shared.pool,
            &job.id,
            &shared.config.instance_id,
            completed,
            ultra_bus::now_ms(),
        )
        .await;
        last_heartbeat = Instant::now();
        if let Ok(Some(_)) = written {
            running.reported.store(completed, Ordering::Release);
        }
        match written {
            Ok(Some(true)) => {
                running.user_cancelled.store(true, Ordering::Relaxed);
                running.handles.cancel.store(true, Ordering::Relaxed);
            }
            Ok(Some(false)) => {}
            Ok(None) => {
                running.live.store(false, Ordering::Release);
                tracing::warn!(simulation_id = %job.id, "simulation taken over elsewhere; stopping");
                running.handles.cancel.store(true, Ordering::Relaxed);
            }
            Err(error) => {
                tracing::warn!(simulation_id = %job.id, error = %error, "progress write failed")
            }
        }
        if completed != last_sent {
            shared.broadcast(&job, Status::Running, completed).await;
            last_sent = completed;
        }
    }
}

/// Stores the results (idempotent, retried), then completes the job with its usage event.
async fn complete(shared: &Shared, job: &Job, finished: Finished) {
    let elapsed = finished.elapsed;
    let facts = RunFacts {
        simulation_id: &job.id,
        org_id: &job.org_id,
        engine: &finished.result.engine,
        elapsed_ms: elapsed.as_secs_f64() * 1e3,
    };
    let request = v1::StoreResultsRequest {
        caller: Some(job.caller()),
        results: Some(results::to_proto(&finished.result, &facts)),
    };
    if let Err(status) = store_results(shared, request).await {
        let (status_after, reason) = if shared.shutdown.is_cancelled() {
            (Status::Interrupted, String::new())
        } else {
            (
                Status::Failed,
                format!("could not store the results: {}", status.message()),
            )
        };
        conclude(
            shared,
            job,
            status_after,
            job.iterations,
            0.0,
            &reason,
            None,
        )
        .await;
        return;
    }
    if let Some(store) = &shared.samples {
        // Before the job completes, so a completed job has its samples; rewritten whole if
        // the job is rerun after a crash. Not fatal: the summaries are what the API serves.
        match crate::samples::keep(store, &job.org_id, &job.id, &finished.result).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::info!(simulation_id = %job.id, "no raw samples kept (none, or too large)")
            }
            Err(error) => {
                tracing::warn!(simulation_id = %job.id, %error, "could not keep the raw samples")
            }
        }
    }
    let usage = Usage {
        evaluated_cells: finished.result.evaluated_nodes as u64,
        compute_units: finished.result.compute_units,
        wall_seconds: elapsed.as_secs_f64(),
        engine: &finished.result.engine,
    };
    let compute_units = usage.compute_units;
    conclude(
        shared,
        job,
        Status::Completed,
        job.iterations,
        compute_units,
        "",
        Some(usage),
    )
    .await;
}

async fn store_results(
    shared: &Shared,
    request: v1::StoreResultsRequest,
) -> Result<(), tonic::Status> {
    let mut delay = Duration::from_millis(100);
    let mut attempt = 1;
    let caller = request.caller.clone().unwrap_or_default();
    loop {
        let mut client = shared.results.clone();
        // Signed afresh for each attempt: the metadata lives a minute.
        let signed = shared
            .config
            .caller_auth
            .peer_request(&caller, request.clone())?;
        match client.store_results(signed).await {
            Ok(_) => return Ok(()),
            Err(status) if attempt >= STORE_ATTEMPTS || is_permanent(&status) => {
                return Err(status);
            }
            Err(status) => {
                tracing::warn!(attempt, status = %status, "storing results failed; retrying");
            }
        }
        tokio::time::sleep(delay).await;
        delay *= 2;
        attempt += 1;
    }
}

fn is_permanent(status: &tonic::Status) -> bool {
    matches!(
        status.code(),
        tonic::Code::InvalidArgument | tonic::Code::NotFound | tonic::Code::Unauthenticated
    )
}

/// Records how a job ended, with its event in the same transaction, and tells watchers.
async fn conclude(
    shared: &Shared,
    job: &Job,
    status: Status,
    completed_iterations: u64,
    compute_units: f64,
    error: &str,
    usage: Option<Usage<'_>>,
) {
    let outcome = Outcome {
        status,
        completed_iterations,
        compute_units,
        error,
    };
    let mut event = match (status, &usage) {
        (Status::Completed, Some(usage)) => Some(events::completed(job, usage)),
        (Status::Failed, _) => Some(events::failed(job, error)),
        (Status::Cancelled, _) => Some(events::cancelled(job, completed_iterations)),
        _ => None,
    };
    let written = async {
        let mut tx = shared.pool.begin().await?;
        let changed = store::finish(
            &mut tx,
            &job.id,
            &shared.config.instance_id,
            &outcome,
            ultra_bus::now_ms(),
        )
        .await?;
        if changed && let Some(event) = &mut event {
            // The submitter as recorded now: an erasure (GDPR) during the run replaced them
            // by a pseudonym, which the usage event must carry instead of the erased id.
            if let Some(user_id) = store::user_of(&mut tx, &job.id).await? {
                event.user_id = user_id;
            }
            ultra_store::enqueue(&mut tx, event).await?;
        }
        tx.commit().await?;
        shared.db.wake_relay();
        Result::<bool>::Ok(changed)
    }
    .await;
    match written {
        Ok(true) => {
            tracing::info!(simulation_id = %job.id, status = status.as_str(), error, "simulation ended");
            shared.broadcast(job, status, completed_iterations).await;
        }
        Ok(false) => {
            tracing::warn!(simulation_id = %job.id, "simulation was taken over; its outcome here is dropped");
        }
        // The job stays running with a stale heartbeat: the sweeper recovers it.
        Err(error) => {
            tracing::error!(simulation_id = %job.id, error = %error, "could not record the end of a simulation")
        }
    }
}
