//! The results service's settings, read from `ULTRA_*` variables passed in as a map.

use std::collections::HashMap;

/// Where the results service keeps its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `ULTRA_RESULTS_DATABASE_URL` (default `sqlite://data/results.db`).
    pub database_url: String,
    /// Pool size and start-up wait ([`ultra_store::DbOptions::from_env`]):
    /// `ULTRA_RESULTS_DB_MAX_CONNECTIONS` or `ULTRA_DB_MAX_CONNECTIONS`,
    /// `ULTRA_DB_STARTUP_TIMEOUT_MS`, `ULTRA_DB_ACQUIRE_TIMEOUT_MS`.
    pub db_options: ultra_store::DbOptions,
    /// `ULTRA_SERVICE_SECRET`: verifies the signed caller metadata of requests
    /// (`ultra_rpc::CallerAuth`); unset: the caller in the message is trusted (tests).
    pub caller_auth: ultra_rpc::CallerAuth,
}

/// A setting that is missing or unreadable, named by its variable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("{variable}={value:?} is invalid: {reason}")]
    Invalid {
        variable: &'static str,
        value: String,
        reason: &'static str,
    },
    #[error(transparent)]
    Database(#[from] ultra_store::DbConfigError),
}

impl Config {
    pub fn from_env(env: &HashMap<String, String>) -> Result<Config, ConfigError> {
        let database_url = match env.get("ULTRA_RESULTS_DATABASE_URL") {
            None => "sqlite://data/results.db".to_owned(),
            Some(value) if value.trim().is_empty() => {
                return Err(ConfigError::Invalid {
                    variable: "ULTRA_RESULTS_DATABASE_URL",
                    value: value.clone(),
                    reason: "empty",
                });
            }
            Some(value) => value.trim().to_owned(),
        };
        Ok(Config {
            db_options: ultra_store::DbOptions::from_env(env, "results")?,
            caller_auth: ultra_rpc::CallerAuth::from_env(env).map_err(|reason| {
                ConfigError::Invalid {
                    variable: ultra_rpc::SERVICE_SECRET_ENV,
                    value: "<redacted>".to_owned(),
                    reason,
                }
            })?,
            ..Config::new(&database_url)
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
