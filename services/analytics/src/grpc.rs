//! The `AnalyticsService` gRPC server.

use tonic::{Request, Response, Status};
use ultra_proto::v1;
use ultra_proto::v1::analytics_service_server::AnalyticsService;

use crate::error::{Error, Result};
use crate::store;

pub struct AnalyticsGrpc {
    pool: sqlx::AnyPool,
}

impl AnalyticsGrpc {
    pub fn new(pool: sqlx::AnyPool) -> AnalyticsGrpc {
        AnalyticsGrpc { pool }
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
impl AnalyticsService for AnalyticsGrpc {
    /// The caller organisation's simulations, iterations and compute units of the
    /// simulations completed in `[from_ms, to_ms)`, in total and per user.
    async fn get_usage_report(
        &self,
        request: Request<v1::UsageReportRequest>,
    ) -> Result<Response<v1::UsageReport>, Status> {
        let request = request.into_inner();
        let caller = ultra_rpc::authorize(
            request.caller.as_ref(),
            ultra_rpc::Permission::OrganizationAnalytics,
        )?;
        let (from_ms, to_ms) = range(request.from_ms, request.to_ms)?;
        let report = store::report(&self.pool, &caller.org_id, from_ms, to_ms).await?;
        Ok(Response::new(report))
    }
}

/// The caller's usage rows, for the GDPR export.
pub struct AnalyticsExport {
    pool: sqlx::AnyPool,
}

impl AnalyticsExport {
    pub fn new(pool: sqlx::AnyPool) -> AnalyticsExport {
        AnalyticsExport { pool }
    }
}

#[tonic::async_trait]
impl ultra_rpc::privacy::UserDataExporter for AnalyticsExport {
    async fn export(&self, caller: &v1::Caller) -> Result<String, Status> {
        Ok(store::export(&self.pool, &caller.org_id, &caller.user_id).await?)
    }
}
