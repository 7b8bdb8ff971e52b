//! The model IR: a DAG of scalar nodes.
//!
//! Plain data, serialisable, the common target of the formula compiler (workbooks and JSON
//! models) and the source of both executors (fused CPU kernel, WGSL code generation). Every
//! value is an f64; booleans are 1.0 / 0.0, as in Excel. A node's value in an iteration that
//! hits an error (division by zero, log of a negative number) is NaN, and statistics count
//! such iterations as errors.
//!
//! Nodes may be listed in any order; [`Model::validate`] checks references, arities and
//! distribution parameters, rejects cycles, and returns the nodes in topological order.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::dist::{Distribution, DistributionError, Family};

/// Identifies a node within its model. Chosen by the producer of the IR (the formula
/// compiler numbers cells); need not be dense.
pub type NodeId = u32;

/// A model: the nodes and the rank correlations between its inputs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Model {
    #[serde(default)]
    pub name: String,
    pub nodes: Vec<Node>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub correlations: Vec<Correlation>,
}

/// One scalar node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Node {
    pub id: NodeId,
    /// What a user calls it: a cell address (`Model!C3`) or a name (`growth`). Reported in
    /// errors and sensitivity results.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    #[serde(flatten)]
    pub op: Op,
}

/// What a node computes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    /// A constant.
    Const { value: f64 },
    /// A random input drawn from a distribution.
    Input(InputSpec),
    /// A function of other nodes.
    Call { func: Func, args: Vec<NodeId> },
    /// Marks `arg` as a simulation output named `name`; its value is that of `arg`.
    Output { name: String, arg: NodeId },
}

/// A random input. Parameters are nodes, so that they may be formulas of other cells
/// (including other inputs); when they are all constants the distribution is built once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputSpec {
    pub distribution: Family,
    /// Scalar parameters in @RISK's argument order.
    #[serde(default)]
    pub params: Vec<NodeId>,
    /// Truncation bounds of the final (shifted) value (`RiskTruncate`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lower: Option<NodeId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upper: Option<NodeId>,
    /// Added to every sampled value (`RiskShift`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shift: Option<NodeId>,
    /// The input's name for reports (`RiskName`), where the node label is a cell address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// The functions of the IR. The formula compiler lowers richer Excel functions (NPV, FLOOR
/// with significance, MROUND, ...) onto these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Func {
    Neg,
    Add,
    Sub,
    Mul,
    /// NaN when dividing by zero (Excel's #DIV/0!).
    Div,
    Pow,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    /// n-ary: 1.0 when every argument is non-zero.
    And,
    /// n-ary: 1.0 when any argument is non-zero.
    Or,
    /// n-ary: 1.0 when an odd number of arguments are non-zero.
    Xor,
    Not,
    /// `select(cond, if_true, if_false)`: Excel's IF.
    Select,
    Exp,
    /// Natural logarithm; NaN for arguments <= 0.
    Ln,
    Log10,
    Sqrt,
    Abs,
    Sign,
    /// n-ary.
    Min,
    /// n-ary.
    Max,
    /// n-ary.
    Sum,
    /// n-ary.
    Product,
    /// `round(x, digits)`, halves away from zero (Excel's ROUND).
    Round,
    /// `round_up(x, digits)`: away from zero (Excel's ROUNDUP).
    RoundUp,
    /// `round_down(x, digits)`: towards zero (Excel's ROUNDDOWN).
    RoundDown,
    Floor,
    Ceiling,
    Trunc,
    /// `mod(x, y)` with the sign of y (Excel's MOD); NaN when y is 0.
    Mod,
    /// Standard normal CDF (NORM.S.DIST(x, TRUE)).
    NormSDist,
    /// Standard normal quantile (NORM.S.INV(p)); NaN unless 0 < p < 1. NORM.INV and
    /// LOGNORM.INV of formula arguments lower onto it.
    NormSInv,
    /// n-ary median.
    Median,
    /// `large(k, values...)`: the k-th largest value (Excel's LARGE).
    Large,
    /// `small(k, values...)`: the k-th smallest value (Excel's SMALL).
    Small,
    /// `irr(flows...)`: Excel's IRR, solved per iteration; NaN when there is no root.
    Irr,
    /// `rate(nper, pmt, pv, [fv], [type], [guess])`: Excel's RATE.
    Rate,
    /// `xirr(values..., dates...)`: Excel's XIRR; the first half of the arguments are the
    /// values, the second half their dates.
    Xirr,
}

/// How many arguments a function takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arity {
    Exactly(usize),
    AtLeast(usize),
    Between(usize, usize),
    /// An even count of at least this many.
    EvenAtLeast(usize),
}

impl Func {
    pub fn arity(self) -> Arity {
        use Func::*;
        match self {
            Neg | Not | Exp | Ln | Log10 | Sqrt | Abs | Sign | Floor | Ceiling | Trunc
            | NormSDist | NormSInv => Arity::Exactly(1),
            Add | Sub | Mul | Div | Pow | Eq | Ne | Lt | Le | Gt | Ge | Round | RoundUp
            | RoundDown | Mod => Arity::Exactly(2),
            Select => Arity::Exactly(3),
            And | Or | Xor | Min | Max | Sum | Product | Median => Arity::AtLeast(1),
            Large | Small | Irr => Arity::AtLeast(2),
            Rate => Arity::Between(3, 6),
            Xirr => Arity::EvenAtLeast(4),
        }
    }

    /// Whether the function takes `count` arguments.
    pub fn accepts(self, count: usize) -> bool {
        match self.arity() {
            Arity::Exactly(n) => count == n,
            Arity::AtLeast(n) => count >= n,
            Arity::Between(fewest, most) => (fewest..=most).contains(&count),
            Arity::EvenAtLeast(n) => count >= n && count.is_multiple_of(2),
        }
    }
}

/// A requested rank correlation: one pair, or a matrix over several inputs (`RiskCorrmat`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Correlation {
    Pair {
        a: NodeId,
        b: NodeId,
        rank: f64,
    },
    Matrix {
        inputs: Vec<NodeId>,
        matrix: Vec<Vec<f64>>,
    },
}

/// Why a model is not valid. Each variant names the node at fault.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ModelError {
    #[error("the model has no nodes")]
    Empty,
    #[error("the model has no outputs: mark at least one cell with an output")]
    NoOutputs,
    #[error("node id {0} is used by more than one node")]
    DuplicateId(NodeId),
    #[error("node {node} refers to node {reference}, which does not exist")]
    UnknownNode { node: NodeId, reference: NodeId },
    #[error("node {node}: {func:?} takes {expected} argument(s), got {got}")]
    Arity {
        node: NodeId,
        func: Func,
        expected: String,
        got: usize,
    },
    #[error("node {node}: constant {value} is not a finite number")]
    NonFiniteConstant { node: NodeId, value: f64 },
    #[error("cycle between nodes {0:?}")]
    Cycle(Vec<NodeId>),
    #[error("node {node}: {source}")]
    Distribution {
        node: NodeId,
        source: DistributionError,
    },
    #[error("two outputs are named {0:?}")]
    DuplicateOutput(String),
    #[error("correlation refers to node {0}, which is not an input")]
    NotAnInput(NodeId),
}

/// A model that passed validation, with its nodes in topological order.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidModel {
    /// Nodes in evaluation order (every argument before its user).
    pub nodes: Vec<Node>,
    /// For each input, in the order they appear in the model: its node id. An input's
    /// position here is its sampling dimension, which keys its random stream.
    pub inputs: Vec<NodeId>,
    /// Output nodes in the order they appear in the model.
    pub outputs: Vec<NodeId>,
    pub correlations: Vec<Correlation>,
}

impl Model {
    /// Checks the model and orders its nodes for evaluation.
    pub fn validate(&self) -> Result<ValidModel, ModelError> {
        if self.nodes.is_empty() {
            return Err(ModelError::Empty);
        }
        let mut position = HashMap::with_capacity(self.nodes.len());
        for (index, node) in self.nodes.iter().enumerate() {
            if position.insert(node.id, index).is_some() {
                return Err(ModelError::DuplicateId(node.id));
            }
        }
        let mut output_names = HashMap::new();
        for node in &self.nodes {
            check_node(node, &position, &self.nodes)?;
            if let Op::Output { name, .. } = &node.op
                && output_names.insert(name.as_str(), node.id).is_some()
            {
                return Err(ModelError::DuplicateOutput(name.clone()));
            }
        }
        if output_names.is_empty() {
            return Err(ModelError::NoOutputs);
        }
        let order = topological_order(&self.nodes, &position)?;
        let inputs: Vec<NodeId> = self
            .nodes
            .iter()
            .filter(|node| matches!(node.op, Op::Input(_)))
            .map(|node| node.id)
            .collect();
        for correlation in &self.correlations {
            let ids: Vec<NodeId> = match correlation {
                Correlation::Pair { a, b, .. } => vec![*a, *b],
                Correlation::Matrix { inputs, .. } => inputs.clone(),
            };
            if let Some(id) = ids.into_iter().find(|id| !inputs.contains(id)) {
                return Err(ModelError::NotAnInput(id));
            }
        }
        Ok(ValidModel {
            nodes: order.into_iter().map(|i| self.nodes[i].clone()).collect(),
            outputs: self
                .nodes
                .iter()
                .filter(|node| matches!(node.op, Op::Output { .. }))
                .map(|node| node.id)
                .collect(),
            inputs,
            correlations: self.correlations.clone(),
        })
    }
}

impl Op {
    /// The nodes this one reads.
    pub fn arguments(&self) -> Vec<NodeId> {
        match self {
            Op::Const { .. } => Vec::new(),
            Op::Input(spec) => spec
                .params
                .iter()
                .chain(spec.lower.iter())
                .chain(spec.upper.iter())
                .chain(spec.shift.iter())
                .copied()
                .collect(),
            Op::Call { args, .. } => args.clone(),
            Op::Output { arg, .. } => vec![*arg],
        }
    }
}

fn check_node(
    node: &Node,
    position: &HashMap<NodeId, usize>,
    nodes: &[Node],
) -> Result<(), ModelError> {
    for reference in node.op.arguments() {
        if !position.contains_key(&reference) {
            return Err(ModelError::UnknownNode {
                node: node.id,
                reference,
            });
        }
    }
    match &node.op {
        Op::Const { value } if !value.is_finite() => Err(ModelError::NonFiniteConstant {
            node: node.id,
            value: *value,
        }),
        Op::Call { func, args } if !func.accepts(args.len()) => Err(ModelError::Arity {
            node: node.id,
            func: *func,
            expected: match func.arity() {
                Arity::Exactly(n) => n.to_string(),
                Arity::AtLeast(n) => format!("at least {n}"),
                Arity::Between(fewest, most) => format!("{fewest} to {most}"),
                Arity::EvenAtLeast(n) => format!("an even number, at least {n},"),
            },
            got: args.len(),
        }),
        Op::Input(spec) => {
            let (fewest, most) = spec.distribution.arity();
            let count = spec.params.len();
            if count < fewest || count > most {
                // Let the distribution constructor phrase the arity error.
                let params = vec![0.0; count];
                return match Distribution::new(&spec.distribution, &params) {
                    Err(source) => Err(ModelError::Distribution {
                        node: node.id,
                        source,
                    }),
                    Ok(_) => Ok(()),
                };
            }
            // Constant parameters are checked now, so that a bad model fails before it runs.
            let constant = |id: NodeId| match nodes[position[&id]].op {
                Op::Const { value } => Some(value),
                _ => None,
            };
            let params: Option<Vec<f64>> = spec.params.iter().map(|id| constant(*id)).collect();
            if let Some(params) = params {
                Distribution::new(&spec.distribution, &params).map_err(|source| {
                    ModelError::Distribution {
                        node: node.id,
                        source,
                    }
                })?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Depth-first topological sort; on a cycle, returns the ids along it.
fn topological_order(
    nodes: &[Node],
    position: &HashMap<NodeId, usize>,
) -> Result<Vec<usize>, ModelError> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        OnStack,
        Done,
    }
    let arguments: Vec<Vec<usize>> = nodes
        .iter()
        .map(|node| node.op.arguments().iter().map(|id| position[id]).collect())
        .collect();
    let mut mark = vec![Mark::New; nodes.len()];
    let mut order = Vec::with_capacity(nodes.len());
    for root in 0..nodes.len() {
        if mark[root] != Mark::New {
            continue;
        }
        // Stack of (node, index of the next argument to visit).
        let mut stack = vec![(root, 0usize)];
        mark[root] = Mark::OnStack;
        while let Some(&mut (current, ref mut next)) = stack.last_mut() {
            if let Some(&argument) = arguments[current].get(*next) {
                *next += 1;
                match mark[argument] {
                    Mark::New => {
                        mark[argument] = Mark::OnStack;
                        stack.push((argument, 0));
                    }
                    Mark::OnStack => {
                        let start = stack
                            .iter()
                            .position(|&(index, _)| index == argument)
                            .unwrap_or(0);
                        let cycle = stack[start..].iter().map(|&(index, _)| nodes[index].id);
                        return Err(ModelError::Cycle(cycle.collect()));
                    }
                    Mark::Done => {}
                }
            } else {
                mark[current] = Mark::Done;
                order.push(current);
                stack.pop();
            }
        }
    }
    Ok(order)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn constant(id: NodeId, value: f64) -> Node {
        Node {
            id,
            label: None,
            op: Op::Const { value },
        }
    }

    fn call(id: NodeId, func: Func, args: &[NodeId]) -> Node {
        Node {
            id,
            label: None,
            op: Op::Call {
                func,
                args: args.to_vec(),
            },
        }
    }

    fn output(id: NodeId, arg: NodeId) -> Node {
        Node {
            id,
            label: None,
            op: Op::Output {
                name: format!("out{id}"),
                arg,
            },
        }
    }

    fn model(nodes: Vec<Node>) -> Model {
        Model {
            name: "test".into(),
            nodes,
            correlations: Vec::new(),
        }
    }

    #[test]
    fn orders_nodes_listed_out_of_order() {
        let valid = model(vec![
            output(9, 3),
            call(3, Func::Add, &[1, 2]),
            constant(2, 2.0),
            constant(1, 1.0),
        ])
        .validate()
        .expect("valid");
        let ids: Vec<NodeId> = valid.nodes.iter().map(|n| n.id).collect();
        let at = |id| ids.iter().position(|x| *x == id).expect("present");
        assert!(at(1) < at(3) && at(2) < at(3) && at(3) < at(9));
        assert_eq!(valid.outputs, vec![9]);
    }

    #[test]
    fn reports_the_cycle() {
        let error = model(vec![
            constant(1, 1.0),
            call(2, Func::Add, &[1, 4]),
            call(3, Func::Neg, &[2]),
            call(4, Func::Exp, &[3]),
            output(5, 4),
        ])
        .validate()
        .expect_err("cycle");
        let ModelError::Cycle(mut ids) = error else {
            panic!("expected a cycle, got {error}")
        };
        ids.sort();
        assert_eq!(ids, vec![2, 3, 4]);
    }

    #[test]
    fn self_reference_is_a_cycle() {
        let error = model(vec![call(1, Func::Neg, &[1]), output(2, 1)]).validate();
        assert_eq!(error, Err(ModelError::Cycle(vec![1])));
    }

    #[test]
    fn typed_errors_for_bad_nodes() {
        let unknown = model(vec![call(1, Func::Neg, &[7]), output(2, 1)]).validate();
        assert_eq!(
            unknown,
            Err(ModelError::UnknownNode {
                node: 1,
                reference: 7
            })
        );

        let arity = model(vec![
            constant(1, 1.0),
            call(2, Func::Add, &[1]),
            output(3, 2),
        ]);
        assert!(matches!(
            arity.validate(),
            Err(ModelError::Arity {
                node: 2,
                got: 1,
                ..
            })
        ));

        let empty_sum = model(vec![call(2, Func::Sum, &[]), output(3, 2)]);
        assert!(matches!(
            empty_sum.validate(),
            Err(ModelError::Arity {
                node: 2,
                got: 0,
                ..
            })
        ));

        let duplicate = model(vec![constant(1, 1.0), constant(1, 2.0), output(3, 1)]);
        assert_eq!(duplicate.validate(), Err(ModelError::DuplicateId(1)));

        let nan = model(vec![constant(1, f64::NAN), output(3, 1)]);
        assert!(matches!(
            nan.validate(),
            Err(ModelError::NonFiniteConstant { node: 1, .. })
        ));

        assert_eq!(
            model(vec![constant(1, 1.0)]).validate(),
            Err(ModelError::NoOutputs)
        );
        assert_eq!(model(vec![]).validate(), Err(ModelError::Empty));
    }

    #[test]
    fn ir_round_trips_through_json() {
        let json = r#"{"name": "m", "nodes": [
            {"id": 1, "op": "const", "value": 2.5},
            {"id": 2, "label": "x", "op": "input", "distribution": {"family": "normal"}, "params": [1, 1]},
            {"id": 3, "op": "call", "func": "mul", "args": [1, 2]},
            {"id": 4, "op": "output", "name": "y", "arg": 3}],
            "correlations": [{"a": 2, "b": 2, "rank": 0.5}]}"#;
        let parsed: Model = serde_json::from_str(json).expect("parses");
        assert_eq!(parsed.nodes.len(), 4);
        let again: Model =
            serde_json::from_str(&serde_json::to_string(&parsed).expect("serialises"))
                .expect("parses again");
        assert_eq!(parsed, again);
    }
}
