//! Builds IR nodes, folding constants as it goes.
//!
//! Every numeric function of the library is written once, against [`Builder`]: with
//! constant operands the builder computes the result right away (that is both constant
//! folding in the compiler and the arithmetic of the evaluator); with a node among the
//! operands it emits an IR call. The scalar semantics in [`apply`] mirror the engine's
//! kernels (`crates/engine/src/executor/kernels.rs`) so that folding at compile time and
//! computing at run time agree.

use std::collections::HashMap;

use ultra_engine::ir::{Func, InputSpec, Node, NodeId, Op};

/// A number known now (`Const`) or only per iteration (`Node`). `Const(NaN)` is an error.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Num {
    Const(f64),
    Node(NodeId),
}

impl Num {
    pub fn constant(self) -> Option<f64> {
        match self {
            Num::Const(x) => Some(x),
            Num::Node(_) => None,
        }
    }
}

/// The nodes emitted so far, with constants and identical calls shared.
#[derive(Debug, Default)]
pub struct Builder {
    nodes: Vec<Node>,
    constants: HashMap<u64, NodeId>,
    calls: HashMap<(Func, Vec<NodeId>), NodeId>,
    nan: Option<NodeId>,
}

impl Builder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn into_nodes(self) -> Vec<Node> {
        self.nodes
    }

    fn push(&mut self, op: Op) -> NodeId {
        // Node ids are dense positions; a model with more than u32::MAX nodes is refused
        // long before (formula and model size limits).
        let id = NodeId::try_from(self.nodes.len()).unwrap_or(NodeId::MAX);
        self.nodes.push(Node {
            id,
            label: None,
            op,
        });
        id
    }

    /// Labels `id` with a cell name, unless it already names another cell (an alias like
    /// `rev1 = base_revenue` keeps the label of the cell that computes the value).
    pub fn label(&mut self, id: NodeId, label: &str) {
        if let Some(node) = self.nodes.get_mut(id as usize)
            && node.label.is_none()
            && !matches!(node.op, Op::Const { .. })
        {
            node.label = Some(label.to_string());
        }
    }

    /// Materialises a number as a node. Errors (NaN) and overflows, which the IR may not
    /// hold as constants, become the node `0/0`, which is NaN in every iteration.
    pub fn node(&mut self, num: Num) -> NodeId {
        match num {
            Num::Node(id) => id,
            Num::Const(value) if value.is_finite() => {
                let key = value.to_bits();
                if let Some(&id) = self.constants.get(&key) {
                    return id;
                }
                let id = self.push(Op::Const { value });
                self.constants.insert(key, id);
                id
            }
            Num::Const(_) => {
                if let Some(id) = self.nan {
                    return id;
                }
                let zero = self.node(Num::Const(0.0));
                let id = self.push(Op::Call {
                    func: Func::Div,
                    args: vec![zero, zero],
                });
                self.nan = Some(id);
                id
            }
        }
    }

    pub fn input(&mut self, spec: InputSpec) -> NodeId {
        self.push(Op::Input(spec))
    }

    pub fn output(&mut self, name: String, arg: NodeId) -> NodeId {
        self.push(Op::Output { name, arg })
    }

    /// `func(args)`: folded when every argument is constant, simplified where exact
    /// (`x + 0`, `x * 1`, `select` on a constant condition), else an IR call.
    pub fn call(&mut self, func: Func, args: &[Num]) -> Num {
        let constants: Option<Vec<f64>> = args.iter().map(|a| a.constant()).collect();
        if let Some(values) = constants {
            return Num::Const(apply(func, &values));
        }
        if let Some(simpler) = simplify(func, args) {
            return simpler;
        }
        let ids: Vec<NodeId> = args.iter().map(|a| self.node(*a)).collect();
        let key = (func, ids);
        if let Some(&id) = self.calls.get(&key) {
            return Num::Node(id);
        }
        let id = self.push(Op::Call {
            func,
            args: key.1.clone(),
        });
        self.calls.insert(key, id);
        Num::Node(id)
    }

    pub fn add(&mut self, a: Num, b: Num) -> Num {
        self.call(Func::Add, &[a, b])
    }
    pub fn sub(&mut self, a: Num, b: Num) -> Num {
        self.call(Func::Sub, &[a, b])
    }
    pub fn mul(&mut self, a: Num, b: Num) -> Num {
        self.call(Func::Mul, &[a, b])
    }
    pub fn div(&mut self, a: Num, b: Num) -> Num {
        self.call(Func::Div, &[a, b])
    }
    pub fn pow(&mut self, a: Num, b: Num) -> Num {
        self.call(Func::Pow, &[a, b])
    }
    pub fn neg(&mut self, a: Num) -> Num {
        self.call(Func::Neg, &[a])
    }
    pub fn select(&mut self, condition: Num, if_true: Num, if_false: Num) -> Num {
        self.call(Func::Select, &[condition, if_true, if_false])
    }
    pub fn eq(&mut self, a: Num, b: Num) -> Num {
        self.call(Func::Eq, &[a, b])
    }

    /// n-ary `func` (Sum, Product, Min, Max) over `args`, with the constants combined
    /// into one operand first.
    pub fn nary(&mut self, func: Func, args: &[Num]) -> Num {
        let (constants, nodes): (Vec<Num>, Vec<Num>) =
            args.iter().partition(|a| a.constant().is_some());
        let values: Vec<f64> = constants.iter().filter_map(|a| a.constant()).collect();
        if nodes.is_empty() {
            return Num::Const(if values.is_empty() {
                0.0
            } else {
                apply(func, &values)
            });
        }
        let mut operands = nodes;
        if !values.is_empty() {
            let combined = apply(func, &values);
            let neutral = match func {
                Func::Sum => Some(0.0),
                Func::Product => Some(1.0),
                _ => None,
            };
            if Some(combined) != neutral {
                operands.push(Num::Const(combined));
            }
        }
        if operands.len() == 1 {
            return operands[0];
        }
        self.call(func, &operands)
    }
}

/// Exact algebraic simplifications with one constant operand.
fn simplify(func: Func, args: &[Num]) -> Option<Num> {
    match (func, args) {
        (Func::Add, [Num::Const(c), other] | [other, Num::Const(c)]) if *c == 0.0 => Some(*other),
        (Func::Sub, [other, Num::Const(c)]) if *c == 0.0 => Some(*other),
        (Func::Mul, [Num::Const(c), other] | [other, Num::Const(c)]) if *c == 1.0 => Some(*other),
        (Func::Div, [other, Num::Const(c)]) if *c == 1.0 => Some(*other),
        (Func::Select, [Num::Const(c), if_true, if_false]) => Some(if c.is_nan() {
            Num::Const(*c)
        } else if *c != 0.0 {
            *if_true
        } else {
            *if_false
        }),
        _ => None,
    }
}

/// One IR function on scalars: exactly the engine kernel, so that folded constants and
/// simulated values can never disagree.
pub fn apply(func: Func, v: &[f64]) -> f64 {
    ultra_engine::executor::evaluate_scalar(func, v)
}
