//! Opening a database: the URL picks the backend, migrations run before anything else, and
//! a database that is not reachable yet is waited for (bounded) rather than fatal.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::migrate::{MigrateError, Migrator};
use sqlx::{AnyPool, Executor};
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::StoreError;

/// A transaction on a [`Db`]; pass `&mut tx` to [`crate::enqueue`] and
/// [`crate::mark_processed`].
pub type Transaction<'c> = sqlx::Transaction<'c, sqlx::Any>;

/// Which server is behind the pool, for the rare statement that cannot be portable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// The backend a URL selects, `None` for an unsupported scheme.
    pub fn of_url(url: &str) -> Option<Backend> {
        if sqlite_path(url).is_some() {
            Some(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Backend::Postgres)
        } else {
            None
        }
    }

    /// The pool size when none is configured. SQLite has one writer whatever the pool, so a
    /// few readers suffice; PostgreSQL's default `max_connections` is 100 for the whole
    /// server, shared by every service (and replica) pointed at it, so each pool stays small.
    pub fn default_max_connections(self) -> u32 {
        match self {
            Backend::Sqlite => 8,
            Backend::Postgres => 10,
        }
    }
}

/// How a service's pool is sized and how long its start waits for the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbOptions {
    /// Most connections the pool opens; `None`: [`Backend::default_max_connections`].
    pub max_connections: Option<u32>,
    /// How long [`open_with`] keeps retrying a database that refuses connections (a
    /// PostgreSQL still starting, a Kubernetes Service without endpoints yet) before the
    /// service gives up: services and their database start in any order.
    pub startup_timeout: Duration,
    /// How long a query waits for a pooled connection (including reconnecting after the
    /// database restarted) before it fails.
    pub acquire_timeout: Duration,
}

impl Default for DbOptions {
    fn default() -> DbOptions {
        DbOptions {
            max_connections: None,
            startup_timeout: Duration::from_secs(60),
            acquire_timeout: Duration::from_secs(10),
        }
    }
}

/// A database setting that does not parse, named by its variable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{variable}={value:?} is invalid: {reason}")]
pub struct DbConfigError {
    pub variable: String,
    pub value: String,
    pub reason: &'static str,
}

impl DbOptions {
    /// Reads the pool settings of `service` (e.g. `"billing"`) from `ULTRA_*` variables:
    ///
    /// - `ULTRA_<SERVICE>_DB_MAX_CONNECTIONS`, else `ULTRA_DB_MAX_CONNECTIONS`: pool size
    ///   (default 8 for SQLite, 10 for PostgreSQL);
    /// - `ULTRA_DB_STARTUP_TIMEOUT_MS` (default 60,000): how long a start waits for an
    ///   unreachable database;
    /// - `ULTRA_DB_ACQUIRE_TIMEOUT_MS` (default 10,000): how long a query waits for a
    ///   connection.
    pub fn from_env(
        env: &HashMap<String, String>,
        service: &str,
    ) -> Result<DbOptions, DbConfigError> {
        let defaults = DbOptions::default();
        let per_service = format!("ULTRA_{}_DB_MAX_CONNECTIONS", service.to_ascii_uppercase());
        let max_connections = match positive(env, &per_service)? {
            Some(max) => Some(max),
            None => positive(env, "ULTRA_DB_MAX_CONNECTIONS")?,
        };
        let max_connections = max_connections
            .map(|max| {
                u32::try_from(max).map_err(|_| DbConfigError {
                    variable: per_service.clone(),
                    value: max.to_string(),
                    reason: "too large",
                })
            })
            .transpose()?;
        let millis = |variable: &str, default: Duration| -> Result<Duration, DbConfigError> {
            Ok(positive(env, variable)?.map_or(default, Duration::from_millis))
        };
        Ok(DbOptions {
            max_connections,
            startup_timeout: millis("ULTRA_DB_STARTUP_TIMEOUT_MS", defaults.startup_timeout)?,
            acquire_timeout: millis("ULTRA_DB_ACQUIRE_TIMEOUT_MS", defaults.acquire_timeout)?,
        })
    }
}

fn positive(env: &HashMap<String, String>, variable: &str) -> Result<Option<u64>, DbConfigError> {
    let Some(value) = env.get(variable).filter(|value| !value.trim().is_empty()) else {
        return Ok(None);
    };
    match value.trim().replace('_', "").parse::<u64>() {
        Ok(parsed) if parsed > 0 => Ok(Some(parsed)),
        _ => Err(DbConfigError {
            variable: variable.to_owned(),
            value: value.clone(),
            reason: "expected a positive integer",
        }),
    }
}

/// A service's database: a connection pool plus the signal that wakes its outbox relay.
#[derive(Clone, Debug)]
pub struct Db {
    pool: AnyPool,
    backend: Backend,
    outbox_signal: Arc<Notify>,
}

impl Db {
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// A write transaction. On SQLite it takes the write lock at once (`BEGIN IMMEDIATE`):
    /// a deferred transaction that reads and then writes fails at once with SQLITE_BUSY
    /// (no busy wait) when another connection committed in between, as the outbox relay
    /// does after every event; taking the lock first makes it wait its turn instead.
    pub async fn begin(&self) -> Result<Transaction<'static>, StoreError> {
        Ok(match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        })
    }

    /// Tells the outbox relay that a transaction with events just committed, so they go out
    /// now rather than at the next poll. Optional: the relay polls anyway.
    pub fn wake_relay(&self) {
        self.outbox_signal.notify_one();
    }

    pub(crate) fn outbox_signal(&self) -> &Notify {
        &self.outbox_signal
    }

    /// Whether the database answers a trivial query now (a readiness probe).
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Closes the pool, waiting for checked-out connections to return.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// [`open_with`] and the default [`DbOptions`].
pub async fn open(url: &str, migrator: &Migrator) -> Result<Db, StoreError> {
    open_with(url, migrator, &DbOptions::default()).await
}

/// First and longest pause between two attempts to reach the database at start.
const RETRY_MIN: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(5);

/// Opens `url` and runs `migrator`.
///
/// - `sqlite://PATH` (or `sqlite:PATH`): the file and its directory are created if missing;
///   WAL journal (readers never block the writer), foreign keys on, 5 s busy timeout.
/// - `postgres://...` / `postgresql://...`: the database must exist (one per service, or
///   one schema per service through `?options=-csearch_path%3D...`).
///
/// While the server is unreachable (refused, unresolvable, starting up, too many
/// connections) this retries with exponential backoff for up to
/// [`DbOptions::startup_timeout`], then returns the last error. Other errors (bad
/// credentials, a missing database, a failing migration) return at once: waiting would
/// not fix them. Once open, the pool replaces connections a database restart broke (each
/// is checked before use), so a service outlives its database's restarts.
pub async fn open_with(
    url: &str,
    migrator: &Migrator,
    options: &DbOptions,
) -> Result<Db, StoreError> {
    install_default_drivers();
    let backend = Backend::of_url(url).ok_or_else(|| StoreError::UnsupportedUrl(url.to_owned()))?;
    let connect_url = match backend {
        Backend::Sqlite => sqlite_url(url)?,
        Backend::Postgres => url.to_owned(),
    };
    let deadline = Instant::now() + options.startup_timeout;
    let mut pause = RETRY_MIN;
    let mut attempt = 1_u32;
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        let outcome = connect_and_migrate(
            &connect_url,
            backend,
            migrator,
            options,
            remaining.max(Duration::from_millis(100)),
        )
        .await;
        match outcome {
            Ok(pool) => {
                tracing::debug!(?backend, attempt, "database opened and migrated");
                return Ok(Db {
                    pool,
                    backend,
                    outbox_signal: Arc::new(Notify::new()),
                });
            }
            Err(error) if error.is_unreachable() && Instant::now() + pause < deadline => {
                tracing::warn!(
                    %error,
                    attempt,
                    retry_in_ms = pause.as_millis() as u64,
                    database = %redacted(url),
                    "database not reachable yet; retrying"
                );
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(RETRY_MAX);
                attempt += 1;
            }
            Err(error) => return Err(error),
        }
    }
}

async fn connect_and_migrate(
    connect_url: &str,
    backend: Backend,
    migrator: &Migrator,
    options: &DbOptions,
    remaining: Duration,
) -> Result<AnyPool, StoreError> {
    let pool = AnyPoolOptions::new()
        .max_connections(
            options
                .max_connections
                .unwrap_or_else(|| backend.default_max_connections()),
        )
        .acquire_timeout(options.acquire_timeout)
        // A connection broken by a database restart is found out (and replaced) when it is
        // taken from the pool, not by the query that would have used it.
        .test_before_acquire(true)
        .after_connect(move |connection, _meta| {
            Box::pin(async move {
                if backend == Backend::Sqlite {
                    // WAL is persistent in the file; synchronous=NORMAL is per connection and
                    // is durable across crashes in WAL mode (only a power loss may drop the
                    // last commits, never corrupt).
                    connection.execute("PRAGMA journal_mode = WAL").await?;
                    connection.execute("PRAGMA synchronous = NORMAL").await?;
                    connection.execute("PRAGMA foreign_keys = ON").await?;
                }
                Ok(())
            })
        })
        // Lazy: the migration's first acquire is the connection attempt, bounded below by
        // what is left of the start's budget (the pool keeps its own acquire timeout for
        // the queries that come later).
        .connect_lazy(connect_url)?;
    let migrated = match tokio::time::timeout(remaining, migrator.run(&pool)).await {
        Ok(Ok(())) => return Ok(pool),
        Ok(Err(error)) => StoreError::from(error),
        Err(_elapsed) => StoreError::Database(sqlx::Error::PoolTimedOut),
    };
    pool.close().await;
    Err(migrated)
}

/// The SQLite URL to connect to: the file's directory is created, and the file too
/// (`mode=rwc`) unless the URL chose a mode.
fn sqlite_url(url: &str) -> Result<String, StoreError> {
    if let Some(path) = sqlite_path(url)
        && let Some(parent) = std::path::Path::new(path).parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent).map_err(|source| StoreError::Io {
            path: parent.display().to_string(),
            source,
        })?;
    }
    let separator = if url.contains('?') { '&' } else { '?' };
    let create = if url.contains("mode=") {
        String::new()
    } else {
        format!("{separator}mode=rwc")
    };
    Ok(format!("{url}{create}"))
}

fn sqlite_path(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    Some(rest.split('?').next().unwrap_or(rest))
}

/// `url` without its password, for logs.
fn redacted(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    match rest.split_once('@') {
        Some((credentials, host)) => {
            let user = credentials.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:***@{host}")
        }
        None => url.to_owned(),
    }
}

impl StoreError {
    /// Whether the error says the database server cannot be reached (yet): worth waiting
    /// for at start. SQLSTATE classes 08 (connection exception) and 57P (operator
    /// intervention: starting up, shutting down) and 53300 (too many connections).
    pub fn is_unreachable(&self) -> bool {
        match self {
            StoreError::Database(error) => is_unreachable(error),
            StoreError::Migration(MigrateError::Execute(error))
            | StoreError::Migration(MigrateError::ExecuteMigration(error, _)) => {
                is_unreachable(error)
            }
            _ => false,
        }
    }
}

fn is_unreachable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut => true,
        sqlx::Error::Database(database) => database.code().is_some_and(|code| {
            code.starts_with("08") || code.starts_with("57P") || code == "53300"
        }),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect()
    }

    #[test]
    fn options_read_the_service_then_the_global_variable() {
        assert_eq!(
            DbOptions::from_env(&env(&[]), "billing"),
            Ok(DbOptions::default())
        );
        let both = env(&[
            ("ULTRA_DB_MAX_CONNECTIONS", "4"),
            ("ULTRA_BILLING_DB_MAX_CONNECTIONS", "12"),
            ("ULTRA_DB_STARTUP_TIMEOUT_MS", "1500"),
        ]);
        let billing = DbOptions::from_env(&both, "billing").expect("valid");
        assert_eq!(billing.max_connections, Some(12));
        assert_eq!(billing.startup_timeout, Duration::from_millis(1500));
        let users = DbOptions::from_env(&both, "users").expect("valid");
        assert_eq!(users.max_connections, Some(4));
        let error = DbOptions::from_env(&env(&[("ULTRA_DB_MAX_CONNECTIONS", "0")]), "users")
            .expect_err("zero");
        assert!(
            error.to_string().contains("ULTRA_DB_MAX_CONNECTIONS"),
            "{error}"
        );
    }

    #[test]
    fn urls_pick_the_backend_and_logs_hide_passwords() {
        assert_eq!(Backend::of_url("sqlite://x.db"), Some(Backend::Sqlite));
        assert_eq!(Backend::of_url("sqlite:x.db"), Some(Backend::Sqlite));
        assert_eq!(
            Backend::of_url("postgresql://u@h/d"),
            Some(Backend::Postgres)
        );
        assert_eq!(Backend::of_url("mysql://h/d"), None);
        assert_eq!(
            redacted("postgres://ultra:secret@db:5432/users"),
            "postgres://ultra:***@db:5432/users"
        );
    }
}
