//! Ultra's GPU engine: the model IR compiled to one WGSL compute shader and run with wgpu
//! (Vulkan: NVIDIA in production, Mesa lavapipe on machines without a GPU).
//!
//! The shader reproduces the CPU engine's random streams word for word (Philox4x32-10 with
//! the same counters, the same Latin Hypercube permutation and Sobol' points, the same
//! Gaussian copula) and evaluates the model in f32. Two ways to get statistics back:
//!
//! * [`Statistics::Host`]: every sample comes back (as f32) and the CPU engine's own
//!   statistics code summarises it, so figures differ from a CPU run only by f32 rounding.
//! * [`Statistics::Device`]: the GPU reduces each output to its count, compensated sums of
//!   powers about a centre, min and max per workgroup (the host adds those up in f64);
//!   percentiles, histogram, ECDF, convergence and sensitivity come from the first
//!   `kept_samples` iterations, brought back whole. This is what makes billions of
//!   iterations per second possible: almost nothing crosses the bus. (The first iterations
//!   rather than every k-th: a strided subsequence of a Sobol' sequence is not uniform.)
//!
//! Results report `engine.kind = "gpu"`, the adapter's name and `precision = "f32"`.

mod codegen;
mod device;
mod error;
mod executor;
mod inputs;
pub mod select;
mod tables;

use std::sync::atomic::AtomicBool;

use ultra_engine::executor::{Plan, Progress, Samples};
use ultra_engine::ir::Model;
use ultra_engine::sampling::{LhsParameters, Sampler, sobol_directions_first};
use ultra_engine::simulate::{check_options, correlation_matrices, summarise};
use ultra_engine::{EngineInfo, SamplingMethod, SimulationOptions, SimulationResult};

use codegen::{Mode, ShaderOptions};
pub use device::{AdapterDescription, GpuDevice, OpenOptions};
pub use error::GpuError;
use executor::{Moments, OutputRange, RunSpec};
pub use select::EngineChoice;

/// Words per input in the per-dimension constants buffer (see `prelude.wgsl`).
const DIM_WORDS: usize = 40;

/// Where the statistics of a GPU run are computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Statistics {
    /// All samples come back; the CPU engine's statistics code summarises them.
    Host,
    /// Moments, min and max on the device over every iteration; percentiles, histogram,
    /// ECDF, convergence and sensitivity from the first `kept_samples` iterations.
    Device { kept_samples: u64 },
}

/// Runs a simulation on `device`. Same contract as [`ultra_engine::simulate`]: a pure
/// function of (model, iterations, seed, sampling), progress after each batch, `cancel`
/// honoured between batches.
pub fn simulate(
    device: &GpuDevice,
    model: &Model,
    options: &SimulationOptions,
    statistics: Statistics,
    progress: &(dyn Fn(Progress) + Sync),
    cancel: &AtomicBool,
) -> Result<SimulationResult, GpuError> {
    check_options(options)?;
    let valid = model.validate()?;
    let plan = Plan::compile(&valid)?;
    let matrices = correlation_matrices(&valid.inputs, &valid.correlations);
    let (_, correlations) = ultra_engine::correlation::Copula::new(valid.inputs.len(), &matrices)
        .map_err(ultra_engine::EngineError::from)?;
    // The CPU sampler's own checks (Sobol' dimensions and iterations).
    Sampler::new(
        options.sampling,
        options.seed,
        options.iterations,
        valid.inputs.len(),
    )
    .map_err(ultra_engine::EngineError::from)?;
    if options.sampling != SamplingMethod::MonteCarlo && options.iterations >= 1 << 32 {
        return Err(GpuError::TooLarge(format!(
            "{:?} sampling on the GPU takes fewer than 2^32 iterations",
            options.sampling
        )));
    }
    let keep_inputs = options.sensitivity && !valid.inputs.is_empty();
    let dims = dimension_constants(options, valid.inputs.len());
    let outputs = valid.outputs.len();
    let keep_all = codegen::generate(
        &valid,
        ShaderOptions {
            sampling: options.sampling,
            keep_inputs,
            mode: Mode::KeepAll,
            int64: device.int64,
        },
    )?;
    // Every sample of the first `kept` iterations: all of them on host statistics.
    let kept = match statistics {
        Statistics::Host => options.iterations,
        Statistics::Device { kept_samples } => options.iterations.min(kept_samples.max(1)),
    };
    let prefix = executor::run(
        device,
        &keep_all,
        Mode::KeepAll,
        &RunSpec {
            iterations: kept,
            seed: options.seed,
            dims: dims.clone(),
            ranges: Vec::new(),
            batch: None,
            progress: if statistics == Statistics::Host {
                progress
            } else {
                &|_| {}
            },
            cancel,
        },
    )?;
    let reduced = match statistics {
        Statistics::Host => None,
        Statistics::Device { .. } => {
            let reduce = codegen::generate(
                &valid,
                ShaderOptions {
                    sampling: options.sampling,
                    keep_inputs: false,
                    mode: Mode::Reduce,
                    int64: device.int64,
                },
            )?;
            let ranges = prefix.columns[..outputs]
                .iter()
                .map(|c| output_range(c))
                .collect();
            Some(executor::run(
                device,
                &reduce,
                Mode::Reduce,
                &RunSpec {
                    iterations: options.iterations,
                    seed: options.seed,
                    dims,
                    ranges,
                    batch: None,
                    progress,
                    cancel,
                },
            )?)
        }
    };
    if prefix.parameters_flagged || reduced.as_ref().is_some_and(|r| r.parameters_flagged) {
        // Some iteration's formula parameters left their domain: the CPU engine finds the
        // first such iteration and names the node, exactly as a CPU run would.
        tracing::warn!("distribution parameters out of domain on the GPU; rerunning on the CPU");
        let cpu = ultra_engine::simulate(model, options, progress, cancel)?;
        return Ok(cpu);
    }

    let widen = |column: &Vec<f32>| column.iter().map(|&x| f64::from(x)).collect::<Vec<f64>>();
    let samples = Samples {
        outputs: prefix.columns[..outputs].iter().map(widen).collect(),
        inputs: prefix.columns[outputs..].iter().map(widen).collect(),
    };
    // Convergence points and the like are over the kept iterations.
    let summary_options = SimulationOptions {
        iterations: kept,
        ..options.clone()
    };
    let mut results = summarise(&plan, &samples, &summary_options);
    if let Some(reduced) = &reduced {
        for (result, moments) in results.iter_mut().zip(&reduced.moments) {
            apply_moments(&mut result.statistics, moments, options.iterations);
        }
    }
    Ok(SimulationResult {
        iterations: options.iterations,
        seed: options.seed,
        sampling: options.sampling,
        outputs: results,
        correlations,
        evaluated_nodes: plan.evaluated_nodes,
        compute_units: options.iterations as f64 * plan.evaluated_nodes as f64 / 1e9,
        engine: EngineInfo {
            kind: "gpu".to_owned(),
            adapter: Some(device.description().name.clone()),
            precision: "f32".to_owned(),
        },
        samples,
    })
}

/// The per-input constants the shader reads: Latin Hypercube keys and widths, the
/// iteration count, the Sobol' scramble seed and direction numbers.
fn dimension_constants(options: &SimulationOptions, inputs: usize) -> Vec<u32> {
    let mut words = vec![0u32; inputs.max(1) * DIM_WORDS];
    let key = ultra_engine::rng::seed_key(options.seed);
    let directions = if options.sampling == SamplingMethod::Sobol {
        sobol_directions_first(inputs)
    } else {
        Vec::new()
    };
    for d in 0..inputs {
        let w = &mut words[d * DIM_WORDS..(d + 1) * DIM_WORDS];
        if options.sampling == SamplingMethod::LatinHypercube {
            let lhs = LhsParameters::new(options.seed, d as u32, options.iterations);
            w[..4].copy_from_slice(&lhs.keys);
            w[4] = lhs.high_bits;
            w[5] = lhs.low_bits;
            w[6] = lhs.n.min(u64::from(u32::MAX)) as u32;
        }
        if let Some(v) = directions.get(d) {
            w[7] = ultra_engine::rng::philox4x32_10(
                ultra_engine::rng::counter(0, d as u32, ultra_engine::sampling::STREAM_SOBOL_SEED),
                key,
            )[0];
            w[8..40].copy_from_slice(v);
        }
    }
    words
}

/// From the kept first iterations of an output: the mean of the finite values, the centre
/// about which the device accumulates powers (so that f32 sums do not cancel), and the
/// histogram range, their span widened by a quarter on each side (values outside land in
/// the below / above bins).
fn output_range(column: &[f32]) -> OutputRange {
    let finite = column
        .iter()
        .filter(|x| x.is_finite())
        .map(|&x| f64::from(x));
    let (sum, count, low, high) = finite.fold(
        (0.0f64, 0u64, f64::INFINITY, f64::NEG_INFINITY),
        |(s, n, lo, hi), x| (s + x, n + 1, lo.min(x), hi.max(x)),
    );
    if count == 0 {
        return OutputRange {
            center: 0.0,
            low: 0.0,
            high: 1.0,
        };
    }
    let margin = ((high - low) * 0.25).max(high.abs().max(1.0) * 1e-6);
    OutputRange {
        center: (sum / count as f64) as f32,
        low: (low - margin) as f32,
        high: (high + margin) as f32,
    }
}

/// The on-device histogram as the results report histograms: equal-width bins over the
/// range, plus a first bin from the minimum and a last bin to the maximum when values fell
/// outside it. `None` when the device kept none (too many outputs).
fn device_histogram(m: &Moments) -> Option<ultra_engine::stats::Histogram> {
    let bins = m.histogram.len().checked_sub(2)?;
    if bins == 0 || m.count < 1.0 {
        return None;
    }
    let (low, high) = (f64::from(m.range.low), f64::from(m.range.high));
    let width = (high - low) / bins as f64;
    let mut edges = Vec::with_capacity(bins + 3);
    let mut counts = Vec::with_capacity(bins + 2);
    let (below, above) = (m.histogram[bins], m.histogram[bins + 1]);
    if below > 0 {
        edges.push(m.min);
        counts.push(below);
    }
    edges.extend((0..=bins).map(|k| low + k as f64 * width));
    counts.extend_from_slice(&m.histogram[..bins]);
    if above > 0 {
        edges.push(m.max);
        counts.push(above);
    }
    Some(ultra_engine::stats::Histogram { edges, counts })
}

/// Replaces the figures that the kept samples only estimate by the device's figures over
/// every iteration: count, errors, mean, standard deviation, standard error, skewness,
/// kurtosis, min, max and the histogram.
fn apply_moments(
    statistics: &mut ultra_engine::stats::OutputStatistics,
    m: &Moments,
    iterations: u64,
) {
    let n = m.count;
    statistics.count = n as u64;
    statistics.errors = iterations.saturating_sub(n as u64);
    if n < 1.0 {
        return;
    }
    // Raw moments about the centre c, then central moments about the mean.
    let d1 = m.sum / n;
    let r2 = m.sum2 / n;
    let r3 = m.sum3 / n;
    let r4 = m.sum4 / n;
    let m2 = (r2 - d1 * d1).max(0.0);
    let m3 = r3 - 3.0 * d1 * r2 + 2.0 * d1.powi(3);
    let m4 = r4 - 4.0 * d1 * r3 + 6.0 * d1 * d1 * r2 - 3.0 * d1.powi(4);
    statistics.mean = m.center + d1;
    statistics.std = if n > 1.0 {
        (m2 * n / (n - 1.0)).sqrt()
    } else {
        f64::NAN
    };
    statistics.std_error = statistics.std / n.sqrt();
    statistics.skewness = if m2 > 0.0 {
        m3 / m2.powf(1.5)
    } else {
        f64::NAN
    };
    statistics.kurtosis = if m2 > 0.0 {
        m4 / (m2 * m2) - 3.0
    } else {
        f64::NAN
    };
    statistics.min = m.min;
    statistics.max = m.max;
    if let Some(histogram) = device_histogram(m) {
        statistics.histogram = histogram;
    }
}
