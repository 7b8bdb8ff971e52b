//! The REST gateway in front of Ultra's services: `/v1` over HTTP (axum), JWT bearer auth
//! verified locally, RFC 9457 problem+json errors, request ids, timeouts, CORS, health and
//! readiness, and an OpenAPI 3.1 document at `/openapi.json`.
//!
//! It holds no state of its own and knows nothing of SQL: every route is a call to one
//! service over gRPC with a [`ultra_proto::v1::Caller`] built from the verified token.

pub mod auth;
pub mod config;
pub mod extract;
pub mod middleware;
pub mod openapi;
pub mod problem;
pub mod rate_limit;
pub mod request_id;
pub mod routes;
pub mod tls;
pub mod upstream;
pub mod views;

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use config::{Config, ConfigError, JwtConfig, TlsFiles, UpstreamUrls};
use middleware::CorsOrigins;
use upstream::Upstreams;

/// Why the gateway could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid upstream: {0}")]
    Upstream(#[from] ultra_rpc::RpcError),
    #[error("token verifier: {0}")]
    Auth(#[from] ultra_auth::AuthError),
    #[error("http server: {0}")]
    Io(#[from] std::io::Error),
    #[error("TLS: {0}")]
    Tls(#[from] tls::TlsError),
}

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// Behind an `Arc`: the state is cloned for every extractor of every request.
    pub upstreams: Arc<Upstreams>,
    pub tokens: Arc<auth::Verifier>,
    pub max_upload_bytes: usize,
    pub request_timeout: Duration,
    /// Per-organisation request limits by plan; `None` when `ULTRA_RATE_LIMIT=off`.
    pub rate_limits: Option<Arc<rate_limit::OrgRateLimits>>,
    /// Cancelled at shutdown: ends SSE streams so the server can drain.
    pub shutdown: CancellationToken,
}

/// The gateway's router for `config`, with lazily connected upstreams and per-organisation
/// rate limits held in this process's memory.
pub fn app(config: &Config, shutdown: CancellationToken) -> Result<axum::Router, Error> {
    app_with_limiter(
        config,
        shutdown,
        Arc::new(rate_limit::MemoryRateLimiter::new()),
    )
}

/// [`app`] with the given rate limiter: the seam for buckets shared by several gateway
/// replicas (Redis), which the in-memory one cannot be.
pub fn app_with_limiter(
    config: &Config,
    shutdown: CancellationToken,
    limiter: Arc<dyn rate_limit::RateLimiter>,
) -> Result<axum::Router, Error> {
    let rate_limits = config.rate_limit.then(|| {
        Arc::new(rate_limit::OrgRateLimits::new(
            limiter,
            config.plan_limits.clone(),
        ))
    });
    let state = AppState {
        upstreams: Arc::new(Upstreams::connect_lazy(&config.upstreams)?),
        tokens: Arc::new(auth::Verifier::new(&config.jwt)?),
        max_upload_bytes: config.max_upload_bytes,
        request_timeout: config.request_timeout,
        rate_limits,
        shutdown,
    };
    Ok(routes::router(
        state,
        CorsOrigins::parse(&config.cors_origins),
    ))
}

/// Serves the gateway on `listener` until `shutdown` is cancelled, then drains: open SSE
/// streams end and in-flight requests finish.
pub async fn serve(
    config: Config,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), Error> {
    let router = app(&config, shutdown.clone())?;
    if let Some(files) = &config.tls {
        let tls = tls::server_config(files)?;
        tracing::info!(addr = ?listener.local_addr().ok(), "gateway listening (HTTPS)");
        tls::serve(listener, router, tls, shutdown).await;
        tracing::info!("gateway stopped");
        return Ok(());
    }
    tracing::info!(addr = ?listener.local_addr().ok(), "gateway listening");
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await?;
    tracing::info!("gateway stopped");
    Ok(())
}
