//! The route table of the REST API.

pub mod api_keys;
pub mod audit;
pub mod auth;
pub mod health;
pub mod models;
pub mod orgs;
pub mod privacy;
pub mod simulations;
pub mod sso;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, post, put};

use crate::AppState;
use crate::middleware::{self, CorsOrigins};
use crate::problem::ApiError;

/// Multipart framing around the file itself (boundaries, part headers).
const MULTIPART_OVERHEAD_BYTES: usize = 64 * 1024;

/// Bodies of JSON routes are small; this keeps a client from streaming megabytes at them.
const JSON_BODY_LIMIT_BYTES: usize = 256 * 1024;

async fn openapi_json() -> axum::Json<utoipa::openapi::OpenApi> {
    axum::Json(crate::openapi::document())
}

async fn unknown_route() -> ApiError {
    ApiError::NotFound("no such route".into())
}

/// Every route, with the gateway's layers (outermost first: request id, CORS, timeout,
/// bare-error conversion).
pub fn router(state: AppState, cors: CorsOrigins) -> Router {
    let upload_limit = state.max_upload_bytes + MULTIPART_OVERHEAD_BYTES;
    let v1 = Router::new()
        .route("/auth/register", post(auth::register))
        .route("/auth/token", post(auth::token))
        .route("/auth/refresh", post(auth::refresh))
        .route("/auth/logout", post(auth::logout))
        .route("/audit", get(audit::list))
        .route("/audit/verify", get(audit::verify))
        .route("/me", get(auth::me).delete(privacy::delete_me))
        .route("/me/export", get(privacy::export))
        .route("/org", delete(privacy::delete_org))
        .route("/erasures/{id}", get(privacy::erasure))
        .route("/org/oidc", put(sso::configure))
        .route("/auth/oidc/{org}/start", get(sso::start))
        .route("/auth/oidc/callback", get(sso::callback))
        .route(
            "/models",
            post(models::upload)
                .layer(DefaultBodyLimit::max(upload_limit))
                .get(models::list),
        )
        .route("/models/{id}", get(models::get).delete(models::delete))
        .route(
            "/simulations",
            post(simulations::submit).get(simulations::list),
        )
        .route("/simulations/{id}", get(simulations::get))
        .route("/simulations/{id}/progress", get(simulations::progress))
        .route("/simulations/{id}/events", get(simulations::events))
        .route("/simulations/{id}/cancel", post(simulations::cancel))
        .route("/simulations/{id}/results", get(simulations::results))
        .route("/auth/accept-invite", post(orgs::accept_invite))
        .route(
            "/org/members",
            get(orgs::list_members).post(orgs::add_member),
        )
        .route(
            "/org/members/{user_id}",
            axum::routing::patch(orgs::update_member).delete(orgs::remove_member),
        )
        .route("/api-keys", post(api_keys::create).get(api_keys::list))
        .route("/api-keys/{id}", delete(api_keys::revoke));
    let timeout = state.request_timeout;
    Router::new()
        .nest("/v1", v1)
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/openapi.json", get(openapi_json))
        .fallback(unknown_route)
        .layer(DefaultBodyLimit::max(JSON_BODY_LIMIT_BYTES))
        .with_state(state.clone())
        .layer(axum::middleware::from_fn(
            middleware::problem_for_bare_errors,
        ))
        .layer(axum::middleware::from_fn_with_state(
            timeout,
            middleware::timeout,
        ))
        // Outside the timeout, so that a request cut by it is recorded too.
        .layer(axum::middleware::from_fn_with_state(
            state,
            crate::audit::layer,
        ))
        .layer(axum::middleware::from_fn_with_state(
            Arc::new(cors),
            middleware::cors,
        ))
        .layer(axum::middleware::from_fn(crate::request_id::layer))
}
