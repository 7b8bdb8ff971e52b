//! Statistics of output samples and sensitivity of outputs to inputs.
//!
//! Every figure is computed from the full sample arrays in iteration order with fixed-size
//! blocks and a fixed reduction tree, so that it is bit-identical whatever the thread
//! count or chunking of the run that produced the samples.
//!
//! Each array is sorted once, as order-preserving u64 keys (module `sort`); percentiles,
//! histogram, ECDF, ranks and tornado tails are all read off the sorted order. Sums use
//! fixed 4096-element blocks combined by a fixed pairwise tree (module `reduce`); rank
//! correlations use exact integer sums.
//!
//! Conventions: non-finite samples are errors, counted and left out. Undefined statistics
//! (empty data, a variance of zero) are NaN, except the sensitivity measures, which are 0
//! when there is no variation to measure (so that a tornado chart always has numbers).

mod reduce;
mod regression;
mod sensitivity;
mod sort;
mod summary;

pub use sensitivity::MAX_SENSITIVITY_ITERATIONS;

use serde::Serialize;

/// What to compute beyond the fixed summary.
#[derive(Debug, Clone, PartialEq)]
pub struct StatsOptions {
    /// Percentiles to report, in percent (0..=100).
    pub percentiles: Vec<f64>,
    /// Upper bound on the number of histogram bins (Freedman-Diaconis chooses below it).
    pub max_histogram_bins: usize,
    /// Number of points of the empirical CDF to report.
    pub ecdf_points: usize,
    /// Iteration count between convergence points (the run's chunk size).
    pub convergence_every: u64,
}

impl Default for StatsOptions {
    fn default() -> Self {
        Self {
            percentiles: vec![1.0, 5.0, 10.0, 25.0, 50.0, 75.0, 90.0, 95.0, 99.0],
            max_histogram_bins: 200,
            ecdf_points: 101,
            convergence_every: 10_000,
        }
    }
}

/// One requested percentile.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Percentile {
    /// In percent.
    pub p: f64,
    /// Linear interpolation between order statistics (numpy 'linear'); NaN when there is
    /// no finite sample or `p` is outside 0..=100.
    pub value: f64,
}

/// Equal-width histogram of the finite samples (Freedman-Diaconis bin count); see
/// [`summarize`]. Both vectors are empty when there is no finite sample.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Histogram {
    /// `counts.len() + 1` bin edges.
    pub edges: Vec<f64>,
    /// Samples in [edges\[i\], edges\[i+1\]), the last bin closed.
    pub counts: Vec<u64>,
}

/// One point of the empirical CDF: `value` is the quantile at `probability`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EcdfPoint {
    pub value: f64,
    pub probability: f64,
}

/// Running mean after the first `iterations` iterations (over their finite samples).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConvergencePoint {
    /// Iterations seen (finite or not).
    pub iterations: u64,
    /// NaN while no finite sample has been seen.
    pub mean: f64,
    /// 95% confidence interval of the mean, mean -+ 1.96 s / sqrt(count) (s the sample
    /// standard deviation of the finite samples so far); NaN below two finite samples.
    pub ci_low: f64,
    pub ci_high: f64,
}

/// Summary of one output over the finite samples; non-finite samples (errors such as a
/// division by zero in that iteration) are counted in `errors` and left out.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutputStatistics {
    /// Finite samples.
    pub count: u64,
    /// Non-finite samples (NaN or infinite).
    pub errors: u64,
    pub mean: f64,
    /// Sample standard deviation (divisor n - 1); NaN below two samples.
    pub std: f64,
    pub min: f64,
    pub max: f64,
    /// g1 = m3 / m2^1.5 (biased, as scipy.stats.skew); NaN for zero variance.
    pub skewness: f64,
    /// Excess kurtosis g2 = m4 / m2^2 - 3 (biased, as scipy.stats.kurtosis); NaN for zero
    /// variance.
    pub kurtosis: f64,
    /// std / sqrt(count).
    pub std_error: f64,
    /// In the order of [`StatsOptions::percentiles`].
    pub percentiles: Vec<Percentile>,
    pub histogram: Histogram,
    pub ecdf: Vec<EcdfPoint>,
    pub convergence: Vec<ConvergencePoint>,
}

/// Sensitivity of one output to one input.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InputSensitivity {
    /// Index of the input in the `inputs` slice given to `sensitivity`.
    pub input: usize,
    /// Spearman rank correlation, average ranks for ties (scipy.stats.spearmanr); 0 when
    /// the input or the output is constant.
    pub spearman: f64,
    /// Standardised regression coefficient b_k sd(x_k) / sd(y) of the multiple linear
    /// regression of the output on all inputs; 0 for a constant input, an input collinear
    /// with earlier inputs, or a constant output.
    pub regression: f64,
    /// sign(r_k) r_k^2 / sum_j r_j^2 with r the Spearman correlations (0 if all are 0).
    pub contribution_to_variance: f64,
    /// Mean of the output over the iterations where the input is in its lowest 10%
    /// (the first max(1, floor(n / 10)) iterations of the input's stable sort order: ties
    /// in iteration order); NaN when no iteration is usable.
    pub mean_at_low: f64,
    /// Same over the highest 10% (the last max(1, floor(n / 10)) of that order).
    pub mean_at_high: f64,
}

/// Summary statistics of one output's samples, in iteration order.
///
/// Non-finite samples are counted in `errors`; every other figure is over the finite ones
/// (`count` of them). Definitions and accuracy: mean and central moments by two blocked
/// passes (relative error about 1e-15); percentiles, ECDF and histogram edges from the
/// sorted samples, matching `np.percentile` bit for bit; histogram bins by
/// Freedman-Diaconis, 2 IQR / n^(1/3) wide, ceil((max - min) / width) of them clamped to
/// [1, `max_histogram_bins`] (Sturges' ceil(log2 n) + 1 when IQR = 0; one bin [x, x] when
/// all values are equal); ECDF at probabilities k / (`ecdf_points` - 1); convergence after
/// every `convergence_every` iterations and at the end, over the finite samples so far.
/// No finite sample: count 0, NaN statistics and percentiles, empty histogram and ECDF.
///
/// Bit-identical whatever the rayon thread count. Cost: one integer sort and four passes.
pub fn summarize(samples: &[f64], options: &StatsOptions) -> OutputStatistics {
    summary::summarize(samples, options)
}

/// For each output (outer) the sensitivity to each input (inner, in input order).
///
/// Per output, iterations where that output or any input is non-finite are left out. All
/// slices are read up to the shortest length (at most [`MAX_SENSITIVITY_ITERATIONS`]). The
/// ranks of each input are computed once (an integer argsort) and reused by every output whose
/// non-finite iterations are a subset of the inputs' ones; an output with its own
/// non-finite iterations gets its own ranking of the remaining rows. See
/// [`InputSensitivity`] for the definitions. Bit-identical whatever the thread count.
pub fn sensitivity(outputs: &[&[f64]], inputs: &[&[f64]]) -> Vec<Vec<InputSensitivity>> {
    sensitivity::sensitivity(outputs, inputs)
}
