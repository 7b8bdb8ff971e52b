//! The REST gateway in front of Ultra's services: `/v1` over HTTP (axum), JWT bearer auth
//! verified locally or API keys verified by the users service (cached 30 s), RFC 9457 problem+json errors, request ids, timeouts, CORS, health and
//! readiness, and an OpenAPI 3.1 document at `/openapi.json`.
//!
//! It holds no state of its own and knows nothing of SQL: every route is a call to one
//! service over gRPC with a [`ultra_proto::v1::Caller`] built from the verified token, and
//! that caller signed into the request's metadata (`ultra_rpc::CallerAuth`).

pub mod api_keys;
pub mod audit;
pub mod auth;
pub mod config;
pub mod extract;
pub mod middleware;
pub mod openapi;
pub mod problem;
pub mod progress_cache;
pub mod rate_limit;
pub mod rate_limit_redis;
pub mod request_id;
pub mod routes;
pub mod tenancy;
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
    #[error("rate limiter: {0}")]
    RateLimiter(#[from] rate_limit_redis::RedisLimiterError),
}

/// Milliseconds since the Unix epoch (0 before it, saturating far after it).
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX)
        })
}

/// What every handler can reach: one `Arc`, because axum clones the state for every
/// extractor of every request. Cloning a struct of handles instead cost an atomic
/// increment and decrement per field, and a mutex for the cancellation token, on every
/// clone: under load from many cores those shared counters were the progress poll's
/// bottleneck.
#[derive(Clone)]
pub struct AppState(Arc<AppStateInner>);

impl std::ops::Deref for AppState {
    type Target = AppStateInner;

    fn deref(&self) -> &AppStateInner {
        &self.0
    }
}

/// The fields of [`AppState`].
pub struct AppStateInner {
    pub upstreams: Arc<Upstreams>,
    pub tokens: Arc<auth::Verifier>,
    pub max_upload_bytes: usize,
    pub request_timeout: Duration,
    /// Per-organisation request limits by plan; `None` when `ULTRA_RATE_LIMIT=off`.
    pub rate_limits: Option<Arc<rate_limit::OrgRateLimits>>,
    /// Cancelled at shutdown: ends SSE streams so the server can drain.
    pub shutdown: CancellationToken,
    /// Signs the caller metadata of every gRPC request (`ULTRA_SERVICE_SECRET`); handlers
    /// use [`extract::Authenticated::request`], background work `peer_request`.
    pub caller_auth: ultra_rpc::CallerAuth,
    /// API keys verified by the users service, cached for 30 s.
    pub api_keys: Arc<api_keys::ApiKeyVerifier>,
    /// The queue of audit entries for the users service.
    pub audit: audit::AuditSink,
    /// `ULTRA_TRUST_FORWARDED_FOR`: the client address is the last `X-Forwarded-For` entry.
    pub trust_forwarded_for: bool,
    /// `ULTRA_PUBLIC_URL`: the base of the OIDC callback URL when set.
    pub public_url: Option<String>,
    /// Whether this gateway serves HTTPS itself (the scheme of its connections).
    pub tls: bool,
    /// Progress answers kept current by one watch stream per simulation.
    pub progress: Arc<progress_cache::ProgressCache>,
}

/// The gateway's router for `config`, with lazily connected upstreams and per-organisation
/// rate limits in Redis (shared by the replicas) when `ULTRA_REDIS_URL` is set, else in
/// this process's memory.
pub fn app(config: &Config, shutdown: CancellationToken) -> Result<axum::Router, Error> {
    let limiter: Arc<dyn rate_limit::RateLimiter> = match &config.redis_url {
        Some(url) => Arc::new(rate_limit_redis::RedisRateLimiter::new(url)?),
        None => Arc::new(rate_limit::MemoryRateLimiter::new()),
    };
    app_with_limiter(config, shutdown, limiter)
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
    let upstreams = Arc::new(Upstreams::connect_lazy(&config.upstreams)?);
    let audit = audit::AuditSink::spawn(
        upstreams.users.clone(),
        config.caller_auth.clone(),
        shutdown.clone(),
    );
    let state = AppState(Arc::new(AppStateInner {
        upstreams,
        tokens: Arc::new(auth::Verifier::new(&config.jwt)?),
        caller_auth: config.caller_auth.clone(),
        api_keys: Arc::new(api_keys::ApiKeyVerifier::new()),
        max_upload_bytes: config.max_upload_bytes,
        request_timeout: config.request_timeout,
        rate_limits,
        shutdown,
        audit,
        trust_forwarded_for: config.trust_forwarded_for,
        public_url: config.public_url.clone(),
        tls: config.tls.is_some(),
        progress: Arc::default(),
    }));
    let hsts = config.tls.is_some();
    Ok(
        routes::router(state, CorsOrigins::parse(&config.cors_origins)).layer(
            axum::middleware::from_fn_with_state(hsts, middleware::security_headers),
        ),
    )
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
    // The peer address is the client's (or its proxy's) for the audit log and the login
    // throttle.
    let service = router.into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, service)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await?;
    tracing::info!("gateway stopped");
    Ok(())
}
