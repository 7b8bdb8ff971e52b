//! GDPR: `GET /v1/me/export` (everything the platform holds of the caller, gathered from
//! every service), `DELETE /v1/me` and `DELETE /v1/org` (erasure through the
//! `user.deleted` / `org.deleted` events), and `GET /v1/erasures/{id}` (each service's own
//! account of whether it has carried the erasure out).
//!
//! The erasure status is authorised by the status token handed out with the `202` of the
//! deletion, not by an access token: the erased user's tokens stop working with the
//! erasure. The status of a service is what that service answers from its own records
//! (`PrivacyService.GetErasureStatus`); one that does not answer is reported `unknown`,
//! never assumed done.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tonic::transport::Channel;
use ultra_proto::v1 as pb;
use ultra_proto::v1::privacy_service_client::PrivacyServiceClient;
use utoipa::ToSchema;

use crate::AppState;
use crate::extract::Authenticated;
use crate::problem::{ApiError, ApiResult, Problem};

/// How long one service may take to answer for its part of an export or a status.
const SERVICE_TIMEOUT: Duration = Duration::from_secs(5);

/// The caller's data, one section per service in that service's own shape.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExportView {
    pub exported_at_ms: i64,
    pub user_id: String,
    pub org_id: String,
    /// By service name (users: profile, memberships, API keys; files: models; simulation:
    /// simulations with links to their results; billing and analytics: usage rows).
    #[schema(value_type = Object)]
    pub services: BTreeMap<String, serde_json::Value>,
}

/// One service's part of an erasure.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceErasureView {
    pub service: String,
    /// `completed` (the service committed its deletions), `pending` (it has not yet), or
    /// `unknown` (it did not answer).
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completed_at_ms: Option<i64>,
}

/// An erasure and each service's progress on it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErasureView {
    pub id: String,
    /// `user` or `organization`.
    pub scope: String,
    pub org_id: String,
    pub requested_at_ms: i64,
    /// `completed` once every service reports completed, `in_progress` before.
    pub status: String,
    pub services: Vec<ServiceErasureView>,
    /// Where to follow it, with `Authorization: Bearer <status_token>`.
    pub status_url: String,
    /// Only in the `202` of the deletion: the secret that authorises the status URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_token: Option<String>,
}

/// Everything the platform holds of the caller, as one JSON document.
#[utoipa::path(get, path = "/v1/me/export", tag = "privacy", security(("bearer" = [])),
    responses((status = 200, body = ExportView), (status = 401, body = Problem),
              (status = 503, body = Problem)))]
pub async fn export(
    State(state): State<AppState>,
    auth: Authenticated,
) -> ApiResult<Json<ExportView>> {
    let caller = person(&auth)?.clone();
    let parts = state.upstreams.all.iter().map(|upstream| {
        let request = auth.request(pb::ExportUserDataRequest {
            caller: Some(caller.clone()),
        });
        let mut client = PrivacyServiceClient::new(upstream.channel.clone());
        async move {
            let answer = tokio::time::timeout(SERVICE_TIMEOUT, client.export_user_data(request?))
                .await
                .map_err(|_| {
                    ApiError::Upstream(tonic::Status::unavailable(format!(
                        "the {} service did not answer in time",
                        upstream.name
                    )))
                })??
                .into_inner();
            // A part that is not JSON is a bug in that service: fail rather than export less.
            let json: serde_json::Value = serde_json::from_str(&answer.json).map_err(|error| {
                tracing::error!(service = upstream.name, %error, "export part is not JSON");
                ApiError::Upstream(tonic::Status::internal("unreadable export part"))
            })?;
            Ok::<_, ApiError>((upstream.name.to_owned(), json))
        }
    });
    // An incomplete export must not look complete: any failing service fails the request.
    let services = futures_util::future::try_join_all(parts).await?;
    Ok(Json(ExportView {
        exported_at_ms: crate::now_ms(),
        user_id: caller.user_id,
        org_id: caller.org_id,
        services: services.into_iter().collect(),
    }))
}

/// Erases the caller in every service (`user.deleted`); `202` with each service's status;
/// 409 for the last admin of an organisation that has other members.
#[utoipa::path(delete, path = "/v1/me", tag = "privacy", security(("bearer" = [])),
    responses((status = 202, body = ErasureView), (status = 401, body = Problem),
              (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn delete_me(State(state): State<AppState>, auth: Authenticated) -> ApiResult<Response> {
    let request = auth.request(pb::EraseUserRequest {
        caller: Some(person(&auth)?.clone()),
    })?;
    let erasure = state
        .upstreams
        .erasure
        .clone()
        .erase_user(request)
        .await?
        .into_inner();
    Ok(accepted(&state, erasure).await)
}

/// Erases the caller's organisation in every service (`org.deleted`); admins only. `202`
/// with each service's status.
#[utoipa::path(delete, path = "/v1/org", tag = "privacy", security(("bearer" = [])),
    responses((status = 202, body = ErasureView), (status = 401, body = Problem),
              (status = 403, body = Problem)))]
pub async fn delete_org(State(state): State<AppState>, auth: Authenticated) -> ApiResult<Response> {
    let caller = person(&auth)?;
    // The users service checks the stored role again (defence in depth).
    if !matches!(pb::Role::try_from(caller.role), Ok(pb::Role::Admin)) {
        return Err(ApiError::Forbidden("organization.manage"));
    }
    let request = auth.request(pb::EraseOrganizationRequest {
        caller: Some(caller.clone()),
    })?;
    let erasure = state
        .upstreams
        .erasure
        .clone()
        .erase_organization(request)
        .await?
        .into_inner();
    Ok(accepted(&state, erasure).await)
}

/// An erasure's progress in every service, for the holder of its status token.
#[utoipa::path(get, path = "/v1/erasures/{id}", tag = "privacy",
    params(("id" = String, Path, description = "The erasure id from the deletion's answer")),
    responses((status = 200, body = ErasureView), (status = 401, body = Problem),
              (status = 404, body = Problem)))]
pub async fn erasure(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Json<ErasureView>> {
    let token = headers
        .get(header::AUTHORIZATION)
        .ok_or(ApiError::MissingToken)?
        .to_str()
        .ok()
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|token| !token.is_empty())
        .ok_or_else(|| ApiError::InvalidToken("expected `Bearer <status token>`".into()))?;
    let request = pb::GetErasureRequest {
        erasure_id: id,
        status_token: token.to_owned(),
    };
    let erasure = state
        .upstreams
        .erasure
        .clone()
        .get_erasure(request)
        .await?
        .into_inner();
    Ok(Json(view(&state, erasure).await))
}

/// The caller, if a person: data-subject rights (export, erasure) and deleting an
/// organisation are exercised with an access token, never with an API key.
fn person(auth: &Authenticated) -> ApiResult<&pb::Caller> {
    if auth.principal().api_key_id.is_some() {
        return Err(ApiError::Forbidden(
            "a person's access token (not an API key)",
        ));
    }
    Ok(&auth.0)
}

/// The `202 Accepted` of a deletion: the erasure's status now, its token, and `Location`.
async fn accepted(state: &AppState, mut erasure: pb::Erasure) -> Response {
    let token = std::mem::take(&mut erasure.status_token);
    let mut view = view(state, erasure).await;
    let location = HeaderValue::from_str(&view.status_url).ok();
    view.status_token = Some(token);
    let mut response = (StatusCode::ACCEPTED, Json(view)).into_response();
    if let Some(location) = location {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

/// Asks every service, in parallel, whether it has carried out `erasure`.
async fn view(state: &AppState, erasure: pb::Erasure) -> ErasureView {
    let asks = state
        .upstreams
        .all
        .iter()
        .map(|upstream| service_status(upstream.name, upstream.channel.clone(), &erasure));
    let services = futures_util::future::join_all(asks).await;
    let done = services.iter().all(|service| service.status == "completed");
    ErasureView {
        status_url: format!("/v1/erasures/{}", erasure.id),
        status: if done { "completed" } else { "in_progress" }.to_owned(),
        id: erasure.id,
        scope: erasure.scope,
        org_id: erasure.org_id,
        requested_at_ms: erasure.requested_at_ms,
        services,
        status_token: None,
    }
}

async fn service_status(
    name: &'static str,
    channel: Channel,
    erasure: &pb::Erasure,
) -> ServiceErasureView {
    let request = pb::GetErasureStatusRequest {
        erasure_id: erasure.id.clone(),
        org_id: erasure.org_id.clone(),
    };
    let mut client = PrivacyServiceClient::new(channel);
    let answer = tokio::time::timeout(SERVICE_TIMEOUT, client.get_erasure_status(request)).await;
    let (status, completed_at_ms) = match answer {
        Ok(Ok(response)) if response.get_ref().completed => {
            ("completed", Some(response.get_ref().completed_at_ms))
        }
        Ok(Ok(_)) => ("pending", None),
        Ok(Err(error)) => {
            tracing::warn!(service = name, %error, "erasure status unavailable");
            ("unknown", None)
        }
        Err(_) => {
            tracing::warn!(service = name, "erasure status timed out");
            ("unknown", None)
        }
    };
    ServiceErasureView {
        service: name.to_owned(),
        status: status.to_owned(),
        completed_at_ms,
    }
}
