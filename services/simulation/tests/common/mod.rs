//! A harness for the simulation service: the real results service and the simulation
//! service on loopback ports, with SQLite files in a temp dir (or databases of a private
//! PostgreSQL server), and a files-service stand-in that serves compiled models per
//! organisation (the files service's own tests cover upload; here only `GetCompiledModel`
//! matters).

#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;
use tonic::{Request, Response, Status};
use ultra_proto::v1;
use ultra_proto::v1::files_service_server::{FilesService, FilesServiceServer};
use ultra_proto::v1::results_service_client::ResultsServiceClient;
use ultra_proto::v1::simulation_service_client::SimulationServiceClient;
use ultra_testkit::PostgresServer;

pub const NPV10_IR: &str = include_str!("../../../../examples/npv10.ir.json");

/// One uniform input, one output: cheap per iteration, for long cancellable runs.
pub const UNIFORM_IR: &str = r#"{"nodes": [
    {"id": 1, "op": "const", "value": 0},
    {"id": 2, "op": "const", "value": 1},
    {"id": 3, "label": "u", "op": "input", "distribution": {"family": "uniform"}, "params": [1, 2]},
    {"id": 4, "op": "output", "name": "U", "arg": 3}]}"#;

/// Compiled models by (org, model id).
#[derive(Clone, Default)]
pub struct Models(Arc<Mutex<HashMap<(String, String), String>>>);

impl Models {
    pub fn add(&self, org_id: &str, model_id: &str, ir_json: &str) {
        self.0
            .lock()
            .expect("models lock")
            .insert((org_id.to_owned(), model_id.to_owned()), ir_json.to_owned());
    }
}

#[tonic::async_trait]
impl FilesService for Models {
    async fn upload_model(
        &self,
        _request: Request<tonic::Streaming<v1::UploadModelRequest>>,
    ) -> Result<Response<v1::Model>, Status> {
        Err(Status::unimplemented("stand-in"))
    }
    async fn get_model(
        &self,
        _request: Request<v1::GetModelRequest>,
    ) -> Result<Response<v1::Model>, Status> {
        Err(Status::unimplemented("stand-in"))
    }
    async fn list_models(
        &self,
        _request: Request<v1::ListModelsRequest>,
    ) -> Result<Response<v1::ListModelsResponse>, Status> {
        Err(Status::unimplemented("stand-in"))
    }
    async fn delete_model(
        &self,
        _request: Request<v1::DeleteModelRequest>,
    ) -> Result<Response<v1::DeleteModelResponse>, Status> {
        Err(Status::unimplemented("stand-in"))
    }
    async fn get_compiled_model(
        &self,
        request: Request<v1::GetModelRequest>,
    ) -> Result<Response<v1::CompiledModel>, Status> {
        let request = request.into_inner();
        let org_id = request
            .caller
            .map(|caller| caller.org_id)
            .unwrap_or_default();
        let models = self.0.lock().expect("models lock");
        match models.get(&(org_id, request.model_id.clone())) {
            Some(ir_json) => Ok(Response::new(v1::CompiledModel {
                model_id: request.model_id,
                ir_json: ir_json.clone(),
            })),
            None => Err(Status::not_found("model not found")),
        }
    }
}

/// The peers (results, files stand-in) and a temp dir, shared across simulation restarts.
pub struct Platform {
    pub dir: tempfile::TempDir,
    pub bus: ultra_bus::Bus,
    pub models: Models,
    pub files_url: String,
    pub results_url: String,
    pub results: ResultsServiceClient<Channel>,
    database_url: String,
    peers_shutdown: CancellationToken,
    /// The server behind `database_url` when on PostgreSQL (dropped, i.e. killed, last).
    postgres: Option<PostgresServer>,
}

/// A running simulation service.
pub struct Simulation {
    pub client: SimulationServiceClient<Channel>,
    pub shutdown: CancellationToken,
    pub task: JoinHandle<Result<(), ultra_simulation::Error>>,
}

async fn listener() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    (listener, url)
}

impl Platform {
    /// Both services on SQLite files in a temp dir.
    pub async fn start() -> Platform {
        let dir = tempfile::tempdir().expect("temp dir");
        let sqlite = |name: &str| format!("sqlite://{}", dir.path().join(name).display());
        let (simulation_url, results_url) = (sqlite("simulation.db"), sqlite("results.db"));
        Platform::start_with(dir, simulation_url, results_url, None).await
    }

    /// Both services on their own database of a private PostgreSQL server.
    pub async fn start_on_postgres() -> Platform {
        let dir = tempfile::tempdir().expect("temp dir");
        let (server, simulation_url, results_url) = tokio::task::block_in_place(|| {
            let server = PostgresServer::start().expect("start postgres");
            let simulation = server.create_database("simulation").expect("database");
            let results = server.create_database("results").expect("database");
            (server, simulation, results)
        });
        Platform::start_with(dir, simulation_url, results_url, Some(server)).await
    }

    async fn start_with(
        dir: tempfile::TempDir,
        database_url: String,
        results_database_url: String,
        postgres: Option<PostgresServer>,
    ) -> Platform {
        let bus = ultra_bus::Bus::in_process();
        let peers_shutdown = CancellationToken::new();
        let (results_listener, results_url) = listener().await;
        let results_config = ultra_results::Config::new(&results_database_url);
        tokio::spawn(ultra_results::serve(
            results_config,
            bus.clone(),
            results_listener,
            peers_shutdown.clone(),
        ));
        let models = Models::default();
        let (files_listener, files_url) = listener().await;
        let routes = tonic::service::Routes::new(FilesServiceServer::new(models.clone()));
        tokio::spawn(ultra_rpc::serve(
            files_listener,
            routes,
            peers_shutdown.clone(),
        ));
        let results = ResultsServiceClient::new(
            ultra_rpc::lazy_channel(&results_url).expect("results channel"),
        );
        Platform {
            dir,
            bus,
            models,
            files_url,
            results_url,
            results,
            database_url,
            peers_shutdown,
            postgres,
        }
    }

    pub fn database_url(&self) -> String {
        self.database_url.clone()
    }

    pub fn config(&self) -> ultra_simulation::Config {
        let mut config =
            ultra_simulation::Config::new(&self.database_url(), &self.files_url, &self.results_url);
        config.lease = Duration::from_secs(2);
        config.progress_interval = Duration::from_millis(20);
        // One engine thread: long runs stay long enough to be cancelled or interrupted
        // mid-way, even on a many-core machine.
        config.engine_threads = Some(1);
        config
    }

    pub async fn start_simulation(&self, config: ultra_simulation::Config) -> Simulation {
        let (listener, url) = listener().await;
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(ultra_simulation::serve(
            config,
            self.bus.clone(),
            listener,
            shutdown.clone(),
        ));
        let client = SimulationServiceClient::new(ultra_rpc::lazy_channel(&url).expect("channel"));
        Simulation {
            client,
            shutdown,
            task,
        }
    }
}

impl Drop for Platform {
    fn drop(&mut self) {
        self.peers_shutdown.cancel();
    }
}

impl Simulation {
    pub async fn stop(self) {
        self.shutdown.cancel();
        let served = tokio::time::timeout(Duration::from_secs(20), self.task)
            .await
            .expect("simulation service stops in time")
            .expect("serve task joins");
        served.expect("simulation service ends cleanly");
    }
}

pub fn caller(org_id: &str) -> Option<v1::Caller> {
    Some(v1::Caller {
        org_id: org_id.to_owned(),
        user_id: format!("{org_id}-user"),
        role: v1::Role::Analyst as i32,
    })
}

pub fn submit(org_id: &str, model_id: &str, iterations: u64) -> v1::SubmitRequest {
    v1::SubmitRequest {
        caller: caller(org_id),
        model_id: model_id.to_owned(),
        iterations,
        seed: 42,
        sampling: v1::SamplingMethod::MonteCarlo as i32,
        engine: v1::Engine::Unspecified as i32,
        ..Default::default()
    }
}

pub fn get(org_id: &str, simulation_id: &str) -> v1::GetSimulationRequest {
    v1::GetSimulationRequest {
        caller: caller(org_id),
        simulation_id: simulation_id.to_owned(),
    }
}

/// Polls until the simulation has `status`, or panics after `timeout`.
pub async fn wait_for(
    client: &mut SimulationServiceClient<Channel>,
    org_id: &str,
    simulation_id: &str,
    status: v1::SimulationStatus,
    timeout: Duration,
) -> v1::Simulation {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let simulation = client
            .get_simulation(get(org_id, simulation_id))
            .await
            .expect("get simulation")
            .into_inner();
        if simulation.status == status as i32 {
            return simulation;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "simulation {simulation_id} still {:?} (error {:?}), expected {status:?}",
            simulation.status(),
            simulation.error
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
