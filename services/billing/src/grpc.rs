//! The `BillingService` gRPC server.

use tonic::{Request, Response, Status};
use ultra_proto::v1;
use ultra_proto::v1::billing_service_server::BillingService;

use crate::error::{Error, Result};
use crate::store;

pub struct BillingGrpc {
    pool: sqlx::AnyPool,
}

impl BillingGrpc {
    pub fn new(pool: sqlx::AnyPool) -> BillingGrpc {
        BillingGrpc { pool }
    }
}

/// `[from_ms, to_ms)` of a request: `to_ms = 0` means now (no end).
pub fn range(from_ms: i64, to_ms: i64) -> Result<(i64, i64)> {
    let to_ms = if to_ms == 0 { i64::MAX } else { to_ms };
    if from_ms < 0 || to_ms < from_ms {
        return Err(Error::InvalidArgument(
            "the range must have 0 <= from_ms <= to_ms (to_ms = 0: now)".to_owned(),
        ));
    }
    Ok((from_ms, to_ms))
}

#[tonic::async_trait]
impl BillingService for BillingGrpc {
    /// The caller organisation's usage (compute units, GPU seconds, simulations,
    /// iterations) of the simulations completed in `[from_ms, to_ms)`.
    async fn get_usage(
        &self,
        request: Request<v1::GetUsageRequest>,
    ) -> Result<Response<v1::Usage>, Status> {
        let request = request.into_inner();
        let caller = ultra_rpc::authorize(
            request.caller.as_ref(),
            ultra_rpc::Permission::OrganizationBilling,
        )?;
        let (from_ms, to_ms) = range(request.from_ms, request.to_ms)?;
        let usage = store::usage(&self.pool, &caller.org_id, from_ms, to_ms).await?;
        Ok(Response::new(usage))
    }
}

/// The caller's ledger rows, for the GDPR export.
pub struct BillingExport {
    pool: sqlx::AnyPool,
}

impl BillingExport {
    pub fn new(pool: sqlx::AnyPool) -> BillingExport {
        BillingExport { pool }
    }
}

#[tonic::async_trait]
impl ultra_rpc::privacy::UserDataExporter for BillingExport {
    async fn export(&self, caller: &v1::Caller) -> Result<String, Status> {
        Ok(store::export(&self.pool, &caller.org_id, &caller.user_id).await?)
    }
}
