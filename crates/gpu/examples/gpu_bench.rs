//! Iterations per second of the CPU executor and the wgpu executor, side by side, on the
//! ten-year NPV model and on a generated 1,000-cell model. Run by `scripts/bench/gpu.sh`.
//!
//! Each figure is the best of `--repeat` timed runs after one untimed warm-up run (which
//! compiles the pipeline). GPU runs use on-device statistics (moments, min and max over
//! every iteration; 100,000 kept samples for percentiles), Monte Carlo sampling and no
//! sensitivity, the configuration for very large runs; `--host-stats` times the mode that
//! brings every sample back instead.

use std::sync::atomic::AtomicBool;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use ultra_engine::{Model, SamplingMethod, SimulationOptions};
use ultra_gpu::{GpuDevice, Statistics};

struct Args {
    /// Most iterations of one timed CPU / GPU run.
    cpu_iterations: u64,
    gpu_iterations: u64,
    /// Wall-clock seconds a timed run aims at.
    seconds: f64,
    repeat: usize,
    host_stats: bool,
    parity: bool,
}

fn parse_args() -> Result<Args> {
    let mut args = Args {
        cpu_iterations: 2_000_000,
        gpu_iterations: 100_000_000,
        seconds: 1.0,
        repeat: 3,
        host_stats: false,
        parity: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--cpu-iterations" => args.cpu_iterations = value()?.parse()?,
            "--gpu-iterations" => args.gpu_iterations = value()?.parse()?,
            "--repeat" => args.repeat = value()?.parse()?,
            "--seconds" => args.seconds = value()?.parse()?,
            "--host-stats" => args.host_stats = true,
            "--parity" => args.parity = true,
            other => bail!("unknown argument {other}"),
        }
    }
    Ok(args)
}

/// A 1,000-cell model: 20 inputs, then 980 formula cells, each mixing the cell before it
/// with one 20 cells back (or an input), and 4 outputs at the end of the chain.
fn thousand_cell_model() -> Result<Model> {
    let mut cells = serde_json::Map::new();
    let families = [
        "RiskNormal(100, 10)",
        "RiskTriang(50, 80, 130)",
        "RiskUniform(0.5, 1.5)",
        "RiskLognorm(20, 4)",
    ];
    for k in 0..20 {
        cells.insert(format!("in{k}"), format!("={}", families[k % 4]).into());
    }
    for k in 20..1000 {
        // Every cell feeds the next, so all 1,000 are evaluated per iteration.
        let a = if k == 20 {
            "in0".to_owned()
        } else {
            format!("c{}", k - 1)
        };
        let b = if k < 40 {
            format!("in{}", k % 20)
        } else {
            format!("c{}", k - 20)
        };
        let formula = match k % 4 {
            0 => format!("={a} * 0.98 + {b} * 0.02"),
            1 => format!("={a} + {b} / 50"),
            2 => format!("=MAX({a}, {b}) * 0.99 + MIN({a}, {b}) * 0.01"),
            _ => format!("=IF({a} > {b}, {a} - 0.5, {a} + 0.5)"),
        };
        cells.insert(format!("c{k}"), formula.into());
    }
    for (o, k) in [996, 997, 998, 999].iter().enumerate() {
        let formula = cells[&format!("c{k}")].as_str().unwrap_or("=0").to_owned();
        cells.insert(
            format!("c{k}"),
            format!("=RiskOutput(\"out{o}\") + {}", &formula[1..]).into(),
        );
    }
    let json = serde_json::json!({ "name": "thousand cells", "cells": cells });
    let compiled = ultra_formula::compile_json_model(&json.to_string())
        .map_err(|error| anyhow::anyhow!("{error}"))?;
    Ok(compiled.model)
}

/// The best rate of `repeat` timed runs. Warm-up runs from `probe` iterations up (the first
/// compiles the pipeline; the count grows 4x until a run takes `seconds / 4`) estimate
/// the rate; timed runs then take about `seconds` each,
/// at most `max` iterations. Returns (iterations per second, iterations per timed run).
fn best_rate(
    probe: u64,
    max: u64,
    seconds: f64,
    repeat: usize,
    mut run: impl FnMut(u64) -> Result<()>,
) -> Result<(f64, u64)> {
    let mut probe = probe.min(max);
    run(probe)?; // compiles the pipeline, faults pages in
    // Grow the probe until fixed costs (set-up, the kept prefix) no longer dominate it.
    let estimate = loop {
        let started = Instant::now();
        run(probe)?;
        let elapsed = started.elapsed().as_secs_f64();
        if elapsed >= seconds / 4.0 || probe >= max {
            break probe as f64 / elapsed;
        }
        probe = (probe * 4).min(max);
    };
    let iterations = ((estimate * seconds) as u64).clamp(probe.min(max), max);
    let mut best = f64::INFINITY;
    for _ in 0..repeat {
        let started = Instant::now();
        run(iterations)?;
        best = best.min(started.elapsed().as_secs_f64());
    }
    Ok((iterations as f64 / best, iterations))
}

/// GPU against CPU figures of npv10 at 1,000,000 iterations, same seed, each sampling
/// method: the relative differences of mean and standard deviation of each output.
fn parity(device: &GpuDevice) -> Result<()> {
    let model: Model = serde_json::from_str(include_str!("../../../examples/npv10.ir.json"))?;
    let cancel = AtomicBool::new(false);
    for sampling in [
        SamplingMethod::MonteCarlo,
        SamplingMethod::LatinHypercube,
        SamplingMethod::Sobol,
    ] {
        let options = SimulationOptions {
            iterations: 1_000_000,
            seed: 7,
            sampling,
            ..SimulationOptions::default()
        };
        let cpu = ultra_engine::simulate(&model, &options, &|_| {}, &cancel)?;
        for statistics in [
            Statistics::Host,
            Statistics::Device {
                kept_samples: 100_000,
            },
        ] {
            let gpu = ultra_gpu::simulate(device, &model, &options, statistics, &|_| {}, &cancel)
                .map_err(|error| anyhow::anyhow!("{error}"))?;
            for (g, c) in gpu.outputs.iter().zip(&cpu.outputs) {
                let g_name = &g.name;
                let (g, c) = (&g.statistics, &c.statistics);
                println!(
                    "parity {sampling:?} {statistics:?} {}: mean rel {:.2e}, std rel {:.2e}, p50 rel {:.2e}, errors gpu {} cpu {}",
                    g_name,
                    ((g.mean - c.mean) / c.mean).abs(),
                    ((g.std - c.std) / c.std).abs(),
                    ((g.percentiles[4].value - c.percentiles[4].value) / c.percentiles[4].value)
                        .abs(),
                    g.errors,
                    c.errors,
                );
            }
        }
    }
    Ok(())
}

fn main() -> Result<()> {
    let args = parse_args()?;
    let device = GpuDevice::open().map_err(|error| anyhow::anyhow!("{error}"))?;
    let adapter = device.description();
    println!(
        "adapter: {} ({}, {}, driver {}), 64-bit integer multiply: {}",
        adapter.name,
        adapter.device_type,
        adapter.backend,
        adapter.driver,
        device.uses_int64()
    );
    if args.parity {
        parity(&device)?;
    }
    let npv10: Model = serde_json::from_str(include_str!("../../../examples/npv10.ir.json"))?;
    let models = [("npv10", npv10), ("1000 cells", thousand_cell_model()?)];
    let cancel = AtomicBool::new(false);
    println!(
        "{:<12} {:>12} {:>14} {:>12} {:>14} {:>9}   (cpu: {} threads; gpu: {})",
        "model",
        "cpu it/s",
        "cpu iters",
        "gpu it/s",
        "gpu iters",
        "gpu/cpu",
        rayon_threads(),
        if args.host_stats {
            "host statistics"
        } else {
            "on-device statistics"
        }
    );
    for (name, model) in &models {
        let cpu_options = SimulationOptions {
            iterations: args.cpu_iterations,
            seed: 42,
            sampling: SamplingMethod::MonteCarlo,
            sensitivity: false,
            ..SimulationOptions::default()
        };
        let mut cpu_mean = f64::NAN;
        let (cpu_rate, cpu_n) = best_rate(
            100_000,
            args.cpu_iterations,
            args.seconds,
            args.repeat,
            |n| {
                let options = SimulationOptions {
                    iterations: n,
                    ..cpu_options.clone()
                };
                let result = ultra_engine::simulate(model, &options, &|_| {}, &cancel)?;
                cpu_mean = result.outputs[0].statistics.mean;
                Ok(())
            },
        )?;
        let gpu_options = SimulationOptions {
            max_iterations: u64::MAX,
            ..cpu_options.clone()
        };
        let statistics = if args.host_stats {
            Statistics::Host
        } else {
            Statistics::Device {
                kept_samples: 100_000,
            }
        };
        let mut gpu_mean = f64::NAN;
        let (gpu_rate, gpu_n) = best_rate(
            1_000_000,
            args.gpu_iterations,
            args.seconds,
            args.repeat,
            |n| {
                let options = SimulationOptions {
                    iterations: n,
                    ..gpu_options.clone()
                };
                let result =
                    ultra_gpu::simulate(&device, model, &options, statistics, &|_| {}, &cancel)
                        .map_err(|error| anyhow::anyhow!("{error}"))?;
                gpu_mean = result.outputs[0].statistics.mean;
                Ok(())
            },
        )?;
        println!(
            "{name:<12} {cpu_rate:>12.4e} {cpu_n:>14} {gpu_rate:>12.4e} {gpu_n:>14} {:>9.1}   (first output mean: cpu {cpu_mean:.6}, gpu {gpu_mean:.6})",
            gpu_rate / cpu_rate
        );
    }
    Ok(())
}

fn rayon_threads() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}
