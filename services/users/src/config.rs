//! Configuration from `ULTRA_*` variables, passed in as a map so tests and `ultra serve`
//! supply their own.

use std::collections::HashMap;
use std::time::Duration;

/// A variable that is missing or unusable, named so the operator knows what to fix.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0} is required")]
    Missing(&'static str),
    #[error("{variable} is invalid: {reason}")]
    Invalid {
        variable: &'static str,
        reason: String,
    },
    #[error(transparent)]
    Database(#[from] ultra_store::DbConfigError),
}

/// The users service's settings.
#[derive(Clone)]
pub struct Config {
    /// `ULTRA_USERS_DATABASE_URL` (required): `sqlite://PATH` or `postgres://...`.
    pub database_url: String,
    /// Pool size and start-up wait ([`ultra_store::DbOptions::from_env`]):
    /// `ULTRA_USERS_DB_MAX_CONNECTIONS` or `ULTRA_DB_MAX_CONNECTIONS`,
    /// `ULTRA_DB_STARTUP_TIMEOUT_MS`, `ULTRA_DB_ACQUIRE_TIMEOUT_MS`.
    pub db_options: ultra_store::DbOptions,
    /// `ULTRA_JWT_SECRET` (required, at least 32 bytes): the HS256 key shared with the gateway.
    pub jwt_secret: Vec<u8>,
    /// `ULTRA_JWT_ISSUER` (default `ultra`).
    pub jwt_issuer: String,
    /// `ULTRA_JWT_AUDIENCE` (default `ultra-api`).
    pub jwt_audience: String,
    /// `ULTRA_ACCESS_TOKEN_TTL_SECONDS` (default 900): access tokens are short-lived because
    /// they cannot be revoked.
    pub access_token_ttl: Duration,
    /// `ULTRA_REFRESH_TOKEN_TTL_SECONDS` (default 30 days).
    pub refresh_token_ttl: Duration,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Config")
            .field("database_url", &self.database_url)
            .field("db_options", &self.db_options)
            .field("jwt_secret", &"<redacted>")
            .field("jwt_issuer", &self.jwt_issuer)
            .field("jwt_audience", &self.jwt_audience)
            .field("access_token_ttl", &self.access_token_ttl)
            .field("refresh_token_ttl", &self.refresh_token_ttl)
            .finish()
    }
}

pub const DEFAULT_ISSUER: &str = "ultra";
pub const DEFAULT_AUDIENCE: &str = "ultra-api";
const DEFAULT_ACCESS_TTL_SECONDS: u64 = 900;
const DEFAULT_REFRESH_TTL_SECONDS: u64 = 30 * 24 * 3600;

impl Config {
    pub fn from_env(env: &HashMap<String, String>) -> Result<Config, ConfigError> {
        let database_url = required(env, "ULTRA_USERS_DATABASE_URL")?;
        let jwt_secret = required(env, "ULTRA_JWT_SECRET")?.into_bytes();
        if jwt_secret.len() < ultra_auth::MIN_SECRET_BYTES {
            return Err(ConfigError::Invalid {
                variable: "ULTRA_JWT_SECRET",
                reason: format!("must be at least {} bytes", ultra_auth::MIN_SECRET_BYTES),
            });
        }
        Ok(Config {
            database_url,
            db_options: ultra_store::DbOptions::from_env(env, "users")?,
            jwt_secret,
            jwt_issuer: optional(env, "ULTRA_JWT_ISSUER").unwrap_or_else(|| DEFAULT_ISSUER.into()),
            jwt_audience: optional(env, "ULTRA_JWT_AUDIENCE")
                .unwrap_or_else(|| DEFAULT_AUDIENCE.into()),
            access_token_ttl: seconds(
                env,
                "ULTRA_ACCESS_TOKEN_TTL_SECONDS",
                DEFAULT_ACCESS_TTL_SECONDS,
            )?,
            refresh_token_ttl: seconds(
                env,
                "ULTRA_REFRESH_TOKEN_TTL_SECONDS",
                DEFAULT_REFRESH_TTL_SECONDS,
            )?,
        })
    }
}

fn optional(env: &HashMap<String, String>, variable: &'static str) -> Option<String> {
    env.get(variable)
        .filter(|value| !value.trim().is_empty())
        .cloned()
}

fn required(env: &HashMap<String, String>, variable: &'static str) -> Result<String, ConfigError> {
    optional(env, variable).ok_or(ConfigError::Missing(variable))
}

fn seconds(
    env: &HashMap<String, String>,
    variable: &'static str,
    default: u64,
) -> Result<Duration, ConfigError> {
    let Some(value) = optional(env, variable) else {
        return Ok(Duration::from_secs(default));
    };
    match value.trim().parse::<u64>() {
        Ok(seconds) if seconds > 0 && seconds <= 365 * 24 * 3600 => {
            Ok(Duration::from_secs(seconds))
        }
        _ => Err(ConfigError::Invalid {
            variable,
            reason: format!("{value:?} is not a number of seconds between 1 and one year"),
        }),
    }
}
