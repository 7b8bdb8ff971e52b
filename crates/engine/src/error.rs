//! The engine's error type: everything a simulation request can get wrong, typed so that
//! the services can map it to a precise API error.

use crate::correlation::CorrelationError;
use crate::dist::DistributionError;
use crate::ir::{ModelError, NodeId};
use crate::sampling::SamplingError;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EngineError {
    #[error("invalid model: {0}")]
    Model(#[from] ModelError),
    #[error("invalid correlation: {0}")]
    Correlation(#[from] CorrelationError),
    #[error("{0}")]
    Sampling(#[from] SamplingError),
    #[error("iterations must be at least 1")]
    ZeroIterations,
    #[error("{requested} iterations requested, above the cap of {cap}")]
    TooManyIterations { requested: u64, cap: u64 },
    #[error("threads must be at least 1")]
    ZeroThreads,
    #[error("chunk size must be at least 1")]
    ZeroChunkSize,
    #[error("percentile {0} is outside [0, 100]")]
    InvalidPercentile(f64),
    #[error(
        "node {node}{}: at iteration {iteration} its parameters are invalid: {source}",
        label.as_ref().map(|l| format!(" ({l})")).unwrap_or_default()
    )]
    DynamicDistribution {
        node: NodeId,
        label: Option<String>,
        iteration: u64,
        source: DistributionError,
    },
    #[error("the simulation was cancelled")]
    Cancelled,
    #[error("could not start worker threads: {0}")]
    ThreadPool(String),
}
