#![allow(unused_variables, dead_code)]
//! Statistics of output samples and sensitivity of outputs to inputs.
//!
//! Every figure is computed from the full sample arrays in iteration order with fixed-size
//! blocks and a fixed reduction tree, so that it is bit-identical whatever the thread
//! count or chunking of the run that produced the samples.

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

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Percentile {
    /// In percent.
    pub p: f64,
    pub value: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Histogram {
    /// `counts.len() + 1` bin edges.
    pub edges: Vec<f64>,
    pub counts: Vec<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EcdfPoint {
    pub value: f64,
    pub probability: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConvergencePoint {
    pub iterations: u64,
    pub mean: f64,
    /// 95% confidence interval of the mean.
    pub ci_low: f64,
    pub ci_high: f64,
}

/// Summary of one output over the finite samples; non-finite samples (errors such as a
/// division by zero in that iteration) are counted in `errors` and left out.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutputStatistics {
    pub count: u64,
    pub errors: u64,
    pub mean: f64,
    pub std: f64,
    pub min: f64,
    pub max: f64,
    pub skewness: f64,
    pub kurtosis: f64,
    pub std_error: f64,
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
    pub spearman: f64,
    pub regression: f64,
    pub contribution_to_variance: f64,
    pub mean_at_low: f64,
    pub mean_at_high: f64,
}

pub fn summarize(samples: &[f64], options: &StatsOptions) -> OutputStatistics {
    todo!()
}

/// For each output (outer) the sensitivity to each input (inner, in input order).
pub fn sensitivity(outputs: &[&[f64]], inputs: &[&[f64]]) -> Vec<Vec<InputSensitivity>> {
    todo!()
}
