//! The files service's errors and their one mapping to gRPC status codes.

use tonic::Status;

use crate::config::ConfigError;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    InvalidArgument(String),
    /// The model does not compile; the text names the cells at fault.
    #[error("invalid model: {0}")]
    InvalidModel(String),
    /// The upload is larger than `ULTRA_MAX_UPLOAD_BYTES`.
    #[error("upload exceeds the limit of {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("{0}")]
    Unauthenticated(String),
    /// The signed caller lacks the permission (checked again here after the gateway).
    #[error("{0}")]
    PermissionDenied(String),
    #[error("model not found")]
    NotFound,
    /// The client's stream failed (cancelled, reset): its status is passed on.
    #[error("upload stream failed: {0}")]
    Stream(Status),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Store(#[from] ultra_store::StoreError),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("encryption error: {0}")]
    Crypto(#[from] crate::crypto::CryptoError),
    #[error("stored data is inconsistent: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Rpc(#[from] ultra_rpc::RpcError),
    #[error("background task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

impl From<Error> for Status {
    fn from(error: Error) -> Status {
        match error {
            Error::InvalidArgument(message) => Status::invalid_argument(message),
            Error::InvalidModel(_) => Status::invalid_argument(error.to_string()),
            Error::TooLarge { .. } => Status::resource_exhausted(error.to_string()),
            Error::Unauthenticated(message) => Status::unauthenticated(message),
            Error::PermissionDenied(message) => Status::permission_denied(message),
            Error::NotFound => Status::not_found(error.to_string()),
            Error::Stream(status) => status,
            // Internal details go to the log, not to the client.
            Error::Config(_)
            | Error::Store(_)
            | Error::Database(_)
            | Error::Crypto(_)
            | Error::Corrupt(_)
            | Error::Rpc(_)
            | Error::Task(_) => {
                tracing::error!(%error, "files request failed");
                Status::internal("internal error")
            }
        }
    }
}
