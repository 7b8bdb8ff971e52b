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

fn truth(x: bool) -> f64 {
    if x { 1.0 } else { 0.0 }
}

fn scale(digits: f64) -> f64 {
    10f64.powi(digits.trunc().clamp(-308.0, 308.0) as i32)
}

fn sign(x: f64) -> f64 {
    if x > 0.0 {
        1.0
    } else if x < 0.0 {
        -1.0
    } else {
        x * 0.0
    }
}

/// Logical fold keeping NaN (an error) as NaN, as the kernels do.
fn logical(values: &[f64], f: impl Fn(f64, f64) -> f64) -> f64 {
    let mut acc = values.first().copied().unwrap_or(f64::NAN);
    for &x in values.iter().skip(1) {
        acc = if x.is_nan() { x } else { f(acc, x) };
    }
    if acc.is_nan() { acc } else { truth(acc != 0.0) }
}

/// Min or max that propagates NaN (an error in any argument is an error of the result).
fn fold_propagating(values: &[f64], better: impl Fn(f64, f64) -> bool) -> f64 {
    let mut acc = values.first().copied().unwrap_or(f64::NAN);
    for &x in values.iter().skip(1) {
        if acc.is_nan() {
            break;
        }
        if x.is_nan() || better(x, acc) {
            acc = x;
        }
    }
    acc
}

/// One IR function on scalars: the engine kernel semantics, element by element.
pub fn apply(func: Func, v: &[f64]) -> f64 {
    let a = v.first().copied().unwrap_or(f64::NAN);
    let b = v.get(1).copied().unwrap_or(f64::NAN);
    match func {
        Func::Neg => -a,
        Func::Not => truth(a == 0.0),
        Func::Exp => a.exp(),
        Func::Ln => a.ln(),
        Func::Log10 => a.log10(),
        Func::Sqrt => a.sqrt(),
        Func::Abs => a.abs(),
        Func::Sign => sign(a),
        Func::Floor => a.floor(),
        Func::Ceiling => a.ceil(),
        Func::Trunc => a.trunc(),
        Func::Add => a + b,
        Func::Sub => a - b,
        Func::Mul => a * b,
        Func::Div => {
            if b == 0.0 {
                f64::NAN
            } else {
                a / b
            }
        }
        Func::Pow => a.powf(b),
        Func::Eq => truth(a == b),
        Func::Ne => truth(a != b),
        Func::Lt => truth(a < b),
        Func::Le => truth(a <= b),
        Func::Gt => truth(a > b),
        Func::Ge => truth(a >= b),
        Func::Round => (a * scale(b)).round() / scale(b),
        Func::RoundUp => (a.abs() * scale(b)).ceil().copysign(a) / scale(b),
        Func::RoundDown => (a * scale(b)).trunc() / scale(b),
        Func::Mod => {
            if b == 0.0 {
                f64::NAN
            } else {
                a - b * (a / b).floor()
            }
        }
        Func::Select => {
            let c = v.get(2).copied().unwrap_or(f64::NAN);
            if a.is_nan() {
                a
            } else if a != 0.0 {
                b
            } else {
                c
            }
        }
        Func::Sum => v.iter().sum(),
        Func::Product => v.iter().product(),
        Func::Min => fold_propagating(v, |x, m| x < m),
        Func::Max => fold_propagating(v, |x, m| x > m),
        Func::And => logical(v, |acc, x| acc * truth(x != 0.0)),
        Func::Or => logical(v, |acc, x| truth(acc != 0.0 || x != 0.0)),
        Func::Xor => logical(v, |acc, x| truth((acc != 0.0) != (x != 0.0))),
    }
}
