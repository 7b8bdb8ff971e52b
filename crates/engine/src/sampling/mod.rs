#![allow(unused_variables, dead_code)]
//! Uniform design points: Monte Carlo, Latin Hypercube and scrambled Sobol.
//!
//! `Sampler::fill` gives the uniforms of one input (a dimension) for a run of iterations;
//! the value for iteration i of dimension k depends only on (method, seed, iterations, k, i).

use serde::{Deserialize, Serialize};

/// How the uniforms behind the inputs are drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum SamplingMethod {
    /// Independent pseudo-random draws.
    #[serde(rename = "mc")]
    MonteCarlo,
    /// One draw in each of `iterations` equal strata per input, strata randomly permuted.
    #[default]
    #[serde(rename = "lhs")]
    LatinHypercube,
    /// Owen-scrambled Sobol points.
    #[serde(rename = "sobol")]
    Sobol,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SamplingError {
    #[error("Sobol sampling supports at most {max} inputs, the model has {got}")]
    TooManySobolDimensions { max: usize, got: usize },
}

/// Draws the design points of one simulation.
#[derive(Debug, Clone)]
pub struct Sampler {
    method: SamplingMethod,
    seed: u64,
    iterations: u64,
    dimensions: usize,
}

impl Sampler {
    pub fn new(
        method: SamplingMethod,
        seed: u64,
        iterations: u64,
        dimensions: usize,
    ) -> Result<Self, SamplingError> {
        todo!()
    }

    /// Writes the uniforms of `dimension` for iterations `first_iteration ..
    /// first_iteration + out.len()` into `out`, each in (0, 1).
    pub fn fill(&self, dimension: usize, first_iteration: u64, out: &mut [f64]) {
        todo!()
    }
}
