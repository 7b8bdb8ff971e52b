//! The `SimulationService` gRPC server: submit (validate, snapshot the model, queue, return
//! at once), read, list, cancel and watch. Runs happen in the worker pool (`worker.rs`).

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;
use tonic::{Request, Response, Status as GrpcStatus};
use ultra_proto::v1;
use ultra_proto::v1::files_service_client::FilesServiceClient;
use ultra_proto::v1::simulation_service_server::SimulationService;

use crate::error::{Error, Result};
use crate::events;
use crate::store::{self, Job, Status};
use crate::worker::Shared;

/// Page size of `ListSimulations` when the request leaves it at 0, and its upper bound.
const DEFAULT_PAGE_SIZE: u32 = 50;
const MAX_PAGE_SIZE: u32 = 500;
/// How long `Cancel` waits for a running job to stop before answering (it stops at the
/// engine's next chunk, usually within milliseconds).
const CANCEL_WAIT: Duration = Duration::from_secs(5);
/// How often `WatchProgress` re-reads the job in case a tick was lost (pub/sub is lossy).
const WATCH_RECHECK: Duration = Duration::from_secs(1);

pub struct SimulationGrpc {
    shared: Arc<Shared>,
    files: FilesServiceClient<Channel>,
}

impl SimulationGrpc {
    pub fn new(shared: Arc<Shared>, files: FilesServiceClient<Channel>) -> SimulationGrpc {
        SimulationGrpc { shared, files }
    }

    async fn job(&self, caller: &v1::Caller, simulation_id: &str) -> Result<Job> {
        let not_found = || Error::NotFound(format!("simulation {simulation_id:?} not found"));
        if ultra_rpc::validate_id("simulation_id", simulation_id).is_err() {
            return Err(Error::NotFound("simulation not found".to_owned()));
        }
        // A job running here is answered from memory (what the database holds for it, kept
        // by its ticker): progress polling then costs no query. Same tenancy as the query.
        let live = self
            .shared
            .lock_running()
            .get(simulation_id)
            .and_then(|running| running.snapshot());
        if let Some(job) = live.filter(|job| job.org_id == caller.org_id) {
            return Ok(job);
        }
        store::get(&self.shared.pool, &caller.org_id, simulation_id)
            .await?
            .ok_or_else(not_found)
    }

    async fn submit(&self, caller: &v1::Caller, request: v1::SubmitRequest) -> Result<Job> {
        let max = self.shared.config.max_iterations;
        if request.iterations == 0 {
            return Err(Error::InvalidArgument(
                "iterations must be at least 1".to_owned(),
            ));
        }
        if request.iterations > max {
            return Err(Error::InvalidArgument(format!(
                "{} iterations requested, above the cap of {max}",
                request.iterations
            )));
        }
        let sampling = v1::SamplingMethod::try_from(request.sampling).map_err(|_| {
            Error::InvalidArgument(format!("unknown sampling method {}", request.sampling))
        })?;
        let engine = v1::Engine::try_from(request.engine)
            .map_err(|_| Error::InvalidArgument(format!("unknown engine {}", request.engine)))?;
        if engine == v1::Engine::Gpu {
            // Opening the device the first time takes a moment: off the async runtime.
            tokio::task::spawn_blocking(ultra_gpu::GpuDevice::shared)
                .await
                .map_err(|error| Error::NoGpu(error.to_string()))?
                .map_err(|error| Error::NoGpu(error.to_string()))?;
        }
        ultra_rpc::validate_id("model_id", &request.model_id).map_err(Error::InvalidArgument)?;
        let plan = self.plan_limits(request.plan_tier);
        if let Some((tier, limits)) = plan
            && request.iterations > limits.max_iterations_per_run
        {
            return Err(Error::PlanLimit {
                concurrent: false,
                message: format!(
                    "the {tier} plan allows at most {} iterations per run; {} requested",
                    limits.max_iterations_per_run, request.iterations
                ),
            });
        }
        let compiled_request = self
            .shared
            .config
            .caller_auth
            .peer_request(
                caller,
                v1::GetModelRequest {
                    caller: Some(caller.clone()),
                    model_id: request.model_id.clone(),
                    inputs: request.inputs,
                    outputs: request.outputs,
                },
            )
            .map_err(|status| Error::from_peer("files", status))?;
        let compiled = self
            .files
            .clone()
            .get_compiled_model(compiled_request)
            .await
            .map_err(|status| Error::from_peer("files", status))?
            .into_inner();
        let model: ultra_engine::Model =
            serde_json::from_str(&compiled.ir_json).map_err(|error| Error::Peer {
                service: "files",
                status: GrpcStatus::internal(format!("unreadable compiled model: {error}")),
            })?;
        model
            .validate()
            .map_err(|error| Error::InvalidArgument(format!("invalid model: {error}")))?;
        let job = Job {
            id: uuid::Uuid::now_v7().to_string(),
            org_id: caller.org_id.clone(),
            user_id: caller.user_id.clone(),
            role: caller.role,
            model_id: request.model_id,
            iterations: request.iterations,
            seed: request.seed,
            sampling: sampling as i32,
            engine: engine as i32,
            status: Status::Queued,
            completed_iterations: 0,
            error: String::new(),
            compute_units: 0.0,
            attempts: 0,
            cancel_requested: false,
            created_at_ms: ultra_bus::now_ms(),
            started_at_ms: None,
            finished_at_ms: None,
            // The tier is the gateway's word from the verified token; anything missing or
            // unknown weighs 1.
            weight: crate::fair_share::weight(request.plan_tier),
        };
        if let Some((tier, limits)) = plan {
            // Counted just before the insert, not in its transaction (a read that upgrades to
            // a write fails on a busy SQLite): two submissions racing may both pass.
            let mut conn = self.shared.pool.acquire().await?;
            let active = store::count_active(&mut conn, &caller.org_id).await?;
            if active >= u64::from(limits.max_concurrent_simulations) {
                return Err(Error::PlanLimit {
                    concurrent: true,
                    message: format!(
                        "the {tier} plan allows {} simulation(s) queued or running at once \
                         and {active} are: retry when one finishes, or cancel one",
                        limits.max_concurrent_simulations
                    ),
                });
            }
        }
        let mut tx = self.shared.pool.begin().await?;
        store::insert(&mut tx, &job, &compiled.ir_json).await?;
        ultra_store::enqueue(&mut tx, &events::submitted(&job)).await?;
        tx.commit().await?;
        self.shared.db.wake_relay();
        self.shared.wake.notify_one();
        tracing::info!(simulation_id = %job.id, org_id = %job.org_id, iterations = job.iterations, "simulation queued");
        Ok(job)
    }

    /// The tier of a submission (the gateway's word from the verified token; missing or
    /// unknown is the lowest) and its limits, when this service enforces plans.
    fn plan_limits(
        &self,
        plan_tier: i32,
    ) -> Option<(ultra_auth::PlanTier, ultra_auth::PlanLimits)> {
        let table = self.shared.config.plan_limits.as_ref()?;
        let tier = v1::PlanTier::try_from(plan_tier)
            .ok()
            .and_then(ultra_auth::PlanTier::from_proto)
            .unwrap_or_default();
        Some((tier, *table.get(tier)))
    }

    async fn cancel(&self, caller: &v1::Caller, simulation_id: &str) -> Result<Job> {
        let job = self.job(caller, simulation_id).await?;
        match job.status {
            Status::Completed | Status::Failed => {
                return Err(Error::AlreadyFinished(job.status.as_str()));
            }
            Status::Cancelled => return Ok(job),
            Status::Queued | Status::Interrupted => {
                let mut tx = self.shared.pool.begin().await?;
                let now = ultra_bus::now_ms();
                if store::cancel_idle(&mut tx, &caller.org_id, &job.id, now).await? {
                    ultra_store::enqueue(&mut tx, &events::cancelled(&job, 0)).await?;
                    tx.commit().await?;
                    self.shared.db.wake_relay();
                    let tick = events::tick(&job, Status::Cancelled, 0);
                    let channel = events::progress_channel(&job.id);
                    if let Err(error) = self.shared.bus.broadcast(&channel, tick).await {
                        tracing::warn!(error = %error, "progress broadcast failed");
                    }
                    return self.job(caller, simulation_id).await;
                }
                // Claimed by a worker meanwhile: stop it like a running job.
            }
            Status::Running => {}
        }
        store::request_cancel(&self.shared.pool, &caller.org_id, &job.id).await?;
        if let Some(running) = self.shared.lock_running().get(&job.id) {
            running.user_cancelled.store(true, Ordering::Relaxed);
            running.handles.cancel.store(true, Ordering::Relaxed);
        }
        let deadline = Instant::now() + CANCEL_WAIT;
        loop {
            let current = self.job(caller, simulation_id).await?;
            if current.status.is_final() || Instant::now() >= deadline {
                return Ok(current);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn progress_of(job: &Job) -> v1::Progress {
    v1::Progress {
        simulation_id: job.id.clone(),
        status: job.status.to_proto() as i32,
        completed_iterations: job.completed_iterations,
        total_iterations: job.iterations,
    }
}

type ProgressStream =
    Pin<Box<dyn tokio_stream::Stream<Item = Result<v1::Progress, GrpcStatus>> + Send + 'static>>;

#[tonic::async_trait]
impl SimulationService for SimulationGrpc {
    /// Validates and queues a simulation; returns at once with status QUEUED. Errors:
    /// INVALID_ARGUMENT (iterations 0 or above `ULTRA_MAX_ITERATIONS`, unknown enum value,
    /// malformed model id), NOT_FOUND (no such model for the caller's organisation, from the
    /// files service), UNIMPLEMENTED (engine GPU: no GPU engine in this build),
    /// UNAVAILABLE (the files service is down).
    async fn submit(
        &self,
        request: Request<v1::SubmitRequest>,
    ) -> Result<Response<v1::Simulation>, GrpcStatus> {
        let request = request.into_inner();
        let caller = ultra_rpc::authorize(
            request.caller.as_ref(),
            ultra_rpc::Permission::SimulationCreate,
        )?
        .clone();
        let job = self.submit(&caller, request).await?;
        Ok(Response::new(job.to_proto()))
    }

    async fn get_simulation(
        &self,
        request: Request<v1::GetSimulationRequest>,
    ) -> Result<Response<v1::Simulation>, GrpcStatus> {
        let request = request.into_inner();
        let caller = ultra_rpc::caller(request.caller.as_ref())?;
        let job = self.job(caller, &request.simulation_id).await?;
        Ok(Response::new(job.to_proto()))
    }

    /// The caller organisation's simulations, newest first, paged by an opaque token.
    async fn list_simulations(
        &self,
        request: Request<v1::ListSimulationsRequest>,
    ) -> Result<Response<v1::ListSimulationsResponse>, GrpcStatus> {
        let request = request.into_inner();
        let caller = ultra_rpc::caller(request.caller.as_ref())?;
        let page = request.page.unwrap_or_default();
        let size = match page.page_size {
            0 => DEFAULT_PAGE_SIZE,
            size => size.min(MAX_PAGE_SIZE),
        };
        let after = match page.page_token.as_str() {
            "" => None,
            token => Some(parse_page_token(token)?),
        };
        let mut jobs = store::list(
            &self.shared.pool,
            &caller.org_id,
            after.as_ref().map(|(created, id)| (*created, id.as_str())),
            i64::from(size) + 1,
        )
        .await?;
        let next_page_token = if jobs.len() > size as usize {
            jobs.truncate(size as usize);
            jobs.last()
                .map(|last| format!("{}.{}", last.created_at_ms, last.id))
                .unwrap_or_default()
        } else {
            String::new()
        };
        Ok(Response::new(v1::ListSimulationsResponse {
            simulations: jobs.iter().map(Job::to_proto).collect(),
            next_page_token,
        }))
    }

    /// Cancels a queued or running simulation and answers with its state once it stopped
    /// (CANCELLED), or after a few seconds if it is slow to. FAILED_PRECONDITION when it
    /// already completed or failed; a cancelled one is answered as is.
    async fn cancel(
        &self,
        request: Request<v1::GetSimulationRequest>,
    ) -> Result<Response<v1::Simulation>, GrpcStatus> {
        let request = request.into_inner();
        let caller = ultra_rpc::authorize(
            request.caller.as_ref(),
            ultra_rpc::Permission::SimulationCreate,
        )?;
        let job = self.cancel(caller, &request.simulation_id).await?;
        Ok(Response::new(job.to_proto()))
    }

    type WatchProgressStream = ProgressStream;

    /// The current state, then every progress tick, ending with the final status. Ends
    /// early (without a final status) when the service shuts down.
    async fn watch_progress(
        &self,
        request: Request<v1::GetSimulationRequest>,
    ) -> Result<Response<Self::WatchProgressStream>, GrpcStatus> {
        let request = request.into_inner();
        let caller = ultra_rpc::caller(request.caller.as_ref())?.clone();
        // Listen before reading the state, so that no tick falls between the two.
        let mut listener = self
            .shared
            .bus
            .listen(&events::progress_channel(&request.simulation_id))
            .await;
        let job = self.job(&caller, &request.simulation_id).await?;
        let (sender, receiver) = mpsc::channel(16);
        let shared = Arc::clone(&self.shared);
        tokio::spawn(async move {
            if sender.send(Ok(progress_of(&job))).await.is_err() || job.status.is_final() {
                return;
            }
            let mut recheck = tokio::time::interval(WATCH_RECHECK);
            recheck.tick().await;
            loop {
                let progress = tokio::select! {
                    message = listener.next() => match message {
                        Some(payload) => events::progress_from_tick(&payload),
                        None => return,
                    },
                    _ = recheck.tick() => {
                        match store::get(&shared.pool, &caller.org_id, &job.id).await {
                            Ok(Some(current)) if current.status.is_final() => {
                                Some((current.status, progress_of(&current)))
                            }
                            Ok(_) => None,
                            Err(error) => {
                                let _ = sender.send(Err(GrpcStatus::from(error))).await;
                                return;
                            }
                        }
                    }
                    () = shared.shutdown.cancelled() => return,
                    () = sender.closed() => return,
                };
                if let Some((status, progress)) = progress
                    && (sender.send(Ok(progress)).await.is_err() || status.is_final())
                {
                    return;
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(receiver))))
    }
}

fn parse_page_token(token: &str) -> Result<(i64, String)> {
    let invalid = || Error::InvalidArgument("invalid page_token".to_owned());
    let (created, id) = token.split_once('.').ok_or_else(invalid)?;
    let created = created.parse::<i64>().map_err(|_| invalid())?;
    ultra_rpc::validate_id("page_token", id).map_err(|_| invalid())?;
    Ok((created, id.to_owned()))
}
