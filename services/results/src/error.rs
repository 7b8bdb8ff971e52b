//! Everything the results service can fail with, mapped to gRPC in one place.

/// Errors of the results service.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error("database: {0}")]
    Store(#[from] ultra_store::StoreError),
    #[error("database: {0}")]
    Sql(#[from] sqlx::Error),
    #[error("stored results of {simulation_id} are unreadable: {reason}")]
    Corrupt {
        simulation_id: String,
        reason: String,
    },
    #[error("{0}")]
    InvalidArgument(String),
    #[error("results not found")]
    NotFound,
    #[error(transparent)]
    Rpc(#[from] ultra_rpc::RpcError),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<Error> for tonic::Status {
    fn from(error: Error) -> tonic::Status {
        match error {
            Error::InvalidArgument(message) => tonic::Status::invalid_argument(message),
            Error::NotFound => tonic::Status::not_found(error.to_string()),
            Error::Config(_)
            | Error::Store(_)
            | Error::Sql(_)
            | Error::Corrupt { .. }
            | Error::Rpc(_) => {
                tracing::error!(error = %error, "results service internal error");
                tonic::Status::internal("internal error")
            }
        }
    }
}
