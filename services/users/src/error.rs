//! The users service's errors and their one mapping to gRPC status codes.

use tonic::Status;

use crate::config::ConfigError;

pub type Result<T, E = Error> = std::result::Result<T, E>;

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
