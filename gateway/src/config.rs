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
/// signs with (HS256), and the secrets before a rotation (`ULTRA_JWT_PREVIOUS_SECRETS`,
/// comma-separated), accepted by `kid` until they are removed.
#[derive(Clone)]
pub struct JwtConfig {
    pub secret: Vec<u8>,
    pub previous_secrets: Vec<Vec<u8>>,
    pub issuer: String,
    pub audience: String,
}

impl std::fmt::Debug for JwtConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtConfig")
            .field("secret", &"<redacted>")
            .field(
                "previous_secrets",
                &format_args!("<{} redacted>", self.previous_secrets.len()),
            )
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish()
    }
}

/// Default JWT issuer, shared with the users service.
pub const DEFAULT_JWT_ISSUER: &str = "ultra";
/// Default JWT audience, shared with the users service.
pub const DEFAULT_JWT_AUDIENCE: &str = "ultra-api";

/// Debug by hand: `redis_url` may carry a password, and Debug output ends up in logs.
#[derive(Clone)]
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
    /// `ULTRA_TRUST_FORWARDED_FOR`: `on` when a proxy we trust (an ingress) is in front and
    /// appends the client address to `X-Forwarded-For`; the last entry is then the client
    /// of the audit log and the login throttle. `off` (default): the connection's peer.
    pub trust_forwarded_for: bool,
    /// `ULTRA_SERVICE_SECRET` (at least 32 bytes, the services' too): signs the caller
    /// metadata of every gRPC request. Unset: nothing is signed, which only services that
    /// do not verify accept (tests; `ultra gateway` refuses to start without it).
    pub caller_auth: ultra_rpc::CallerAuth,
    /// `ULTRA_REDIS_URL`: when set (the cluster deployment), the rate-limit buckets live in
    /// this Redis and are shared by every gateway replica; unset, each replica keeps its own.
    pub redis_url: Option<String>,
    /// `ULTRA_PUBLIC_URL` (e.g. `https://ultra.example.com`): the gateway's address as
    /// browsers reach it, without a trailing slash. When set, the OIDC callback URL is built
    /// from it alone, never from the request's `Host` or `X-Forwarded-Proto`.
    pub public_url: Option<String>,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("upstreams", &self.upstreams)
            .field("jwt", &self.jwt)
            .field("max_upload_bytes", &self.max_upload_bytes)
            .field("request_timeout", &self.request_timeout)
            .field("cors_origins", &self.cors_origins)
            .field("tls", &self.tls)
            .field("plan_limits", &self.plan_limits)
            .field("rate_limit", &self.rate_limit)
            .field("trust_forwarded_for", &self.trust_forwarded_for)
            .field("caller_auth", &self.caller_auth)
            .field("redis_url", &self.redis_url.as_deref().map(redact_password))
            .field("public_url", &self.public_url)
            .finish_non_exhaustive()
    }
}

/// `url` with its password replaced by `***` (`redis://:***@host:6379`).
fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    match rest.rsplit_once('@') {
        Some((credentials, host)) => {
            let user = credentials.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:***@{host}")
        }
        None => url.to_owned(),
    }
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

/// An `on`/`off` variable (also `true`/`false`, `1`/`0`).
fn switch(
    env: &HashMap<String, String>,
    name: &'static str,
    default: bool,
) -> Result<bool, ConfigError> {
    match env
        .get(name)
        .map(|value| value.trim().to_ascii_lowercase())
        .as_deref()
    {
        None | Some("") => Ok(default),
        Some("on" | "true" | "1") => Ok(true),
        Some("off" | "false" | "0") => Ok(false),
        Some(other) => Err(ConfigError::Invalid {
            name,
            reason: format!("expected `on` or `off`, got {other:?}"),
        }),
    }
}

/// `ULTRA_PUBLIC_URL` checked: an absolute `http`/`https` URL with a host, no user info,
/// query or fragment (a path prefix is kept); answered without its trailing slash.
fn public_url(env: &HashMap<String, String>) -> Result<Option<String>, ConfigError> {
    const NAME: &str = "ULTRA_PUBLIC_URL";
    let Some(text) = env
        .get(NAME)
        .map(|value| value.trim())
        .filter(|value| !value.is_empty())
    else {
        return Ok(None);
    };
    let invalid = |reason: &str| ConfigError::Invalid {
        name: NAME,
        reason: format!("{reason} (e.g. https://ultra.example.com), got {text:?}"),
    };
    let uri: axum::http::Uri = text
        .parse()
        .map_err(|_| invalid("expected an absolute URL"))?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) {
        return Err(invalid("expected an http or https URL"));
    }
    let authority = uri
        .authority()
        .filter(|authority| !authority.host().is_empty())
        .ok_or_else(|| invalid("expected a host"))?;
    if authority.as_str().contains('@') {
        return Err(invalid("user info is not allowed"));
    }
    if uri.query().is_some() || text.contains('#') {
        return Err(invalid("a query or fragment is not allowed"));
    }
    Ok(Some(text.trim_end_matches('/').to_owned()))
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
        let previous_secrets = match env.get(ultra_auth::PREVIOUS_SECRETS_ENV) {
            None => Vec::new(),
            Some(list) => {
                ultra_auth::parse_previous_secrets(list).map_err(|_| ConfigError::Invalid {
                    name: ultra_auth::PREVIOUS_SECRETS_ENV,
                    reason: format!(
                        "each comma-separated secret must be at least {} bytes",
                        ultra_auth::MIN_SECRET_BYTES
                    ),
                })?
            }
        };
        let trust_forwarded_for = switch(env, "ULTRA_TRUST_FORWARDED_FOR", false)?;
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
                previous_secrets,
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
            trust_forwarded_for,
            caller_auth: ultra_rpc::CallerAuth::from_env(env).map_err(|reason| {
                ConfigError::Invalid {
                    name: ultra_rpc::SERVICE_SECRET_ENV,
                    reason: reason.to_owned(),
                }
            })?,
            redis_url: env
                .get("ULTRA_REDIS_URL")
                .map(|url| url.trim().to_owned())
                .filter(|url| !url.is_empty()),
            public_url: public_url(env)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_public_url(value: &str) -> Result<Option<String>, ConfigError> {
        public_url(&HashMap::from([(
            "ULTRA_PUBLIC_URL".to_owned(),
            value.to_owned(),
        )]))
    }

    #[test]
    fn public_url_is_validated() {
        assert_eq!(
            with_public_url("https://ultra.example.com/")
                .expect("valid")
                .as_deref(),
            Some("https://ultra.example.com")
        );
        assert_eq!(with_public_url(" ").expect("blank is unset"), None);
        for bad in [
            "ultra.example.com",
            "ftp://ultra.example.com",
            "https://user:pw@ultra.example.com",
            "https://ultra.example.com/?a=b",
            "https://ultra.example.com/#x",
        ] {
            assert!(with_public_url(bad).is_err(), "{bad} accepted");
        }
    }
}
