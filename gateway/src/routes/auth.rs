//! `/v1/auth/*` and `/v1/me`: registration, login, refresh, the current user.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use ultra_proto::v1 as pb;

use crate::AppState;
use crate::extract::{ApiJson, Authenticated};
use crate::problem::{ApiResult, Problem};
use crate::views::{RefreshBody, RegisterBody, TokenBody, TokenView, UserView};

/// Registers a user; with `organization_name`, a new organisation they administer.
#[utoipa::path(post, path = "/v1/auth/register", tag = "auth", request_body = RegisterBody,
    responses((status = 201, body = UserView), (status = 400, body = Problem),
              (status = 409, body = Problem)))]
pub async fn register(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<RegisterBody>,
) -> ApiResult<(StatusCode, Json<UserView>)> {
    let request = pb::RegisterRequest {
        email: body.email,
        password: body.password,
        display_name: body.display_name,
        organization_name: body.organization_name,
    };
    let response = state
        .upstreams
        .users
        .clone()
        .register(request)
        .await?
        .into_inner();
    let user = response.user.unwrap_or_default();
    Ok((StatusCode::CREATED, Json(UserView::from(user))))
}

/// Password login: a short-lived access token and a rotating refresh token.
#[utoipa::path(post, path = "/v1/auth/token", tag = "auth", request_body = TokenBody,
    responses((status = 200, body = TokenView), (status = 401, body = Problem)))]
pub async fn token(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<TokenBody>,
) -> ApiResult<Json<TokenView>> {
    let request = pb::LoginRequest {
        email: body.email,
        password: body.password,
    };
    let pair = state
        .upstreams
        .users
        .clone()
        .login(request)
        .await?
        .into_inner();
    Ok(Json(TokenView::from(pair)))
}

/// Exchanges a refresh token for a new pair; the old refresh token stops working.
#[utoipa::path(post, path = "/v1/auth/refresh", tag = "auth", request_body = RefreshBody,
    responses((status = 200, body = TokenView), (status = 401, body = Problem)))]
pub async fn refresh(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<RefreshBody>,
) -> ApiResult<Json<TokenView>> {
    let request = pb::RefreshRequest {
        refresh_token: body.refresh_token,
    };
    let pair = state
        .upstreams
        .users
        .clone()
        .refresh(request)
        .await?
        .into_inner();
    Ok(Json(TokenView::from(pair)))
}

/// The authenticated user, with their organisation and role.
#[utoipa::path(get, path = "/v1/me", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = UserView), (status = 401, body = Problem)))]
pub async fn me(State(state): State<AppState>, caller: Authenticated) -> ApiResult<Json<UserView>> {
    let request = pb::GetMeRequest {
        caller: Some(caller.0),
    };
    let user = state
        .upstreams
        .users
        .clone()
        .get_me(request)
        .await?
        .into_inner();
    Ok(Json(UserView::from(user)))
}
