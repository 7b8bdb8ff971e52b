//! The fused CPU executor: evaluates a compiled plan over chunks of iterations, columnar
//! (one slice per node per chunk), across all cores of the current rayon pool.
//!
//! Every value of iteration i is a pure function of (plan, sampler, copula, i), so the
//! samples are bit-identical whatever the chunk size or thread count. Memory is the working
//! set of one chunk per worker plus the samples kept for statistics (outputs, and inputs when
//! sensitivity is on): intermediate values never outlive their chunk.

mod kernels;
mod plan;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use rayon::prelude::*;

use crate::correlation::Copula;
use crate::dist::{Distribution, InputDistribution, Univariate};
use crate::error::EngineError;
use crate::ir::Func;
use crate::sampling::Sampler;

use plan::{InputSampler, Step};
pub use plan::{Plan, PlannedInput, PlannedOutput};

/// Progress of a run, reported after each chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    pub completed_iterations: u64,
    pub total_iterations: u64,
}

/// The samples a run keeps: `outputs[o][i]` and, when asked, `inputs[d][i]`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Samples {
    pub outputs: Vec<Vec<f64>>,
    pub inputs: Vec<Vec<f64>>,
}

/// Everything one run needs besides the plan.
pub struct Run<'a> {
    pub sampler: &'a Sampler,
    pub copula: &'a Copula,
    pub iterations: u64,
    pub chunk_size: usize,
    pub keep_inputs: bool,
    pub progress: &'a (dyn Fn(Progress) + Sync),
    pub cancel: &'a AtomicBool,
}

/// The per-worker scratch: one column per slot, plus the chunk's uniforms.
struct Workspace {
    slots: Vec<Vec<f64>>,
    uniforms: Vec<f64>,
    params: Vec<f64>,
}

impl Workspace {
    fn new(plan: &Plan, chunk_size: usize) -> Self {
        let mut slots = vec![vec![0.0; chunk_size]; plan.slot_count];
        for (slot, value) in slots.iter_mut().zip(&plan.constants) {
            slot.fill(*value);
        }
        Self {
            slots,
            uniforms: vec![0.0; plan.inputs.len() * chunk_size],
            params: Vec::new(),
        }
    }
}

/// Where one chunk's samples go: disjoint slices of the sample store.
struct ChunkSink<'a> {
    first_iteration: u64,
    outputs: Vec<&'a mut [f64]>,
    inputs: Vec<&'a mut [f64]>,
}

impl Plan {
    /// Runs the plan over `run.iterations` iterations on the current rayon pool.
    pub fn execute(&self, run: &Run<'_>) -> Result<Samples, EngineError> {
        let total =
            usize::try_from(run.iterations).map_err(|_| EngineError::TooManyIterations {
                requested: run.iterations,
                cap: 0,
            })?;
        let chunk_size = run.chunk_size.max(1);
        let mut samples = Samples {
            outputs: vec![vec![0.0; total]; self.outputs.len()],
            inputs: if run.keep_inputs {
                vec![vec![0.0; total]; self.inputs.len()]
            } else {
                Vec::new()
            },
        };
        let chunk_count = total.div_ceil(chunk_size);
        let mut sinks: Vec<ChunkSink<'_>> = (0..chunk_count)
            .map(|index| ChunkSink {
                first_iteration: (index * chunk_size) as u64,
                outputs: Vec::with_capacity(self.outputs.len()),
                inputs: Vec::with_capacity(samples.inputs.len()),
            })
            .collect();
        for column in &mut samples.outputs {
            for (sink, part) in sinks.iter_mut().zip(column.chunks_mut(chunk_size)) {
                sink.outputs.push(part);
            }
        }
        for column in &mut samples.inputs {
            for (sink, part) in sinks.iter_mut().zip(column.chunks_mut(chunk_size)) {
                sink.inputs.push(part);
            }
        }
        let completed = AtomicU64::new(0);
        sinks.into_par_iter().try_for_each_init(
            || Workspace::new(self, chunk_size),
            |workspace, mut sink| {
                if run.cancel.load(Ordering::Relaxed) {
                    return Err(EngineError::Cancelled);
                }
                self.evaluate_chunk(run, workspace, &mut sink)?;
                let len = sink.outputs.first().map_or(0, |part| part.len()) as u64;
                let done = completed.fetch_add(len, Ordering::Relaxed) + len;
                (run.progress)(Progress {
                    completed_iterations: done,
                    total_iterations: run.iterations,
                });
                Ok(())
            },
        )?;
        Ok(samples)
    }

    fn evaluate_chunk(
        &self,
        run: &Run<'_>,
        workspace: &mut Workspace,
        sink: &mut ChunkSink<'_>,
    ) -> Result<(), EngineError> {
        let len = chunk_len(sink, run.iterations, run.chunk_size);
        let uniforms = &mut workspace.uniforms[..self.inputs.len() * len];
        for (dimension, column) in uniforms.chunks_exact_mut(len).enumerate() {
            run.sampler.fill(dimension, sink.first_iteration, column);
        }
        if !run.copula.is_identity() {
            run.copula.apply(uniforms, len);
        }
        for step in &self.steps {
            match step {
                Step::Input { dimension, out } => {
                    let mut column = std::mem::take(&mut workspace.slots[*out]);
                    let u = &workspace.uniforms[dimension * len..(dimension + 1) * len];
                    let result = self.sample_input(
                        *dimension,
                        u,
                        &mut column[..len],
                        &workspace.slots,
                        &mut workspace.params,
                        sink.first_iteration,
                    );
                    if let Some(kept) = sink.inputs.get_mut(*dimension) {
                        kept.copy_from_slice(&column[..len]);
                    }
                    workspace.slots[*out] = column;
                    result?;
                }
                Step::Call { func, out, args } => {
                    let mut column = std::mem::take(&mut workspace.slots[*out]);
                    let mut arg_columns: [&[f64]; 16] = [&[]; 16];
                    if args.len() <= arg_columns.len() {
                        for (slot, arg) in arg_columns.iter_mut().zip(args) {
                            *slot = &workspace.slots[*arg][..len];
                        }
                        kernels::apply(*func, &mut column[..len], &arg_columns[..args.len()]);
                    } else {
                        let many: Vec<&[f64]> = args
                            .iter()
                            .map(|arg| &workspace.slots[*arg][..len])
                            .collect();
                        kernels::apply(*func, &mut column[..len], &many);
                    }
                    workspace.slots[*out] = column;
                }
                Step::Emit { output, from } => {
                    sink.outputs[*output].copy_from_slice(&workspace.slots[*from][..len]);
                }
            }
        }
        Ok(())
    }

    fn sample_input(
        &self,
        dimension: usize,
        uniforms: &[f64],
        out: &mut [f64],
        slots: &[Vec<f64>],
        params: &mut Vec<f64>,
        first_iteration: u64,
    ) -> Result<(), EngineError> {
        let input = &self.inputs[dimension];
        match &input.sampler {
            InputSampler::Static(distribution) => {
                for (o, &u) in out.iter_mut().zip(uniforms) {
                    *o = distribution.inverse_cdf(u);
                }
            }
            InputSampler::Dynamic {
                family,
                params: param_slots,
                lower,
                upper,
                shift,
            } => {
                for (j, (o, &u)) in out.iter_mut().zip(uniforms).enumerate() {
                    params.clear();
                    params.extend(param_slots.iter().map(|slot| slots[*slot][j]));
                    let at = |slot: &Option<usize>| slot.map(|s| slots[s][j]);
                    // A parameter that is itself an error makes this iteration an error.
                    let bounds = [at(lower), at(upper), at(shift)];
                    if params
                        .iter()
                        .chain(bounds.iter().flatten())
                        .any(|p| p.is_nan())
                    {
                        *o = f64::NAN;
                        continue;
                    }
                    let built = Distribution::new(family, params).and_then(|base| {
                        InputDistribution::new(base, at(lower), at(upper), at(shift))
                    });
                    match built {
                        Ok(distribution) => *o = distribution.inverse_cdf(u),
                        Err(source) => {
                            return Err(EngineError::DynamicDistribution {
                                node: input.node,
                                label: input.label.clone(),
                                iteration: first_iteration + j as u64,
                                source,
                            });
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

/// Evaluates one IR function on scalar arguments with the executor's own kernel: the
/// formula compiler folds constants with it. NaN when the argument count is not one the
/// function accepts.
pub fn evaluate_scalar(func: Func, args: &[f64]) -> f64 {
    if !func.accepts(args.len()) {
        return f64::NAN;
    }
    let columns: Vec<&[f64]> = args.iter().map(std::slice::from_ref).collect();
    let mut out = [0.0];
    kernels::apply(func, &mut out, &columns);
    out[0]
}

fn chunk_len(sink: &ChunkSink<'_>, iterations: u64, chunk_size: usize) -> usize {
    let remaining = iterations - sink.first_iteration;
    remaining.min(chunk_size as u64) as usize
}
