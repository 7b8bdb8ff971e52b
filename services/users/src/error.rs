//! The users service's errors and their one mapping to gRPC status codes.

use tonic::Status;

use crate::config::ConfigError;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// gRPC metadata of a RESOURCE_EXHAUSTED login: whole seconds until a retry is served.
pub const RETRY_AFTER_METADATA: &str = "retry-after";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    InvalidArgument(String),
    #[error("{0}")]
    AlreadyExists(String),
    /// Login and refresh failures: deliberately vague (no hint whether the email exists).
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    NotFound(String),
    /// The last admin of an organisation cannot be removed or demoted.
    #[error("{0}")]
    FailedPrecondition(String),
    #[error("{0}")]
    PermissionDenied(String),
    /// Too many failed logins for the account or the client address: refused without
    /// checking the password until `retry_after` has passed.
    #[error("too many failed logins; retry in {} s", retry_after.as_secs().max(1))]
    LoginThrottled { retry_after: std::time::Duration },
    /// A transient condition (a contended audit chain): the caller may retry.
    #[error("{0}")]
    Unavailable(String),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Store(#[from] ultra_store::StoreError),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Auth(#[from] ultra_auth::AuthError),
    #[error(transparent)]
    Rpc(#[from] ultra_rpc::RpcError),
    #[error("background task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

impl From<Error> for Status {
    fn from(error: Error) -> Status {
        match error {
            Error::InvalidArgument(message) => Status::invalid_argument(message),
            Error::AlreadyExists(message) => Status::already_exists(message),
            Error::Unauthenticated(message) => Status::unauthenticated(message),
            Error::NotFound(message) => Status::not_found(message),
            Error::FailedPrecondition(message) => Status::failed_precondition(message),
            Error::PermissionDenied(message) => Status::permission_denied(message),
            Error::LoginThrottled { retry_after } => {
                let seconds = retry_after.as_secs_f64().ceil().max(1.0) as u64;
                let mut status = Status::resource_exhausted(format!(
                    "too many failed logins; retry in {seconds} s"
                ));
                // The gateway turns this into the HTTP Retry-After header.
                status
                    .metadata_mut()
                    .insert(RETRY_AFTER_METADATA, seconds.into());
                status
            }
            Error::Unavailable(message) => Status::unavailable(message),
            // Internal details go to the log, not to the client.
            Error::Config(_)
            | Error::Store(_)
            | Error::Database(_)
            | Error::Auth(_)
            | Error::Rpc(_)
            | Error::Task(_) => {
                tracing::error!(%error, "users request failed");
                Status::internal("internal error")
            }
        }
    }
}
