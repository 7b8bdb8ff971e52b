//! Configuration from `ULTRA_*` variables, passed in as a map so tests and `ultra serve`
//! supply their own.

use std::collections::HashMap;
use std::path::PathBuf;

use crate::crypto::MasterKey;

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

/// Uploads above this many bytes are refused unless configured otherwise.
pub const DEFAULT_MAX_UPLOAD_BYTES: u64 = 20 * 1024 * 1024;

/// The files service's settings.
#[derive(Clone)]
pub struct Config {
    /// `ULTRA_FILES_DATABASE_URL` (required): `sqlite://PATH` or `postgres://...`.
    pub database_url: String,
    /// Pool size and start-up wait ([`ultra_store::DbOptions::from_env`]):
    /// `ULTRA_FILES_DB_MAX_CONNECTIONS` or `ULTRA_DB_MAX_CONNECTIONS`,
    /// `ULTRA_DB_STARTUP_TIMEOUT_MS`, `ULTRA_DB_ACQUIRE_TIMEOUT_MS`.
    pub db_options: ultra_store::DbOptions,
    /// `ULTRA_FILES_STORAGE_DIR` (required): the root of the encrypted object store.
    pub storage_dir: PathBuf,
    /// `ULTRA_MASTER_KEY` (required): 64 hex characters, the key that wraps each
    /// organisation's data key.
    pub master_key: MasterKey,
    /// `ULTRA_MAX_UPLOAD_BYTES` (default 20 MiB): larger uploads are RESOURCE_EXHAUSTED.
    pub max_upload_bytes: u64,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Config")
            .field("database_url", &self.database_url)
            .field("db_options", &self.db_options)
            .field("storage_dir", &self.storage_dir)
            .field("master_key", &"<redacted>")
            .field("max_upload_bytes", &self.max_upload_bytes)
            .finish()
    }
}

impl Config {
    pub fn from_env(env: &HashMap<String, String>) -> Result<Config, ConfigError> {
        let database_url = required(env, "ULTRA_FILES_DATABASE_URL")?;
        let storage_dir = PathBuf::from(required(env, "ULTRA_FILES_STORAGE_DIR")?);
        let master_key =
            MasterKey::from_hex(&required(env, "ULTRA_MASTER_KEY")?).map_err(|reason| {
                ConfigError::Invalid {
                    variable: "ULTRA_MASTER_KEY",
                    reason,
                }
            })?;
        let max_upload_bytes = match optional(env, "ULTRA_MAX_UPLOAD_BYTES") {
            None => DEFAULT_MAX_UPLOAD_BYTES,
            Some(value) => match value.trim().parse::<u64>() {
                Ok(bytes) if bytes > 0 => bytes,
                _ => {
                    return Err(ConfigError::Invalid {
                        variable: "ULTRA_MAX_UPLOAD_BYTES",
                        reason: format!("{value:?} is not a positive number of bytes"),
                    });
                }
            },
        };
        Ok(Config {
            database_url,
            db_options: ultra_store::DbOptions::from_env(env, "files")?,
            storage_dir,
            master_key,
            max_upload_bytes,
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
