//! A reference interpreter of the IR for tests: evaluates a model once with given input
//! values, with the engine kernels' scalar semantics.

#![allow(dead_code)]

pub mod xlsx;

use std::collections::HashMap;

use ultra_engine::ir::{Func, Model, NodeId, Op};

fn truth(x: bool) -> f64 {
    if x { 1.0 } else { 0.0 }
}

fn apply(func: Func, v: &[f64]) -> f64 {
    let (a, b) = (v[0], v.get(1).copied().unwrap_or(f64::NAN));
    let scale = |d: f64| 10f64.powi(d.trunc() as i32);
    match func {
        Func::Neg => -a,
        Func::Not => truth(a == 0.0),
        Func::Exp => a.exp(),
        Func::Ln => a.ln(),
        Func::Log10 => a.log10(),
        Func::Sqrt => a.sqrt(),
        Func::Abs => a.abs(),
        Func::Sign => a.signum() * truth(a != 0.0),
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
            if a.is_nan() {
                a
            } else if a != 0.0 {
                b
            } else {
                v[2]
            }
        }
        Func::Sum => v.iter().sum(),
        Func::Product => v.iter().product(),
        Func::Min => {
            if v.iter().any(|x| x.is_nan()) {
                f64::NAN
            } else {
                v.iter().copied().fold(f64::INFINITY, f64::min)
            }
        }
        Func::Max => {
            if v.iter().any(|x| x.is_nan()) {
                f64::NAN
            } else {
                v.iter().copied().fold(f64::NEG_INFINITY, f64::max)
            }
        }
        Func::And => {
            if v.iter().any(|x| x.is_nan()) {
                f64::NAN
            } else {
                truth(v.iter().all(|x| *x != 0.0))
            }
        }
        Func::Or => {
            if v.iter().any(|x| x.is_nan()) {
                f64::NAN
            } else {
                truth(v.iter().any(|x| *x != 0.0))
            }
        }
        Func::Xor => {
            if v.iter().any(|x| x.is_nan()) {
                f64::NAN
            } else {
                truth(v.iter().filter(|x| **x != 0.0).count() % 2 == 1)
            }
        }
        // Order statistics, the normal CDF and the root finders have no independent
        // reimplementation here: they have their own tests in the engine.
        Func::NormSDist
        | Func::NormSInv
        | Func::Median
        | Func::Large
        | Func::Small
        | Func::Irr
        | Func::Rate
        | Func::Xirr => ultra_engine::executor::evaluate_scalar(func, v),
    }
}

/// Output values by name, with each input node taking `inputs[label]`.
pub fn run(model: &Model, inputs: &HashMap<String, f64>) -> HashMap<String, f64> {
    let valid = model.validate().expect("valid model");
    let mut values: HashMap<NodeId, f64> = HashMap::new();
    let mut outputs = HashMap::new();
    for node in &valid.nodes {
        let value = match &node.op {
            Op::Const { value } => *value,
            Op::Input(_) => {
                let label = node.label.clone().unwrap_or_default();
                *inputs
                    .get(&label)
                    .unwrap_or_else(|| panic!("no value for input {label}"))
            }
            Op::Call { func, args } => {
                let args: Vec<f64> = args.iter().map(|a| values[a]).collect();
                apply(*func, &args)
            }
            Op::Output { name, arg } => {
                outputs.insert(name.clone(), values[arg]);
                values[arg]
            }
        };
        values.insert(node.id, value);
    }
    outputs
}
