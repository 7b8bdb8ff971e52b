//! `/v1/api-keys`: the organisation's API keys, for pipelines (`Authorization: Bearer
//! ultra_...`). Creating, listing and revoking need `organization.manage` (admins). A key's
//! scopes are permission names (`results.view`, `simulation.create`, ...) within its
//! creator's role, never `organization.manage`; the key is in the creation response only
//! (stored hashed). A revoked key stops working at once through this gateway and within
//! 30 s through the others (their cache of verified keys).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use ultra_proto::v1 as pb;
use utoipa::ToSchema;

use crate::AppState;
use crate::auth::Permission;
use crate::extract::{ApiJson, Authenticated};
use crate::problem::{ApiResult, Problem};
use crate::tenancy::Resource;

/// An API key's metadata (never the key).
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyView {
    pub id: String,
    pub name: String,
    /// The key's first characters, to tell keys apart.
    pub prefix: String,
    pub scopes: Vec<String>,
    pub created_by: String,
    pub created_at_ms: i64,
    /// Absent: never expires.
    pub expires_at_ms: Option<i64>,
    /// Absent: never used. Recorded at most once a minute.
    pub last_used_at_ms: Option<i64>,
    /// Absent: active.
    pub revoked_at_ms: Option<i64>,
}

fn non_zero(value: i64) -> Option<i64> {
    (value != 0).then_some(value)
}

impl From<pb::ApiKey> for ApiKeyView {
    fn from(key: pb::ApiKey) -> Self {
        ApiKeyView {
            id: key.id,
            name: key.name,
            prefix: key.prefix,
            scopes: key.scopes,
            created_by: key.created_by,
            created_at_ms: key.created_at_ms,
            expires_at_ms: non_zero(key.expires_at_ms),
            last_used_at_ms: non_zero(key.last_used_at_ms),
            revoked_at_ms: non_zero(key.revoked_at_ms),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKeyBody {
    pub name: String,
    /// Permission names, e.g. `["results.view", "simulation.read"]`.
    pub scopes: Vec<String>,
    /// Milliseconds since the epoch, in the future; absent: never expires.
    #[serde(default)]
    pub expires_at_ms: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedApiKeyView {
    pub key: ApiKeyView,
    /// `ultra_...`: shown this once; send it as `Authorization: Bearer <secret>`.
    pub secret: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyList {
    pub keys: Vec<ApiKeyView>,
}

/// Creates an API key (admins only); the response is the only time the key is shown.
#[utoipa::path(post, path = "/v1/api-keys", tag = "api-keys", security(("bearer" = [])),
    request_body = CreateApiKeyBody,
    responses((status = 201, body = CreatedApiKeyView), (status = 400, body = Problem),
              (status = 403, body = Problem)))]
pub async fn create(
    State(state): State<AppState>,
    auth: Authenticated,
    ApiJson(body): ApiJson<CreateApiKeyBody>,
) -> ApiResult<(StatusCode, Json<CreatedApiKeyView>)> {
    let caller = auth.require(Permission::OrganizationManage)?.clone();
    let request = auth.request(pb::CreateApiKeyRequest {
        caller: Some(caller),
        name: body.name,
        scopes: body.scopes,
        expires_at_ms: body.expires_at_ms.unwrap_or(0),
    })?;
    let created = state
        .upstreams
        .orgs
        .clone()
        .create_api_key(request)
        .await?
        .into_inner();
    Ok((
        StatusCode::CREATED,
        Json(CreatedApiKeyView {
            key: ApiKeyView::from(created.key.unwrap_or_default()),
            secret: created.secret,
        }),
    ))
}

/// The organisation's API keys (revoked ones included), newest first.
#[utoipa::path(get, path = "/v1/api-keys", tag = "api-keys", security(("bearer" = [])),
    responses((status = 200, body = ApiKeyList), (status = 403, body = Problem)))]
pub async fn list(
    State(state): State<AppState>,
    auth: Authenticated,
) -> ApiResult<Json<ApiKeyList>> {
    let caller = auth.require(Permission::OrganizationManage)?.clone();
    let request = auth.request(pb::ListApiKeysRequest {
        caller: Some(caller),
    })?;
    let response = state
        .upstreams
        .orgs
        .clone()
        .list_api_keys(request)
        .await?
        .into_inner();
    Ok(Json(ApiKeyList {
        keys: response.keys.into_iter().map(ApiKeyView::from).collect(),
    }))
}

/// Revokes an API key (admins only; idempotent).
#[utoipa::path(delete, path = "/v1/api-keys/{id}", tag = "api-keys", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn revoke(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(key_id): Path<String>,
) -> ApiResult<StatusCode> {
    let caller = auth
        .require_or_not_found(
            &state,
            Permission::OrganizationManage,
            Resource::ApiKey(&key_id),
        )
        .await?
        .clone();
    let request = auth.request(pb::RevokeApiKeyRequest {
        caller: Some(caller),
        key_id: key_id.clone(),
    })?;
    state.upstreams.orgs.clone().revoke_api_key(request).await?;
    state.api_keys.forget(&key_id);
    Ok(StatusCode::NO_CONTENT)
}
