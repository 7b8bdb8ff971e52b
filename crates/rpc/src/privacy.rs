//! `PrivacyService` (proto `privacy.proto`), the same for every service but for the export:
//! the erasure status is read from the service's own `erasures` table
//! ([`ultra_store::record_erasure`]), the export comes from the service's
//! [`UserDataExporter`].

use tonic::{Request, Response, Status};
use ultra_proto::v1::privacy_service_server::{PrivacyService, PrivacyServiceServer};
use ultra_proto::v1::{
    Caller, ExportUserDataRequest, GetErasureStatusRequest, ServiceErasureStatus, UserDataExport,
};

/// The gRPC name of the service, for health and reflection.
pub const SERVICE_NAME: &str = "ultra.v1.PrivacyService";

/// A service's records of one user, for `GET /v1/me/export`.
#[tonic::async_trait]
pub trait UserDataExporter: Send + Sync + 'static {
    /// The records of `caller.user_id` in `caller.org_id` (validated) as one JSON object.
    async fn export(&self, caller: &Caller) -> Result<String, Status>;
}

/// The `PrivacyService` of service `service` ("users", "files", ...).
pub struct Privacy<E> {
    service: &'static str,
    db: ultra_store::Db,
    exporter: E,
}

/// The tonic server of [`Privacy`], guarded by the service's `caller_auth` (an export acts
/// for the caller signed into the request's metadata), to add to a service's routes.
pub fn privacy_server<E: UserDataExporter>(
    service: &'static str,
    db: ultra_store::Db,
    exporter: E,
    caller_auth: &crate::CallerAuth,
) -> crate::Guarded<PrivacyServiceServer<Privacy<E>>> {
    caller_auth.guard(PrivacyServiceServer::new(Privacy {
        service,
        db,
        exporter,
    }))
}

#[tonic::async_trait]
impl<E: UserDataExporter> PrivacyService for Privacy<E> {
    async fn export_user_data(
        &self,
        request: Request<ExportUserDataRequest>,
    ) -> Result<Response<UserDataExport>, Status> {
        let request = request.into_inner();
        let caller = crate::caller(request.caller.as_ref())?;
        let json = self.exporter.export(caller).await?;
        Ok(Response::new(UserDataExport {
            service: self.service.to_owned(),
            json,
        }))
    }

    /// No caller is checked, deliberately: the gateway asks after the users service has
    /// checked the erasure's status token (`GetErasure`), when the erased user — or the
    /// whole organisation — no longer exists to sign a principal for. The answer is only
    /// whether and when this service completed the erasure `erasure_id` of `org_id`: no
    /// personal data, and nothing without the erasure's id (a random UUID). Like every
    /// service RPC it is reachable only on the internal network.
    async fn get_erasure_status(
        &self,
        request: Request<GetErasureStatusRequest>,
    ) -> Result<Response<ServiceErasureStatus>, Status> {
        let request = request.into_inner();
        crate::validate_id("erasure_id", &request.erasure_id)
            .and_then(|()| crate::validate_id("org_id", &request.org_id))
            .map_err(Status::invalid_argument)?;
        let completed_at =
            ultra_store::erasure_completed_at(&self.db, &request.erasure_id, &request.org_id)
                .await
                .map_err(|error| {
                    tracing::error!(%error, service = self.service, "erasure status unreadable");
                    Status::internal("internal error")
                })?;
        Ok(Response::new(ServiceErasureStatus {
            service: self.service.to_owned(),
            completed: completed_at.is_some(),
            completed_at_ms: completed_at.unwrap_or(0),
        }))
    }
}
