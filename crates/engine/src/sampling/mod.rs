//! Uniform design points: Monte Carlo, Latin Hypercube and scrambled Sobol.
//!
//! `Sampler::fill` gives the uniforms of one input (a dimension) for a run of iterations;
//! the value for iteration i of dimension k depends only on (method, seed, iterations, k, i),
//! never on chunking, thread count or engine.
//!
//! # Random stream layout (fixed: changing it changes every result)
//!
//! All randomness comes from Philox4x32-10 ([`crate::rng::philox4x32_10`]) with
//!
//! * key = `[seed as u32, (seed >> 32) as u32]`,
//! * counter = `[iteration as u32, (iteration >> 32) as u32, dimension, stream]`,
//!
//! and a uniform is made from the first two output words by
//! [`crate::rng::uniform_open`]: 52 bits k = (x0 << 20) | (x1 >> 12), u = (k + 0.5) 2^-52,
//! strictly inside (0, 1). Streams:
//!
//! * [`STREAM_UNIFORM`] (0): the per-iteration uniform: the Monte Carlo draw, the Latin
//!   Hypercube jitter inside a stratum, the Sobol' jitter below the 32nd bit.
//! * [`STREAM_LHS_KEYS`] (1), iteration 0: the 4 words are the Feistel round keys of the
//!   Latin Hypercube permutation of the dimension.
//! * [`STREAM_SOBOL_SEED`] (2), iteration 0: word 0 is the Owen-scrambling seed of the
//!   dimension.
//!
//! # Methods
//!
//! * Monte Carlo: u = uniform(k, i).
//! * Latin Hypercube: u = (pi_k(i) + uniform(k, i)) / n, n = iterations, where pi_k is a
//!   keyed permutation of 0..n evaluated per element (see `lhs.rs`); each stratum
//!   [j/n, (j+1)/n) receives exactly one of the n points (checked in floating point too).
//! * Sobol': u = (owen_k(x_k(i)) + uniform(k, i)) 2^-32, where x_k(i) is the 32-bit Joe-Kuo
//!   Sobol' coordinate and owen_k a hash-based nested uniform scramble (see `sobol.rs`);
//!   at most [`MAX_SOBOL_DIMENSIONS`] inputs and 2^32 iterations.

mod lhs;
mod sobol;

use serde::{Deserialize, Serialize};

use crate::rng::{counter, open_unit, philox4x32_10, seed_key};
pub use lhs::LhsParameters;
use lhs::LhsPermutation;
pub use sobol::{
    MAX_SOBOL_DIMENSIONS, SOBOL_BITS, owen_scramble, sobol_directions, sobol_directions_first,
    sobol_point,
};

/// Stream of the per-iteration uniform (see the module docs).
pub const STREAM_UNIFORM: u32 = 0;
/// Stream of the Latin Hypercube permutation keys (drawn at iteration 0).
pub const STREAM_LHS_KEYS: u32 = 1;
/// Stream of the Sobol' scrambling seeds (drawn at iteration 0).
pub const STREAM_SOBOL_SEED: u32 = 2;

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

/// Requests a sampler cannot serve (a typed error, never a panic).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SamplingError {
    /// The embedded Joe-Kuo direction numbers cover 1024 dimensions.
    #[error("Sobol sampling supports at most {max} inputs, the model has {got}")]
    TooManySobolDimensions { max: usize, got: usize },
    /// The 32-bit Sobol' coordinates have 2^32 distinct points.
    #[error("Sobol sampling supports at most {max} iterations, {got} were requested")]
    TooManySobolIterations { max: u64, got: u64 },
}

/// Per-dimension constants, computed once in [`Sampler::new`].
#[derive(Debug, Clone)]
enum Plan {
    MonteCarlo,
    LatinHypercube(Vec<LhsPermutation>),
    Sobol(Vec<SobolDimension>),
}

#[derive(Debug, Clone)]
struct SobolDimension {
    directions: [u32; 32],
    scramble_seed: u32,
}

/// Draws the design points of one simulation.
#[derive(Debug, Clone)]
pub struct Sampler {
    method: SamplingMethod,
    seed: u64,
    iterations: u64,
    dimensions: usize,
    plan: Plan,
}

impl Sampler {
    /// Precomputes the per-dimension constants (LHS permutation keys, Sobol' direction
    /// numbers and scrambling seeds) so that `fill` only does per-element work.
    pub fn new(
        method: SamplingMethod,
        seed: u64,
        iterations: u64,
        dimensions: usize,
    ) -> Result<Self, SamplingError> {
        let plan = match method {
            SamplingMethod::MonteCarlo => Plan::MonteCarlo,
            SamplingMethod::LatinHypercube => Plan::LatinHypercube(
                (0..dimensions)
                    .map(|k| LhsPermutation::new(seed, k as u32, iterations))
                    .collect(),
            ),
            SamplingMethod::Sobol => {
                if dimensions > MAX_SOBOL_DIMENSIONS {
                    return Err(SamplingError::TooManySobolDimensions {
                        max: MAX_SOBOL_DIMENSIONS,
                        got: dimensions,
                    });
                }
                let max = 1u64 << SOBOL_BITS;
                if iterations > max {
                    return Err(SamplingError::TooManySobolIterations {
                        max,
                        got: iterations,
                    });
                }
                let key = seed_key(seed);
                Plan::Sobol(
                    sobol::sobol_directions_first(dimensions)
                        .into_iter()
                        .enumerate()
                        .map(|(k, directions)| SobolDimension {
                            directions,
                            scramble_seed: philox4x32_10(
                                counter(0, k as u32, STREAM_SOBOL_SEED),
                                key,
                            )[0],
                        })
                        .collect(),
                )
            }
        };
        Ok(Self {
            method,
            seed,
            iterations,
            dimensions,
            plan,
        })
    }

    /// The sampling method.
    pub fn method(&self) -> SamplingMethod {
        self.method
    }

    /// The seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The number of iterations (n of the Latin Hypercube strata).
    pub fn iterations(&self) -> u64 {
        self.iterations
    }

    /// The number of inputs (dimensions).
    pub fn dimensions(&self) -> usize {
        self.dimensions
    }

    /// Writes the uniforms of `dimension` for iterations `first_iteration ..
    /// first_iteration + out.len()` into `out`, each in (0, 1).
    ///
    /// Callers keep `dimension < dimensions` (else this panics: it is an internal
    /// invariant of the executor, not user input) and the iterations below `iterations`
    /// (past it, values stay in (0, 1) but lose the LHS / Sobol' structure).
    pub fn fill(&self, dimension: usize, first_iteration: u64, out: &mut [f64]) {
        debug_assert!(
            dimension < self.dimensions,
            "dimension {dimension} out of range"
        );
        debug_assert!(
            first_iteration.saturating_add(out.len() as u64) <= self.iterations,
            "iterations out of range"
        );
        let key = seed_key(self.seed);
        let k = dimension as u32;
        match &self.plan {
            Plan::MonteCarlo => {
                for (i, u) in (first_iteration..).zip(out.iter_mut()) {
                    let w = philox4x32_10(counter(i, k, STREAM_UNIFORM), key);
                    *u = open_unit(w[0], w[1]);
                }
            }
            Plan::LatinHypercube(perms) => {
                let perm = &perms[dimension];
                let n = self.iterations as f64;
                let inv_n = 1.0 / n;
                for (i, u) in (first_iteration..).zip(out.iter_mut()) {
                    let w = philox4x32_10(counter(i, k, STREAM_UNIFORM), key);
                    let jitter = open_unit(w[0], w[1]);
                    let stratum = perm.apply(i) as f64;
                    *u = in_stratum((stratum + jitter) * inv_n, stratum, n);
                }
            }
            Plan::Sobol(dims) => {
                let dim = &dims[dimension];
                // Gray-code order: x(i + 1) = x(i) ^ v[trailing_ones(i)], identical to
                // evaluating `sobol_point` at every index.
                let mut x = sobol_point(&dim.directions, first_iteration as u32);
                for (i, u) in (first_iteration..).zip(out.iter_mut()) {
                    let w = philox4x32_10(counter(i, k, STREAM_UNIFORM), key);
                    let jitter = open_unit(w[0], w[1]);
                    *u = sobol_unit(owen_scramble(x, dim.scramble_seed), jitter);
                    x ^= dim.directions[(i as u32).trailing_ones() as usize & 31];
                }
            }
        }
    }
}

/// u = (y + jitter) 2^-32 for a 32-bit coordinate y and jitter in (0, 1). y + jitter can
/// round up to y + 1 (for y >= 1 the ulp is at least 2^-52, while the jitter can be
/// 2^-53 below 1); it is then pulled back to the largest double below y + 1, so u stays in
/// [y 2^-32, (y + 1) 2^-32) and below 1. The scaling by 2^-32 is exact.
#[inline(always)]
fn sobol_unit(y: u32, jitter: f64) -> f64 {
    let y = f64::from(y);
    let t = y + jitter;
    let t = if t < y + 1.0 {
        t
    } else {
        (y + 1.0).next_down()
    };
    t * (1.0 / 4_294_967_296.0)
}

/// Pulls u = (stratum + jitter) / n back into its stratum where rounding pushed it onto a
/// neighbour, so that floor(u * n) == stratum holds in floating point too; this also
/// guarantees 0 < u < 1. The loops run at most a couple of ulps and are almost never
/// entered.
#[inline(always)]
fn in_stratum(mut u: f64, stratum: f64, n: f64) -> f64 {
    while u * n >= stratum + 1.0 {
        u = u.next_down();
    }
    while u * n < stratum {
        u = u.next_up();
    }
    u
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sobol_limits_are_typed_errors() {
        let too_wide = Sampler::new(SamplingMethod::Sobol, 1, 10, MAX_SOBOL_DIMENSIONS + 1);
        assert_eq!(
            too_wide.err(),
            Some(SamplingError::TooManySobolDimensions {
                max: 1024,
                got: 1025
            })
        );
        let too_long = Sampler::new(SamplingMethod::Sobol, 1, (1 << 32) + 1, 2);
        assert!(matches!(
            too_long,
            Err(SamplingError::TooManySobolIterations { .. })
        ));
        assert!(Sampler::new(SamplingMethod::Sobol, 1, 1 << 32, MAX_SOBOL_DIMENSIONS).is_ok());
    }

    #[test]
    fn in_stratum_fixes_rounding_at_the_edges() {
        // Start just outside each stratum on both sides; the fix-up must land inside.
        let mut fixed = 0;
        for n in [1u32, 3, 7, 10, 49, 1000, 4097, 100_000, 1 << 30] {
            let nf = f64::from(n);
            for s in [0, 1, n / 3, n / 2, n.saturating_sub(2), n - 1].map(|s| s.min(n - 1)) {
                let sf = f64::from(s);
                // (stratum + jitter) / n is never <= 0 since jitter >= 2^-53.
                let below = (sf / nf).next_down().max(f64::MIN_POSITIVE);
                for start in [below, (sf + 1.0) / nf] {
                    let u = in_stratum(start, sf, nf);
                    assert_eq!((u * nf).floor(), sf, "n {n} stratum {s} start {start}");
                    assert!(u > 0.0 && u < 1.0);
                    fixed += usize::from(u != start);
                }
            }
        }
        assert!(fixed > 0);
    }

    #[test]
    fn sobol_unit_stays_in_its_cell() {
        let top = 1.0 - 2f64.powi(-53);
        assert!(sobol_unit(u32::MAX, top) < 1.0);
        for y in [0u32, 1, 1 << 31, 0xffff_fffe, u32::MAX] {
            for jitter in [2f64.powi(-53), 0.5, top] {
                let u = sobol_unit(y, jitter);
                assert_eq!((u * 4_294_967_296.0).floor(), f64::from(y), "{y} {jitter}");
                assert!(u > 0.0 && u < 1.0);
            }
        }
    }
}
