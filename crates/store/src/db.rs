//! Opening a database: the URL picks the backend, migrations run before anything else.

use std::sync::Arc;
use std::time::Duration;

use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, Executor};
use tokio::sync::Notify;

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

    pub async fn begin(&self) -> Result<Transaction<'static>, StoreError> {
        Ok(self.pool.begin().await?)
    }

    /// Tells the outbox relay that a transaction with events just committed, so they go out
    /// now rather than at the next poll. Optional: the relay polls anyway.
    pub fn wake_relay(&self) {
        self.outbox_signal.notify_one();
    }

    pub(crate) fn outbox_signal(&self) -> &Notify {
        &self.outbox_signal
    }

    /// Closes the pool, waiting for checked-out connections to return.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Opens `url` and runs `migrator`.
///
/// - `sqlite://PATH` (or `sqlite:PATH`): the file and its directory are created if missing;
///   WAL journal (readers never block the writer), foreign keys on, 5 s busy timeout.
/// - `postgres://...` / `postgresql://...`: a pool of up to 16 connections.
pub async fn open(url: &str, migrator: &Migrator) -> Result<Db, StoreError> {
    install_default_drivers();
    let (backend, connect_url, max_connections) = if let Some(path) = sqlite_path(url) {
        if let Some(parent) = std::path::Path::new(path).parent()
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
        (Backend::Sqlite, format!("{url}{create}"), 8)
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        (Backend::Postgres, url.to_owned(), 16)
    } else {
        return Err(StoreError::UnsupportedUrl(url.to_owned()));
    };
    let pool = AnyPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(10))
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
        .connect(&connect_url)
        .await?;
    migrator.run(&pool).await?;
    tracing::debug!(?backend, "database opened and migrated");
    Ok(Db {
        pool,
        backend,
        outbox_signal: Arc::new(Notify::new()),
    })
}

fn sqlite_path(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    Some(rest.split('?').next().unwrap_or(rest))
}
