//! Everything the analytics service can fail with, mapped to gRPC in one place.

/// Errors of the analytics service.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error("database: {0}")]
    Store(#[from] ultra_store::StoreError),
    #[error("database: {0}")]
    Sql(#[from] sqlx::Error),
    #[error(transparent)]
    Rpc(#[from] ultra_rpc::RpcError),
    #[error("{0}")]
    InvalidArgument(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<Error> for tonic::Status {
    fn from(error: Error) -> tonic::Status {
        match error {
            Error::InvalidArgument(message) => tonic::Status::invalid_argument(message),
            Error::Config(_) | Error::Store(_) | Error::Sql(_) | Error::Rpc(_) => {
                tracing::error!(error = %error, "analytics service internal error");
                tonic::Status::internal("internal error")
            }
        }
    }
}
