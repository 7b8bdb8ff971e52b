//! The analytics service's settings, read from `ULTRA_*` variables passed in as a map.

use std::collections::HashMap;

/// Where the analytics service keeps its usage events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `ULTRA_ANALYTICS_DATABASE_URL` (default `sqlite://data/analytics.db`).
    pub database_url: String,
}

/// A setting that is unreadable, named by its variable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("{variable} is set but empty")]
    Empty { variable: &'static str },
}

impl Config {
    pub fn from_env(env: &HashMap<String, String>) -> Result<Config, ConfigError> {
        const VARIABLE: &str = "ULTRA_ANALYTICS_DATABASE_URL";
        match env.get(VARIABLE) {
            None => Ok(Config::new("sqlite://data/analytics.db")),
            Some(value) if value.trim().is_empty() => {
                Err(ConfigError::Empty { variable: VARIABLE })
            }
            Some(value) => Ok(Config::new(value.trim())),
        }
    }

    pub fn new(database_url: &str) -> Config {
        Config {
            database_url: database_url.to_owned(),
        }
    }
}
