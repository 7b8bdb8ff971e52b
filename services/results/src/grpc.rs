//! The `ResultsService` gRPC server.

use tonic::{Request, Response, Status};
use ultra_proto::v1;
use ultra_proto::v1::results_service_server::ResultsService;

use crate::error::Error;
use crate::store;

pub struct ResultsGrpc {
    pool: sqlx::AnyPool,
}

impl ResultsGrpc {
    pub fn new(pool: sqlx::AnyPool) -> ResultsGrpc {
        ResultsGrpc { pool }
    }
}

#[tonic::async_trait]
impl ResultsService for ResultsGrpc {
    /// Stores the results of a finished simulation under the caller's organisation.
    /// Idempotent: a second store for the same simulation is a no-op and succeeds, so the
    /// simulation service can retry after a lost reply.
    async fn store_results(
        &self,
        request: Request<v1::StoreResultsRequest>,
    ) -> Result<Response<v1::StoreResultsResponse>, Status> {
        let request = request.into_inner();
        let caller = ultra_rpc::caller(request.caller.as_ref())?;
        let Some(results) = request.results.as_ref() else {
            return Err(Error::InvalidArgument("results are required".to_owned()).into());
        };
        ultra_rpc::validate_id("results.simulation_id", &results.simulation_id)
            .map_err(Error::InvalidArgument)?;
        if !results.org_id.is_empty() && results.org_id != caller.org_id {
            return Err(Error::InvalidArgument(
                "results.org_id differs from the caller's organisation".to_owned(),
            )
            .into());
        }
        if !results.elapsed_ms.is_finite() || !results.compute_units.is_finite() {
            return Err(Error::InvalidArgument(
                "elapsed_ms and compute_units must be finite".to_owned(),
            )
            .into());
        }
        let stored =
            store::insert(&self.pool, &caller.org_id, results, ultra_bus::now_ms()).await?;
        tracing::info!(
            simulation_id = %results.simulation_id,
            org_id = %caller.org_id,
            stored,
            "results stored"
        );
        Ok(Response::new(v1::StoreResultsResponse {}))
    }

    /// The results of a simulation of the caller's organisation; NOT_FOUND for another
    /// organisation's simulation and for one that has no results (yet).
    async fn get_results(
        &self,
        request: Request<v1::GetResultsRequest>,
    ) -> Result<Response<v1::SimulationResults>, Status> {
        let request = request.into_inner();
        let caller = ultra_rpc::caller(request.caller.as_ref())?;
        ultra_rpc::validate_id("simulation_id", &request.simulation_id)
            .map_err(|_| Error::NotFound)?;
        match store::get(&self.pool, &caller.org_id, &request.simulation_id).await? {
            Some(results) => Ok(Response::new(results)),
            None => Err(Error::NotFound.into()),
        }
    }
}
