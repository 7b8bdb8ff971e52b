//! `ultra run MODEL`: the contract is in DESIGN.md ("The `ultra run` contract").

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use serde_json::{Map, Value, json};
use ultra_engine::executor::Progress;
use ultra_engine::simulate::{DEFAULT_MAX_ITERATIONS, OutputResult};
use ultra_engine::{Model, SamplingMethod, SimulationOptions, SimulationResult};
use ultra_gpu::EngineChoice;

#[derive(Args)]
pub struct RunArgs {
    /// The model: a workbook (`.xlsx`, `.xlsm`), a JSON model (named cells in the formula
    /// language, `"cells"`) or a serialised engine IR model (`"nodes"`).
    model: PathBuf,
    #[arg(long, default_value_t = 10_000)]
    iterations: u64,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    #[arg(long, value_enum, default_value_t = Sampling::Lhs)]
    sampling: Sampling,
    /// `auto`: a hardware GPU when present and able to run the model, else the CPU; `gpu`:
    /// any Vulkan adapter (a software one too), failing when there is none.
    #[arg(long, value_enum, default_value_t = Engine::Auto)]
    engine: Engine,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Worker threads (default: every core).
    #[arg(long)]
    threads: Option<usize>,
    /// Iterations per chunk (default: sized to the cache for this model).
    #[arg(long)]
    chunk_size: Option<usize>,
    /// Refuse runs above this many iterations.
    #[arg(long, default_value_t = DEFAULT_MAX_ITERATIONS)]
    max_iterations: u64,
    /// Percentiles to report, in percent, comma separated (default: 1,5,10,25,50,75,90,95,99).
    #[arg(long, value_delimiter = ',')]
    percentiles: Option<Vec<f64>>,
    /// Skip the sensitivity analysis (faster, keeps no input samples).
    #[arg(long)]
    no_sensitivity: bool,
    /// GPU runs above 50,000,000 iterations: how many first iterations keep their samples
    /// for percentiles, histogram and sensitivity (the rest is reduced on the device).
    #[arg(long)]
    kept_samples: Option<u64>,
}

#[derive(Clone, Copy, ValueEnum)]
enum Sampling {
    Mc,
    Lhs,
    Sobol,
}

#[derive(Clone, Copy, PartialEq, ValueEnum)]
enum Engine {
    Auto,
    Cpu,
    Gpu,
}

#[derive(Clone, Copy, PartialEq, ValueEnum)]
enum Format {
    Table,
    Json,
}

pub fn run(args: RunArgs) -> Result<()> {
    let model = crate::model::load(&args.model)?;
    let options = SimulationOptions {
        iterations: args.iterations,
        seed: args.seed,
        sampling: match args.sampling {
            Sampling::Mc => SamplingMethod::MonteCarlo,
            Sampling::Lhs => SamplingMethod::LatinHypercube,
            Sampling::Sobol => SamplingMethod::Sobol,
        },
        threads: args.threads,
        chunk_size: args.chunk_size,
        max_iterations: args.max_iterations,
        sensitivity: !args.no_sensitivity,
        ..SimulationOptions::default()
    };
    let options = match args.percentiles {
        Some(percentiles) => SimulationOptions {
            percentiles,
            ..options
        },
        None => options,
    };
    let show_progress = std::io::stderr().is_terminal();
    let report = |progress: Progress| {
        if show_progress {
            let percent =
                100.0 * progress.completed_iterations as f64 / progress.total_iterations as f64;
            eprint!(
                "\r{percent:5.1}% of {} iterations",
                progress.total_iterations
            );
        }
    };
    let started = Instant::now();
    let engine = match args.engine {
        Engine::Auto => EngineChoice::Auto,
        Engine::Cpu => EngineChoice::Cpu,
        Engine::Gpu => EngineChoice::Gpu,
    };
    let result = ultra_gpu::select::run(
        engine,
        &model,
        &options,
        args.kept_samples,
        &report,
        &AtomicBool::new(false),
    )
    .with_context(|| format!("simulating {}", args.model.display()))?;
    let elapsed_ms = started.elapsed().as_secs_f64() * 1e3;
    if show_progress {
        eprintln!();
    }
    let mut stdout = std::io::stdout().lock();
    match args.format {
        Format::Json => {
            let document = to_json(&result, elapsed_ms);
            serde_json::to_writer_pretty(&mut stdout, &document)?;
            writeln!(stdout)?;
        }
        Format::Table => write_table(&mut stdout, &model, &result, elapsed_ms)?,
    }
    Ok(())
}

fn percentile_key(p: f64) -> String {
    format!("p{p}")
}

fn output_json(output: &OutputResult) -> Value {
    let s = &output.statistics;
    let percentiles: Map<String, Value> = s
        .percentiles
        .iter()
        .map(|p| (percentile_key(p.p), json!(p.value)))
        .collect();
    json!({
        "mean": s.mean, "std": s.std, "min": s.min, "max": s.max,
        "skewness": s.skewness, "kurtosis": s.kurtosis, "std_error": s.std_error,
        "count": s.count, "errors": s.errors,
        "percentiles": percentiles,
        "histogram": s.histogram,
        "ecdf": s.ecdf,
        "convergence": s.convergence,
        "sensitivity": output.sensitivity,
    })
}

fn to_json(result: &SimulationResult, elapsed_ms: f64) -> Value {
    let outputs: Map<String, Value> = result
        .outputs
        .iter()
        .map(|o| (o.name.clone(), output_json(o)))
        .collect();
    json!({
        "iterations": result.iterations,
        "seed": result.seed,
        "sampling": result.sampling,
        "engine": result.engine.kind,
        "adapter": result.engine.adapter,
        "precision": result.engine.precision,
        "elapsed_ms": elapsed_ms,
        "compute_units": result.compute_units,
        "correlations": result.correlations,
        "outputs": outputs,
    })
}

fn write_table(
    out: &mut impl Write,
    model: &Model,
    result: &SimulationResult,
    elapsed_ms: f64,
) -> Result<()> {
    let rate = result.iterations as f64 / (elapsed_ms / 1e3);
    writeln!(
        out,
        "{}: {} iterations, seed {}, {:?} sampling, {} engine{} ({}), {elapsed_ms:.1} ms ({rate:.3e} iterations/s)",
        if model.name.is_empty() {
            "model"
        } else {
            &model.name
        },
        result.iterations,
        result.seed,
        result.sampling,
        result.engine.kind,
        result
            .engine
            .adapter
            .as_deref()
            .map(|name| format!(" on {name}"))
            .unwrap_or_default(),
        result.engine.precision,
    )?;
    for report in result.correlations.iter().filter(|r| r.repaired) {
        writeln!(
            out,
            "note: correlation matrix over inputs {:?} was not valid and was repaired to the nearest valid one",
            report.dimensions
        )?;
    }
    for output in &result.outputs {
        let s = &output.statistics;
        writeln!(out, "\n{}", output.name)?;
        writeln!(
            out,
            "  mean {:>14.6}   std {:>14.6}   std error {:.3e}",
            s.mean, s.std, s.std_error
        )?;
        writeln!(out, "  min  {:>14.6}   max {:>14.6}", s.min, s.max)?;
        writeln!(
            out,
            "  skewness {:.4}   excess kurtosis {:.4}",
            s.skewness, s.kurtosis
        )?;
        if s.errors > 0 {
            writeln!(out, "  errors: {} iterations gave no number", s.errors)?;
        }
        let line: Vec<String> = s
            .percentiles
            .iter()
            .map(|p| format!("{}={:.4}", percentile_key(p.p), p.value))
            .collect();
        writeln!(out, "  {}", line.join("  "))?;
        if !output.sensitivity.is_empty() {
            writeln!(
                out,
                "  sensitivity (spearman, regression, contribution, mean at low/high 10%):"
            )?;
            for s in &output.sensitivity {
                writeln!(
                    out,
                    "    {:<24} {:>7.3} {:>7.3} {:>7.1}%  {:.4} / {:.4}",
                    s.name,
                    s.spearman,
                    s.regression,
                    100.0 * s.contribution_to_variance,
                    s.mean_at_low,
                    s.mean_at_high
                )?;
            }
        }
    }
    Ok(())
}
