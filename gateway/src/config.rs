//! Gateway configuration, read from `ULTRA_*` variables passed in as a map so tests (and
//! `ultra serve`, which wires its own upstream URLs) can supply their own.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use ultra_auth::{PLAN_LIMITS_ENV, PlanLimitsTable};

/// A variable that is missing or malformed, named so the operator can fix it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0} is required")]
    Missing(&'static str),
    #[error("{name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
}

/// The gRPC URLs of the services behind the gateway.
#[derive(Clone, Debug)]
pub struct UpstreamUrls {
    pub users: String,
    pub files: String,
    pub simulation: String,
    pub results: String,
    pub billing: String,
    pub analytics: String,
}

/// How access tokens are verified: the same secret, issuer and audience the users service
/// signs with (HS256).
#[derive(Clone)]
pub struct JwtConfig {
    pub secret: Vec<u8>,
    pub issuer: String,
    pub audience: String,
}

impl std::fmt::Debug for JwtConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtConfig")
            .field("secret", &"<redacted>")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish()
    }
}

/// Default JWT issuer, shared with the users service.
pub const DEFAULT_JWT_ISSUER: &str = "ultra";
/// Default JWT audience, shared with the users service.
pub const DEFAULT_JWT_AUDIENCE: &str = "ultra-api";

#[derive(Clone, Debug)]
pub struct Config {
    /// `ULTRA_LISTEN`, default `127.0.0.1:8080`.
    pub listen: SocketAddr,
    pub upstreams: UpstreamUrls,
    pub jwt: JwtConfig,
    /// `ULTRA_MAX_UPLOAD_BYTES`, default 20 MiB: larger model uploads answer 413.
    pub max_upload_bytes: usize,
    /// `ULTRA_REQUEST_TIMEOUT_MS`, default 30 s; not applied to SSE streams.
    pub request_timeout: Duration,
    /// `ULTRA_CORS_ORIGINS`: comma-separated origins (or `*`); default none.
    pub cors_origins: String,
    /// `ULTRA_TLS_CERT` and `ULTRA_TLS_KEY` (both or neither): HTTPS with rustls; plain
    /// HTTP when unset.
    pub tls: Option<TlsFiles>,
    /// The plans' limits: the compiled-in table with the overrides of `ULTRA_PLAN_LIMITS`
    /// (JSON by tier). The gateway uses each tier's request rate and burst.
    pub plan_limits: PlanLimitsTable,
    /// `ULTRA_RATE_LIMIT`: `on` (default) limits each organisation's requests to its plan's
    /// rate; `off` leaves that to something in front (an API gateway that already does it).
    pub rate_limit: bool,
}

/// PEM files of the gateway's HTTPS certificate: the chain (leaf first) and its private
/// key (PKCS#8, PKCS#1 or SEC1).
#[derive(Clone, Debug)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// The same default as the files service, which reads the same variable.
pub const DEFAULT_MAX_UPLOAD_BYTES: usize = 20 * 1024 * 1024;

fn required(env: &HashMap<String, String>, name: &'static str) -> Result<String, ConfigError> {
    env.get(name)
        .filter(|value| !value.trim().is_empty())
        .cloned()
        .ok_or(ConfigError::Missing(name))
}

fn parsed<T: std::str::FromStr>(
    env: &HashMap<String, String>,
    name: &'static str,
    default: T,
) -> Result<T, ConfigError>
where
    T::Err: std::fmt::Display,
{
    match env.get(name) {
        None => Ok(default),
        Some(text) => text
            .trim()
            .parse()
            .map_err(|error: T::Err| ConfigError::Invalid {
                name,
                reason: error.to_string(),
            }),
    }
}

impl Config {
    /// Reads the gateway's variables. Upstream URLs and `ULTRA_JWT_SECRET` are required.
    pub fn from_env(env: &HashMap<String, String>) -> Result<Config, ConfigError> {
        let path = |name: &str| {
            env.get(name)
                .map(|value| value.trim())
                .filter(|value| !value.is_empty())
                .map(PathBuf::from)
        };
        let tls = match (path("ULTRA_TLS_CERT"), path("ULTRA_TLS_KEY")) {
            (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
            (None, None) => None,
            (Some(_), None) => return Err(ConfigError::Missing("ULTRA_TLS_KEY")),
            (None, Some(_)) => return Err(ConfigError::Missing("ULTRA_TLS_CERT")),
        };
        let secret = required(env, "ULTRA_JWT_SECRET")?;
        if secret.len() < 32 {
            return Err(ConfigError::Invalid {
                name: "ULTRA_JWT_SECRET",
                reason: "must be at least 32 characters".into(),
            });
        }
        let timeout_ms: u64 = parsed(env, "ULTRA_REQUEST_TIMEOUT_MS", 30_000)?;
        let plan_limits = PlanLimitsTable::from_overrides(
            env.get(PLAN_LIMITS_ENV).map(String::as_str),
        )
        .map_err(|error| ConfigError::Invalid {
            name: PLAN_LIMITS_ENV,
            reason: error.to_string(),
        })?;
        let rate_limit = match env
            .get("ULTRA_RATE_LIMIT")
            .map(|value| value.trim().to_ascii_lowercase())
            .as_deref()
        {
            None | Some("" | "on" | "true" | "1") => true,
            Some("off" | "false" | "0") => false,
            Some(other) => {
                return Err(ConfigError::Invalid {
                    name: "ULTRA_RATE_LIMIT",
                    reason: format!("expected `on` or `off`, got {other:?}"),
                });
            }
        };
        Ok(Config {
            listen: parsed(
                env,
                "ULTRA_LISTEN",
                SocketAddr::from(([127, 0, 0, 1], 8080)),
            )?,
            upstreams: UpstreamUrls {
                users: required(env, "ULTRA_USERS_URL")?,
                files: required(env, "ULTRA_FILES_URL")?,
                simulation: required(env, "ULTRA_SIMULATION_URL")?,
                results: required(env, "ULTRA_RESULTS_URL")?,
                billing: required(env, "ULTRA_BILLING_URL")?,
                analytics: required(env, "ULTRA_ANALYTICS_URL")?,
            },
            jwt: JwtConfig {
                secret: secret.into_bytes(),
                issuer: env
                    .get("ULTRA_JWT_ISSUER")
                    .cloned()
                    .unwrap_or_else(|| DEFAULT_JWT_ISSUER.into()),
                audience: env
                    .get("ULTRA_JWT_AUDIENCE")
                    .cloned()
                    .unwrap_or_else(|| DEFAULT_JWT_AUDIENCE.into()),
            },
            max_upload_bytes: parsed(env, "ULTRA_MAX_UPLOAD_BYTES", DEFAULT_MAX_UPLOAD_BYTES)?,
            request_timeout: Duration::from_millis(timeout_ms),
            cors_origins: env.get("ULTRA_CORS_ORIGINS").cloned().unwrap_or_default(),
            tls,
            plan_limits,
            rate_limit,
        })
    }
}
