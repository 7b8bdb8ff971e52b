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
    /// `ULTRA_FILES_STORAGE_DIR`: the root of the encrypted object store on the local
    /// filesystem (what `ultra serve` sets, under its data directory). Required unless
    /// `object_store_url` is set, which then wins.
    pub storage_dir: Option<PathBuf>,
    /// `ULTRA_FILES_OBJECT_STORE_URL`: the object store by URL instead (`file:///PATH`,
    /// `s3://BUCKET/PREFIX` for S3 or MinIO, `gs://BUCKET/PREFIX`; see
    /// [`ultra_store::ObjectStore::from_url`]), checked here so a bad one stops the start.
    pub object_store_url: Option<String>,
    /// `ULTRA_MASTER_KEY` (required): 64 hex characters, the key that wraps each
    /// organisation's data key.
    pub master_key: MasterKey,
    /// `ULTRA_MAX_UPLOAD_BYTES` (default 20 MiB): larger uploads are RESOURCE_EXHAUSTED.
    pub max_upload_bytes: u64,
    /// `ULTRA_SERVICE_SECRET`: verifies the signed caller metadata of requests
    /// (`ultra_rpc::CallerAuth`); unset: the caller in the message is trusted (tests).
    pub caller_auth: ultra_rpc::CallerAuth,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Config")
            .field("database_url", &self.database_url)
            .field("db_options", &self.db_options)
            .field("storage_dir", &self.storage_dir)
            .field("object_store_url", &self.object_store_url)
            .field("master_key", &"<redacted>")
            .field("max_upload_bytes", &self.max_upload_bytes)
            .field("caller_auth", &self.caller_auth)
            .finish()
    }
}

impl Config {
    pub fn from_env(env: &HashMap<String, String>) -> Result<Config, ConfigError> {
        let database_url = required(env, "ULTRA_FILES_DATABASE_URL")?;
        let object_store_url = optional(env, "ULTRA_FILES_OBJECT_STORE_URL");
        if let Some(url) = &object_store_url {
            ultra_store::ObjectStore::check_url(url).map_err(|error| ConfigError::Invalid {
                variable: "ULTRA_FILES_OBJECT_STORE_URL",
                reason: error.to_string(),
            })?;
        }
        let storage_dir = optional(env, "ULTRA_FILES_STORAGE_DIR").map(PathBuf::from);
        if storage_dir.is_none() && object_store_url.is_none() {
            return Err(ConfigError::Missing(
                "ULTRA_FILES_STORAGE_DIR (or ULTRA_FILES_OBJECT_STORE_URL)",
            ));
        }
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
            object_store_url,
            master_key,
            max_upload_bytes,
            caller_auth: ultra_rpc::CallerAuth::from_env(env).map_err(|reason| {
                ConfigError::Invalid {
                    variable: ultra_rpc::SERVICE_SECRET_ENV,
                    reason: reason.to_owned(),
                }
            })?,
        })
    }
}

impl Config {
    /// Opens the configured object store: the URL if one is set, else the directory.
    pub async fn open_objects(&self) -> Result<ultra_store::ObjectStore, ultra_store::StoreError> {
        match (&self.object_store_url, &self.storage_dir) {
            (Some(url), _) => ultra_store::ObjectStore::from_url(url).await,
            (None, Some(dir)) => ultra_store::ObjectStore::open(dir).await,
            (None, None) => Err(ultra_store::StoreError::InvalidObjectStoreUrl {
                url: String::new(),
                reason: "neither ULTRA_FILES_STORAGE_DIR nor ULTRA_FILES_OBJECT_STORE_URL is set"
                    .to_owned(),
            }),
        }
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
