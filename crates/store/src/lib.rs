//! Persistence shared by every service: database pools with embedded migrations (SQLite for
//! the embedded default, PostgreSQL for clusters, through one portable `sqlx::Any` pool), the
//! transactional outbox and idempotent consumption (DESIGN.md, Events), and the object store
//! for uploaded files and raw result samples (local files, S3 or GCS through `object_store`).
//!
//! SQL written against [`Db`] must stay portable between SQLite and PostgreSQL: `$1`
//! placeholders, TEXT ids, BIGINT millisecond timestamps, `ON CONFLICT ... DO NOTHING`.
//! Through `sqlx::Any` a PostgreSQL column decodes only as BOOL, INT2/4/8, FLOAT4/8, TEXT,
//! VARCHAR or BYTEA: aggregates whose PostgreSQL type is NUMERIC (`SUM` of a BIGINT, `AVG`)
//! must be `CAST(... AS BIGINT)` or `DOUBLE PRECISION`, and a parameter compared with an
//! INTEGER column is bound as `i32` or `i64` alike (PostgreSQL casts). Every service's
//! queries run against both backends in the tests (`crates/cli/tests/serve_e2e.rs`).

mod columns;
mod consumer;
mod db;
mod erasure;
mod objects;
mod outbox;

pub use columns::{finite_or_zero, from_bigint, to_bigint};
pub use consumer::spawn_consumer;
pub use db::{Backend, Db, DbConfigError, DbOptions, Transaction, open, open_with};
pub use erasure::{
    ERASED_USERS_TABLE_SQL, ERASURES_TABLE_SQL, ErasureRequest, ErasureSubject, ORG_DELETED,
    USER_DELETED, erased_organization_pseudonym, erasure_completed_at, pseudonym_of,
    record_erased_organization, record_erased_user, record_erasure,
};
pub use objects::ObjectStore;
pub use outbox::{
    OUTBOX_TABLE_SQL, PROCESSED_EVENTS_TABLE_SQL, enqueue, mark_processed, relay_once, spawn_relay,
};

/// Why a storage operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("unsupported database URL {0:?}: expected sqlite://PATH or postgres://...")]
    UnsupportedUrl(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("I/O error on {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid object key {0:?}")]
    InvalidKey(String),
    #[error("invalid object store URL {url:?}: {reason}")]
    InvalidObjectStoreUrl { url: String, reason: String },
    #[error("object store error on {key}: {source}")]
    Object {
        key: String,
        #[source]
        source: Box<object_store::Error>,
    },
    #[error("outbox row {event_id} is corrupt: {reason}")]
    CorruptOutboxRow { event_id: String, reason: String },
    #[error("bus error: {0}")]
    Bus(#[from] ultra_bus::BusError),
}
