//! Ultra's simulation engine: model IR, distributions, counter-based sampling, rank
//! correlation, the fused CPU executor and output statistics.
//!
//! A simulation is a pure function of (model, iterations, seed, sampling method): see
//! [`simulate::simulate`].

pub mod correlation;
pub mod dist;
pub mod error;
pub mod executor;
pub mod functions;
pub mod ir;
pub mod rng;
pub mod sampling;
pub mod simulate;
pub mod stats;

pub use error::EngineError;
pub use ir::Model;
pub use sampling::SamplingMethod;
pub use simulate::{EngineInfo, SimulationOptions, SimulationResult, simulate};
