//! Everything the simulation service can fail with, mapped to gRPC in one place.

/// Errors of the simulation service.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error("database: {0}")]
    Store(#[from] ultra_store::StoreError),
    #[error("database: {0}")]
    Sql(#[from] sqlx::Error),
    #[error("unknown simulation status {0:?} in the database")]
    CorruptStatus(String),
    #[error(transparent)]
    Rpc(#[from] ultra_rpc::RpcError),
    /// Bad request: iterations out of range, unknown enum value, malformed id.
    #[error("{0}")]
    InvalidArgument(String),
    /// The simulation (or, from the files service, the model) does not exist for the
    /// caller's organisation.
    #[error("{0}")]
    NotFound(String),
    /// `engine = GPU` on a service that has no GPU adapter.
    #[error("no GPU on this simulation service ({0}); use engine CPU or leave it unspecified")]
    NoGpu(String),
    /// Cancel of a simulation that already completed or failed.
    #[error("simulation is already {0}")]
    AlreadyFinished(&'static str),
    /// A peer (files, results) answered with an error that is not the caller's fault.
    #[error("{service} service: {status}")]
    Peer {
        service: &'static str,
        status: tonic::Status,
    },
    /// The organisation's plan does not allow this run: more iterations than its tier's
    /// per-run limit (`concurrent` false), or as many simulations queued or running as its
    /// tier allows at once (`concurrent` true: retry when one finishes).
    #[error("{message}")]
    PlanLimit { concurrent: bool, message: String },
    /// The service is shutting down.
    #[error("the simulation service is shutting down")]
    ShuttingDown,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A peer's answer: NOT_FOUND (the model of another organisation, or none) and
    /// INVALID_ARGUMENT pass through with the peer's message; the rest is the peer's problem.
    pub fn from_peer(service: &'static str, status: tonic::Status) -> Error {
        match status.code() {
            tonic::Code::NotFound => Error::NotFound(status.message().to_owned()),
            tonic::Code::InvalidArgument => Error::InvalidArgument(status.message().to_owned()),
            _ => Error::Peer { service, status },
        }
    }
}

impl From<Error> for tonic::Status {
    fn from(error: Error) -> tonic::Status {
        match error {
            Error::InvalidArgument(message) => tonic::Status::invalid_argument(message),
            Error::NotFound(message) => tonic::Status::not_found(message),
            Error::NoGpu(_) => tonic::Status::failed_precondition(error.to_string()),
            Error::AlreadyFinished(_) => tonic::Status::failed_precondition(error.to_string()),
            Error::ShuttingDown => tonic::Status::unavailable(error.to_string()),
            Error::PlanLimit {
                concurrent,
                message,
            } => {
                let mut status = if concurrent {
                    tonic::Status::resource_exhausted(message)
                } else {
                    tonic::Status::failed_precondition(message)
                };
                status.metadata_mut().insert(
                    ultra_rpc::PROBLEM_METADATA,
                    tonic::metadata::MetadataValue::from_static(ultra_rpc::PLAN_LIMIT_PROBLEM),
                );
                status
            }
            Error::Peer { service, status } => {
                tracing::warn!(service, status = %status, "peer call failed");
                tonic::Status::unavailable(format!("{service} service unavailable"))
            }
            Error::Config(_)
            | Error::Store(_)
            | Error::Sql(_)
            | Error::CorruptStatus(_)
            | Error::Rpc(_) => {
                tracing::error!(error = %error, "simulation service internal error");
                tonic::Status::internal("internal error")
            }
        }
    }
}
