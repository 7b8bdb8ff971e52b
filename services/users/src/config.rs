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
    /// `ULTRA_JWT_PREVIOUS_SECRETS` (comma-separated, optional): secrets before a rotation,
    /// still accepted (by `kid`) for tokens signed with them; never used to sign.
    pub jwt_previous_secrets: Vec<Vec<u8>>,
    /// `ULTRA_LOGIN_MAX_FAILURES` (5), `ULTRA_LOGIN_ADDRESS_MAX_FAILURES` (20),
    /// `ULTRA_LOGIN_LOCKOUT_SECONDS` (30, doubled per further failure),
    /// `ULTRA_LOGIN_LOCKOUT_MAX_SECONDS` (900): see [`crate::throttle`].
    pub lockout: crate::throttle::LockoutPolicy,
    /// `ULTRA_SERVICE_SECRET` (at least 32 bytes): verifies the signed caller metadata of
    /// requests (`ultra_rpc::CallerAuth`); unset: the caller in the message is trusted (tests).
    pub caller_auth: ultra_rpc::CallerAuth,
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
            .field("database_url", &redact_password(&self.database_url))
            .field("db_options", &self.db_options)
            .field("jwt_secret", &"<redacted>")
            .field(
                "jwt_previous_secrets",
                &format_args!("<{} redacted>", self.jwt_previous_secrets.len()),
            )
            .field("lockout", &self.lockout)
            .field("caller_auth", &self.caller_auth)
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
        let jwt_previous_secrets = match optional(env, ultra_auth::PREVIOUS_SECRETS_ENV) {
            None => Vec::new(),
            Some(list) => {
                ultra_auth::parse_previous_secrets(&list).map_err(|_| ConfigError::Invalid {
                    variable: ultra_auth::PREVIOUS_SECRETS_ENV,
                    reason: format!(
                        "each comma-separated secret must be at least {} bytes",
                        ultra_auth::MIN_SECRET_BYTES
                    ),
                })?
            }
        };
        let defaults = crate::throttle::LockoutPolicy::default();
        let base_lockout = seconds(
            env,
            "ULTRA_LOGIN_LOCKOUT_SECONDS",
            defaults.base_lockout.as_secs(),
        )?;
        let lockout = crate::throttle::LockoutPolicy {
            account_max_failures: count(
                env,
                "ULTRA_LOGIN_MAX_FAILURES",
                defaults.account_max_failures,
            )?,
            address_max_failures: count(
                env,
                "ULTRA_LOGIN_ADDRESS_MAX_FAILURES",
                defaults.address_max_failures,
            )?,
            base_lockout,
            max_lockout: seconds(
                env,
                "ULTRA_LOGIN_LOCKOUT_MAX_SECONDS",
                defaults.max_lockout.as_secs(),
            )?
            .max(base_lockout),
            failure_window: defaults.failure_window,
        };
        let caller_auth =
            ultra_rpc::CallerAuth::from_env(env).map_err(|reason| ConfigError::Invalid {
                variable: ultra_rpc::SERVICE_SECRET_ENV,
                reason: reason.to_owned(),
            })?;
        Ok(Config {
            caller_auth,
            database_url,
            db_options: ultra_store::DbOptions::from_env(env, "users")?,
            jwt_secret,
            jwt_previous_secrets,
            lockout,
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

/// `url` with its password replaced by `***` (`postgres://user:***@host/db`): Debug output
/// ends up in logs, secrets must not.
pub(crate) fn redact_password(url: &str) -> String {
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

fn optional(env: &HashMap<String, String>, variable: &'static str) -> Option<String> {
    env.get(variable)
        .filter(|value| !value.trim().is_empty())
        .cloned()
}

fn required(env: &HashMap<String, String>, variable: &'static str) -> Result<String, ConfigError> {
    optional(env, variable).ok_or(ConfigError::Missing(variable))
}

fn count(
    env: &HashMap<String, String>,
    variable: &'static str,
    default: u32,
) -> Result<u32, ConfigError> {
    let Some(value) = optional(env, variable) else {
        return Ok(default);
    };
    match value.trim().parse::<u32>() {
        Ok(count) if (1..=1000).contains(&count) => Ok(count),
        _ => Err(ConfigError::Invalid {
            variable,
            reason: format!("{value:?} is not a number between 1 and 1000"),
        }),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Debug output (which may reach logs) holds no secret: not the JWT secrets, not the
    /// database password.
    #[test]
    fn debug_output_redacts_secrets() {
        let env: HashMap<String, String> = [
            (
                "ULTRA_USERS_DATABASE_URL",
                "postgres://ultra:db-password-123@db:5432/users",
            ),
            ("ULTRA_JWT_SECRET", "current-jwt-secret-0123456789abcdef"),
            (
                "ULTRA_JWT_PREVIOUS_SECRETS",
                "previous-jwt-secret-0123456789abcdef",
            ),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect();
        let config = Config::from_env(&env).expect("config");
        let printed = format!("{config:?}");
        for secret in [
            "db-password-123",
            "current-jwt-secret",
            "previous-jwt-secret",
        ] {
            assert!(!printed.contains(secret), "{secret} in {printed}");
        }
        assert!(printed.contains("postgres://ultra:***@db:5432/users"));
        assert_eq!(config.jwt_previous_secrets.len(), 1);
        assert_eq!(
            redact_password("sqlite:///data/users.db"),
            "sqlite:///data/users.db"
        );
    }
}
