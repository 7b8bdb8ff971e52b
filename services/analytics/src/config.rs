//! The analytics service's settings, read from `ULTRA_*` variables passed in as a map.

use std::collections::HashMap;

/// Where the analytics service keeps its usage events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `ULTRA_ANALYTICS_DATABASE_URL` (default `sqlite://data/analytics.db`).
    pub database_url: String,
    /// Pool size and start-up wait ([`ultra_store::DbOptions::from_env`]):
    /// `ULTRA_ANALYTICS_DB_MAX_CONNECTIONS` or `ULTRA_DB_MAX_CONNECTIONS`,
    /// `ULTRA_DB_STARTUP_TIMEOUT_MS`, `ULTRA_DB_ACQUIRE_TIMEOUT_MS`.
    pub db_options: ultra_store::DbOptions,
    /// `ULTRA_SERVICE_SECRET`: verifies the signed caller metadata of requests
    /// (`ultra_rpc::CallerAuth`); unset: the caller in the message is trusted (tests).
    pub caller_auth: ultra_rpc::CallerAuth,
}

/// A setting that is unreadable, named by its variable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("{variable} is set but empty")]
    Empty { variable: &'static str },
    #[error("{variable} is invalid: {reason}")]
    Invalid {
        variable: &'static str,
        reason: &'static str,
    },
    #[error(transparent)]
    Database(#[from] ultra_store::DbConfigError),
}

impl Config {
    pub fn from_env(env: &HashMap<String, String>) -> Result<Config, ConfigError> {
        const VARIABLE: &str = "ULTRA_ANALYTICS_DATABASE_URL";
        let database_url = match env.get(VARIABLE) {
            None => "sqlite://data/analytics.db",
            Some(value) if value.trim().is_empty() => {
                return Err(ConfigError::Empty { variable: VARIABLE });
            }
            Some(value) => value.trim(),
        };
        Ok(Config {
            db_options: ultra_store::DbOptions::from_env(env, "analytics")?,
            caller_auth: ultra_rpc::CallerAuth::from_env(env).map_err(|reason| {
                ConfigError::Invalid {
                    variable: ultra_rpc::SERVICE_SECRET_ENV,
                    reason,
                }
            })?,
            ..Config::new(database_url)
        })
    }

    pub fn new(database_url: &str) -> Config {
        Config {
            database_url: database_url.to_owned(),
            db_options: ultra_store::DbOptions::default(),
            caller_auth: ultra_rpc::CallerAuth::disabled(),
        }
    }
}
