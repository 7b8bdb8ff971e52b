//! `/v1/auth/*` and `/v1/me`: registration, login, refresh, logout, the current user. The
//! client's address, user agent and request id go to the users service, which records
//! these actions in the audit log and throttles failed logins.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use ultra_proto::v1 as pb;

use crate::AppState;
use crate::audit::Client;
use crate::extract::{ApiJson, Authenticated};
use crate::problem::{ApiError, ApiResult, Problem};
use crate::views::{RefreshBody, RegisterBody, TokenBody, TokenView, UserView};

/// Registers a user; with `organization_name`, a new organisation they administer.
#[utoipa::path(post, path = "/v1/auth/register", tag = "auth", request_body = RegisterBody,
    responses((status = 201, body = UserView),
              (status = 400, body = Problem, description = "`invalid-argument`: a bad email, \
               name, or a password that breaks the policy (12 to 256 characters, at least 5 \
               different ones, not the email, not a well-known password)"),
              (status = 409, body = Problem)))]
pub async fn register(
    State(state): State<AppState>,
    Client(client): Client,
    ApiJson(body): ApiJson<RegisterBody>,
) -> ApiResult<(StatusCode, Json<UserView>)> {
    let request = pb::RegisterRequest {
        email: body.email,
        password: body.password,
        display_name: body.display_name,
        organization_name: body.organization_name,
        client: Some(client),
    };
    let response = state
        .upstreams
        .users
        .clone()
        .register(ultra_rpc::traced(request))
        .await?
        .into_inner();
    let user = response.user.unwrap_or_default();
    Ok((StatusCode::CREATED, Json(UserView::from(user))))
}

/// Password login: a short-lived access token and a rotating refresh token. After 5 failed
/// logins in a row for an account (20 from one address), logins for it answer 429
/// `too-many-login-attempts` with `Retry-After` (30 s, doubling per further failure, at
/// most 15 min) without checking the password.
#[utoipa::path(post, path = "/v1/auth/token", tag = "auth", request_body = TokenBody,
    responses((status = 200, body = TokenView), (status = 401, body = Problem),
              (status = 429, body = Problem, description = "`too-many-login-attempts`; \
               retry after `Retry-After` seconds")))]
pub async fn token(
    State(state): State<AppState>,
    Client(client): Client,
    ApiJson(body): ApiJson<TokenBody>,
) -> ApiResult<Json<TokenView>> {
    let request = pb::LoginRequest {
        email: body.email,
        password: body.password,
        client: Some(client),
    };
    let pair = state
        .upstreams
        .users
        .clone()
        .login(ultra_rpc::traced(request))
        .await
        .map_err(ApiError::from_login)?
        .into_inner();
    Ok(Json(TokenView::from(pair)))
}

/// Exchanges a refresh token for a new pair; the old refresh token stops working.
#[utoipa::path(post, path = "/v1/auth/refresh", tag = "auth", request_body = RefreshBody,
    responses((status = 200, body = TokenView), (status = 401, body = Problem)))]
pub async fn refresh(
    State(state): State<AppState>,
    Client(client): Client,
    ApiJson(body): ApiJson<RefreshBody>,
) -> ApiResult<Json<TokenView>> {
    let request = pb::RefreshRequest {
        refresh_token: body.refresh_token,
        client: Some(client),
    };
    let pair = state
        .upstreams
        .users
        .clone()
        .refresh(ultra_rpc::traced(request))
        .await?
        .into_inner();
    Ok(Json(TokenView::from(pair)))
}

/// Logout: revokes the session the refresh token belongs to (it and every token rotated
/// from it). Unknown tokens are accepted too: 204 either way.
#[utoipa::path(post, path = "/v1/auth/logout", tag = "auth", request_body = RefreshBody,
    responses((status = 204), (status = 400, body = Problem)))]
pub async fn logout(
    State(state): State<AppState>,
    Client(client): Client,
    ApiJson(body): ApiJson<RefreshBody>,
) -> ApiResult<StatusCode> {
    let request = pb::RevokeRequest {
        refresh_token: body.refresh_token,
        client: Some(client),
    };
    state
        .upstreams
        .users
        .clone()
        .revoke(ultra_rpc::traced(request))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The authenticated user, with their organisation and role.
#[utoipa::path(get, path = "/v1/me", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = UserView), (status = 401, body = Problem)))]
pub async fn me(State(state): State<AppState>, auth: Authenticated) -> ApiResult<Json<UserView>> {
    let request = auth.request(pb::GetMeRequest {
        caller: Some(auth.0.clone()),
    })?;
    let user = state
        .upstreams
        .users
        .clone()
        .get_me(request)
        .await?
        .into_inner();
    Ok(Json(UserView::from(user)))
}
