//! One simulation, end to end: validate, compile, sample, execute, summarise.

use std::collections::HashMap;
use std::sync::atomic::AtomicBool;

use rayon::prelude::*;
use serde::Serialize;

use crate::correlation::{Copula, CorrelationReport, RankCorrelationMatrix};
use crate::error::EngineError;
use crate::executor::{Plan, Progress, Run, Samples};
use crate::ir::{Correlation, Model, NodeId};
use crate::sampling::{Sampler, SamplingMethod};
use crate::stats::{self, OutputStatistics, StatsOptions};

/// The default cap on iterations per simulation: samples are kept in memory (8 bytes per
/// output and, with sensitivity, per input, per iteration).
pub const DEFAULT_MAX_ITERATIONS: u64 = 50_000_000;

/// Number of convergence points reported per output, whatever the iteration count.
const CONVERGENCE_POINTS: u64 = 100;

/// What to run. A simulation is a pure function of (model, `iterations`, `seed`,
/// `sampling`): `threads` and `chunk_size` change only how fast it runs.
#[derive(Debug, Clone, PartialEq)]
pub struct SimulationOptions {
    pub iterations: u64,
    pub seed: u64,
    pub sampling: SamplingMethod,
    /// Worker threads; `None` uses every core.
    pub threads: Option<usize>,
    /// Iterations per chunk; `None` picks a cache-sized chunk for the model.
    pub chunk_size: Option<usize>,
    pub max_iterations: u64,
    /// Whether to compute the sensitivity of outputs to inputs (keeps input samples).
    pub sensitivity: bool,
    /// Percentiles to report, in percent.
    pub percentiles: Vec<f64>,
}

impl Default for SimulationOptions {
    fn default() -> Self {
        Self {
            iterations: 10_000,
            seed: 0,
            sampling: SamplingMethod::default(),
            threads: None,
            chunk_size: None,
            max_iterations: DEFAULT_MAX_ITERATIONS,
            sensitivity: true,
            percentiles: StatsOptions::default().percentiles,
        }
    }
}

/// Sensitivity of an output to one input, named for the user.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InputSensitivity {
    pub node: NodeId,
    /// Where the input is: its cell address or label.
    pub input: String,
    /// Its name (`RiskName`) when it has one, else its label.
    pub name: String,
    pub spearman: f64,
    pub regression: f64,
    pub contribution_to_variance: f64,
    pub mean_at_low: f64,
    pub mean_at_high: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutputResult {
    pub node: NodeId,
    pub name: String,
    pub statistics: OutputStatistics,
    /// Sorted by decreasing |spearman|: the tornado order.
    pub sensitivity: Vec<InputSensitivity>,
}

/// Which engine produced a result: reported with results and metrics, because GPU runs
/// compute in f32 and a user comparing figures must know which arithmetic made them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EngineInfo {
    /// `cpu` or `gpu`.
    pub kind: String,
    /// The GPU adapter's name (`NVIDIA H100 80GB HBM3`, `llvmpipe ...`); `None` on the CPU.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub adapter: Option<String>,
    /// Arithmetic of the per-iteration values: `f64` on the CPU, `f32` on the GPU.
    pub precision: String,
}

impl EngineInfo {
    /// The fused CPU executor.
    pub fn cpu() -> Self {
        Self {
            kind: "cpu".to_owned(),
            adapter: None,
            precision: "f64".to_owned(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SimulationResult {
    pub iterations: u64,
    pub seed: u64,
    pub sampling: SamplingMethod,
    pub outputs: Vec<OutputResult>,
    /// What was done to each requested correlation matrix.
    pub correlations: Vec<CorrelationReport>,
    /// Nodes computed per iteration: the "evaluated cells" of metering.
    pub evaluated_nodes: usize,
    /// `iterations x evaluated cells / 1e9`, the billing unit.
    pub compute_units: f64,
    /// Which engine ran the simulation, on what, at which precision.
    pub engine: EngineInfo,
    /// The raw samples, for exports and the results service.
    #[serde(skip)]
    pub samples: Samples,
}

/// Runs a simulation on the CPU. `progress` is called after every chunk (from worker
/// threads); setting `cancel` stops the run at the next chunk with [`EngineError::Cancelled`].
pub fn simulate(
    model: &Model,
    options: &SimulationOptions,
    progress: &(dyn Fn(Progress) + Sync),
    cancel: &AtomicBool,
) -> Result<SimulationResult, EngineError> {
    check_options(options)?;
    let valid = model.validate()?;
    let plan = Plan::compile(&valid)?;
    let matrices = correlation_matrices(&valid.inputs, &valid.correlations);
    let (copula, correlations) = Copula::new(valid.inputs.len(), &matrices)?;
    let sampler = Sampler::new(
        options.sampling,
        options.seed,
        options.iterations,
        valid.inputs.len(),
    )?;
    let chunk_size = options
        .chunk_size
        .unwrap_or_else(|| plan.default_chunk_size());
    let run = Run {
        sampler: &sampler,
        copula: &copula,
        iterations: options.iterations,
        chunk_size,
        keep_inputs: options.sensitivity && !plan.inputs.is_empty(),
        progress,
        cancel,
    };
    let work = || -> Result<SimulationResult, EngineError> {
        let samples = plan.execute(&run)?;
        let outputs = summarise(&plan, &samples, options);
        Ok(SimulationResult {
            iterations: options.iterations,
            seed: options.seed,
            sampling: options.sampling,
            outputs,
            correlations,
            evaluated_nodes: plan.evaluated_nodes,
            compute_units: options.iterations as f64 * plan.evaluated_nodes as f64 / 1e9,
            engine: EngineInfo::cpu(),
            samples,
        })
    };
    match options.threads {
        None => work(),
        Some(threads) => rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .map_err(|error| EngineError::ThreadPool(error.to_string()))?
            .install(work),
    }
}

/// Checks the options every engine shares (iteration count and cap, threads, chunk size,
/// percentiles), so that CPU and GPU runs refuse the same requests with the same errors.
pub fn check_options(options: &SimulationOptions) -> Result<(), EngineError> {
    if options.iterations == 0 {
        return Err(EngineError::ZeroIterations);
    }
    if options.iterations > options.max_iterations {
        return Err(EngineError::TooManyIterations {
            requested: options.iterations,
            cap: options.max_iterations,
        });
    }
    if options.threads == Some(0) {
        return Err(EngineError::ZeroThreads);
    }
    if options.chunk_size == Some(0) {
        return Err(EngineError::ZeroChunkSize);
    }
    if let Some(&bad) = options
        .percentiles
        .iter()
        .find(|p| !(0.0..=100.0).contains(*p))
    {
        return Err(EngineError::InvalidPercentile(bad));
    }
    Ok(())
}

/// The statistics and sensitivity of every output from a run's samples: shared by the CPU
/// and GPU engines, so that the same samples always give the same figures.
pub fn summarise(plan: &Plan, samples: &Samples, options: &SimulationOptions) -> Vec<OutputResult> {
    let stats_options = StatsOptions {
        percentiles: options.percentiles.clone(),
        convergence_every: options.iterations.div_ceil(CONVERGENCE_POINTS),
        ..StatsOptions::default()
    };
    let outputs: Vec<&[f64]> = samples.outputs.iter().map(Vec::as_slice).collect();
    let inputs: Vec<&[f64]> = samples.inputs.iter().map(Vec::as_slice).collect();
    // Sensitivity and the per-output summaries are independent: run them side by side.
    let (sensitivities, statistics) = rayon::join(
        || {
            if inputs.is_empty() {
                vec![Vec::new(); outputs.len()]
            } else {
                stats::sensitivity(&outputs, &inputs)
            }
        },
        || {
            outputs
                .par_iter()
                .map(|column| stats::summarize(column, &stats_options))
                .collect::<Vec<_>>()
        },
    );
    plan.outputs
        .iter()
        .zip(statistics)
        .zip(sensitivities)
        .map(|((output, statistics), per_input)| {
            let mut sensitivity: Vec<InputSensitivity> = per_input
                .into_iter()
                .map(|s| {
                    let input = &plan.inputs[s.input];
                    let label = input
                        .label
                        .clone()
                        .unwrap_or_else(|| format!("node {}", input.node));
                    InputSensitivity {
                        node: input.node,
                        name: input.name.clone().unwrap_or_else(|| label.clone()),
                        input: label,
                        spearman: s.spearman,
                        regression: s.regression,
                        contribution_to_variance: s.contribution_to_variance,
                        mean_at_low: s.mean_at_low,
                        mean_at_high: s.mean_at_high,
                    }
                })
                .collect();
            sensitivity.sort_by(|a, b| b.spearman.abs().total_cmp(&a.spearman.abs()));
            OutputResult {
                node: output.node,
                name: output.name.clone(),
                statistics,
                sensitivity,
            }
        })
        .collect()
}

/// Turns the model's correlations into matrices over input dimensions: pairs that share
/// inputs are gathered into one matrix per connected group (unlisted pairs uncorrelated).
pub fn correlation_matrices(
    inputs: &[NodeId],
    correlations: &[Correlation],
) -> Vec<RankCorrelationMatrix> {
    let dimension: HashMap<NodeId, usize> =
        inputs.iter().enumerate().map(|(d, id)| (*id, d)).collect();
    let mut matrices = Vec::new();
    let mut pairs: Vec<(usize, usize, f64)> = Vec::new();
    for correlation in correlations {
        match correlation {
            Correlation::Matrix { inputs, matrix } => matrices.push(RankCorrelationMatrix {
                dimensions: inputs.iter().map(|id| dimension[id]).collect(),
                matrix: matrix.clone(),
            }),
            Correlation::Pair { a, b, rank } => pairs.push((dimension[a], dimension[b], *rank)),
        }
    }
    // Union-find over the dimensions that appear in pairs.
    let mut parent: Vec<usize> = (0..inputs.len()).collect();
    fn root(parent: &mut [usize], mut x: usize) -> usize {
        while parent[x] != x {
            parent[x] = parent[parent[x]];
            x = parent[x];
        }
        x
    }
    for &(a, b, _) in &pairs {
        let (ra, rb) = (root(&mut parent, a), root(&mut parent, b));
        parent[ra.max(rb)] = ra.min(rb);
    }
    let mut groups: Vec<(usize, Vec<usize>)> = Vec::new();
    let mut in_pairs: Vec<usize> = pairs.iter().flat_map(|&(a, b, _)| [a, b]).collect();
    in_pairs.sort_unstable();
    in_pairs.dedup();
    for d in in_pairs {
        let r = root(&mut parent, d);
        match groups.iter_mut().find(|(group_root, _)| *group_root == r) {
            Some((_, members)) => members.push(d),
            None => groups.push((r, vec![d])),
        }
    }
    for (_, members) in groups {
        let n = members.len();
        let mut matrix = vec![vec![0.0; n]; n];
        for (i, row) in matrix.iter_mut().enumerate() {
            row[i] = 1.0;
        }
        let at = |d: usize| members.iter().position(|m| *m == d).unwrap_or(0);
        for &(a, b, rank) in &pairs {
            if members.contains(&a) {
                let (i, j) = (at(a), at(b));
                if i != j {
                    matrix[i][j] = rank;
                    matrix[j][i] = rank;
                } else {
                    // A self-pair: pass it through so the copula reports the bad diagonal.
                    matrix[i][i] = rank;
                }
            }
        }
        matrices.push(RankCorrelationMatrix {
            dimensions: members,
            matrix,
        });
    }
    matrices
}
