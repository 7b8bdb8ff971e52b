//! Compiles a validated model into a plan: a straight-line program over columnar slots,
//! with slots reused once their value is dead so that a chunk's working set stays in cache.

use std::collections::HashMap;

use crate::dist::{Distribution, Family, InputDistribution};
use crate::error::EngineError;
use crate::ir::{Func, ModelError, NodeId, Op, ValidModel};

/// How an input turns its uniform into a value.
#[derive(Debug, Clone)]
pub(crate) enum InputSampler {
    /// Constant parameters: the distribution is built once.
    Static(InputDistribution),
    /// Parameters that are formulas: the distribution is built per iteration from slots.
    Dynamic {
        family: Family,
        params: Vec<usize>,
        lower: Option<usize>,
        upper: Option<usize>,
        shift: Option<usize>,
    },
}

#[derive(Debug, Clone)]
pub(crate) enum Step {
    /// Sample input `dimension` into `out`.
    Input { dimension: usize, out: usize },
    Call {
        func: Func,
        out: usize,
        args: Vec<usize>,
    },
    /// Copy slot `from` into the sample store of output `output`.
    Emit { output: usize, from: usize },
}

/// One input of the plan, in dimension order.
#[derive(Debug, Clone)]
pub struct PlannedInput {
    pub node: NodeId,
    pub label: Option<String>,
    pub name: Option<String>,
    pub(crate) sampler: InputSampler,
}

/// One output of the plan, in model order.
#[derive(Debug, Clone)]
pub struct PlannedOutput {
    pub node: NodeId,
    pub name: String,
}

/// A model compiled for the CPU executor.
#[derive(Debug, Clone)]
pub struct Plan {
    pub(crate) steps: Vec<Step>,
    pub(crate) slot_count: usize,
    /// Constant values; constant k lives in slot k.
    pub(crate) constants: Vec<f64>,
    pub inputs: Vec<PlannedInput>,
    pub outputs: Vec<PlannedOutput>,
    /// Nodes computed per iteration (inputs and functions), for metering.
    pub evaluated_nodes: usize,
}

/// Hands out slot numbers, reusing freed ones.
#[derive(Default)]
struct SlotAllocator {
    free: Vec<usize>,
    count: usize,
}

impl SlotAllocator {
    fn take(&mut self) -> usize {
        self.free.pop().unwrap_or_else(|| {
            self.count += 1;
            self.count - 1
        })
    }
}

impl Plan {
    pub fn compile(model: &ValidModel) -> Result<Self, EngineError> {
        let dimension_of: HashMap<NodeId, usize> = model
            .inputs
            .iter()
            .enumerate()
            .map(|(dim, id)| (*id, dim))
            .collect();
        let output_index: HashMap<NodeId, usize> = model
            .outputs
            .iter()
            .enumerate()
            .map(|(index, id)| (*id, index))
            .collect();

        // An output node has no value of its own: it reads its argument.
        let mut resolved: HashMap<NodeId, NodeId> = HashMap::new();
        for node in &model.nodes {
            let target = match &node.op {
                Op::Output { arg, .. } => resolved[arg],
                _ => node.id,
            };
            resolved.insert(node.id, target);
        }
        // Position of the last step that reads each (resolved) node.
        let mut last_use: HashMap<NodeId, usize> = HashMap::new();
        for (position, node) in model.nodes.iter().enumerate() {
            for argument in node.op.arguments() {
                last_use.insert(resolved[&argument], position);
            }
        }

        // Constants get their own slots first, filled once per workspace and never reused:
        // a constant must not land in a slot that a step overwrites every chunk.
        let mut slot_of: HashMap<NodeId, usize> = HashMap::new();
        let mut constants = Vec::new();
        for node in &model.nodes {
            if let Op::Const { value } = node.op {
                slot_of.insert(node.id, constants.len());
                constants.push(value);
            }
        }
        let mut slots = SlotAllocator {
            free: Vec::new(),
            count: constants.len(),
        };
        let mut steps = Vec::new();
        let mut inputs: Vec<Option<PlannedInput>> = vec![None; model.inputs.len()];
        let mut outputs: Vec<Option<PlannedOutput>> = vec![None; model.outputs.len()];
        let mut evaluated_nodes = 0;

        for (position, node) in model.nodes.iter().enumerate() {
            let slot = |id: &NodeId| slot_of[&resolved[id]];
            match &node.op {
                Op::Const { .. } => continue,
                Op::Output { name, .. } => {
                    let output = output_index[&node.id];
                    steps.push(Step::Emit {
                        output,
                        from: slot(&node.id),
                    });
                    outputs[output] = Some(PlannedOutput {
                        node: node.id,
                        name: name.clone(),
                    });
                }
                Op::Input(spec) => {
                    let dimension = dimension_of[&node.id];
                    let constant_of = |id: &NodeId| constants.get(slot(id)).copied();
                    let static_params: Option<Vec<f64>> =
                        spec.params.iter().map(constant_of).collect();
                    let is_static = |bound: &Option<NodeId>| {
                        bound.as_ref().is_none_or(|id| constant_of(id).is_some())
                    };
                    let sampler = match static_params {
                        Some(params)
                            if is_static(&spec.lower)
                                && is_static(&spec.upper)
                                && is_static(&spec.shift) =>
                        {
                            let lower = spec.lower.as_ref().and_then(constant_of);
                            let upper = spec.upper.as_ref().and_then(constant_of);
                            let shift = spec.shift.as_ref().and_then(constant_of);
                            let bounded = Distribution::new(&spec.distribution, &params)
                                .and_then(|base| InputDistribution::new(base, lower, upper, shift))
                                .map_err(|source| ModelError::Distribution {
                                    node: node.id,
                                    source,
                                })?;
                            InputSampler::Static(bounded)
                        }
                        _ => InputSampler::Dynamic {
                            family: spec.distribution.clone(),
                            params: spec.params.iter().map(slot).collect(),
                            lower: spec.lower.as_ref().map(slot),
                            upper: spec.upper.as_ref().map(slot),
                            shift: spec.shift.as_ref().map(slot),
                        },
                    };
                    let out = slots.take();
                    steps.push(Step::Input { dimension, out });
                    slot_of.insert(node.id, out);
                    inputs[dimension] = Some(PlannedInput {
                        node: node.id,
                        label: node.label.clone(),
                        name: spec.name.clone(),
                        sampler,
                    });
                    evaluated_nodes += 1;
                }
                Op::Call { func, args } => {
                    let out = slots.take();
                    steps.push(Step::Call {
                        func: *func,
                        out,
                        args: args.iter().map(slot).collect(),
                    });
                    slot_of.insert(node.id, out);
                    evaluated_nodes += 1;
                }
            }
            // Free the slots of values read for the last time here (never constants').
            let mut dying: Vec<NodeId> = node
                .op
                .arguments()
                .iter()
                .map(|id| resolved[id])
                .filter(|id| last_use.get(id) == Some(&position))
                .collect();
            dying.sort_unstable();
            dying.dedup();
            for id in dying {
                let freed = slot_of[&id];
                if freed >= constants.len() {
                    slots.free.push(freed);
                }
            }
        }
        Ok(Plan {
            steps,
            slot_count: slots.count,
            constants,
            inputs: inputs.into_iter().flatten().collect(),
            outputs: outputs.into_iter().flatten().collect(),
            evaluated_nodes,
        })
    }

    /// The chunk length that keeps a chunk's slots and uniforms within about 256 KiB
    /// (L2-sized), a multiple of 64 between 256 and 8192.
    pub fn default_chunk_size(&self) -> usize {
        let values_per_iteration = (self.slot_count + self.inputs.len()).max(1);
        let fitting = (256 * 1024 / 8) / values_per_iteration;
        (fitting / 64 * 64).clamp(256, 8192)
    }
}
