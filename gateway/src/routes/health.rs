//! `/healthz` (the process is up) and `/readyz` (every upstream answers SERVING).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;

use crate::AppState;

#[derive(Serialize, utoipa::ToSchema)]
pub struct Health {
    pub status: &'static str,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Readiness {
    /// `ready` or `not_ready`.
    pub status: &'static str,
    /// Each upstream with `serving` or `not_serving`.
    pub upstreams: std::collections::BTreeMap<&'static str, &'static str>,
}

/// Liveness: 200 as long as the process answers.
#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200, body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// Readiness: 200 only when every upstream answers gRPC health SERVING, 503 otherwise.
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses((status = 200, body = Readiness), (status = 503, body = Readiness)))]
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Readiness>) {
    let checks = state.upstreams.health().await;
    let ready = checks.iter().all(|(_, serving)| *serving);
    let upstreams = checks
        .into_iter()
        .map(|(name, serving)| (name, if serving { "serving" } else { "not_serving" }))
        .collect();
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = Readiness {
        status: if ready { "ready" } else { "not_ready" },
        upstreams,
    };
    (status, Json(body))
}
