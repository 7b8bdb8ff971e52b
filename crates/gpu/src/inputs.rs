//! How each input turns its uniform pair `(u, v = 1 - u)` into a value on the GPU.
//!
//! Closed forms where the inverse CDF has one (normal through Acklam's approximation,
//! lognormal, uniform, triangular, exponential, Weibull, logistic, log-logistic, Pareto,
//! Gumbel), each reading the tail it needs from `u` or from `v` so that f32 keeps its
//! relative precision in both tails. Parameters may be formulas of other cells: then they
//! are checked per iteration, and an iteration whose parameters are out of their domain
//! flags the run (the host reruns it on the CPU, which names the node and iteration).

use std::collections::HashMap;

use ultra_engine::dist::Family;
use ultra_engine::ir::{InputSpec, NodeId};

use crate::codegen::literal;
use crate::error::GpuError;

/// An input's sampling on the GPU.
#[derive(Debug, Clone)]
pub(crate) enum InputLowering {
    /// A closed-form inverse CDF of `family`, parameters from the nodes of the spec.
    Closed { family: Family },
}

/// Chooses how to sample `spec` on the GPU, or says why it cannot be.
pub(crate) fn lower(
    spec: &InputSpec,
    constants: &HashMap<NodeId, f64>,
    _tables: &mut Vec<f32>,
) -> Result<InputLowering, String> {
    let _ = constants;
    let closed = matches!(
        spec.distribution,
        Family::Normal
            | Family::Lognormal
            | Family::Lognormal2
            | Family::Uniform
            | Family::Triang
            | Family::Expon
            | Family::Weibull
            | Family::Logistic
            | Family::Loglogistic
            | Family::Pareto
            | Family::ExtValue
    );
    if spec.lower.is_some() || spec.upper.is_some() {
        return Err("truncated inputs are not lowered to the GPU yet".to_owned());
    }
    if closed {
        Ok(InputLowering::Closed {
            family: spec.distribution.clone(),
        })
    } else {
        Err("this distribution is not lowered to the GPU yet".to_owned())
    }
}

/// The WGSL expression of the input's value from the pair `uv`, and the condition its
/// parameters must meet (`None` when nothing needs checking per iteration).
pub(crate) fn emit(
    lowering: &InputLowering,
    spec: &InputSpec,
    uv: &str,
    var: &dyn Fn(NodeId) -> String,
) -> Result<(String, Option<String>), GpuError> {
    let p: Vec<String> = spec.params.iter().map(|id| var(*id)).collect();
    let u = format!("{uv}.x");
    let v = format!("{uv}.y");
    let InputLowering::Closed { family } = lowering;
    let (value, check) = match family {
        Family::Normal => (
            format!("({} + {} * qnorm({u}, {v}))", p[0], p[1]),
            format!("{} > 0.0 && is_finite({})", p[1], p[0]),
        ),
        Family::Lognormal => {
            // sigma² = ln(1 + (sd/mean)²), mu = ln(mean) - sigma²/2.
            let ratio = format!("({} / {})", p[1], p[0]);
            let s2 = format!("log(1.0 + {ratio} * {ratio})");
            (
                format!(
                    "exp(log({m}) - 0.5 * {s2} + sqrt({s2}) * qnorm({u}, {v}))",
                    m = p[0]
                ),
                format!("{} > 0.0 && {} > 0.0", p[0], p[1]),
            )
        }
        Family::Lognormal2 => (
            format!("exp({} + {} * qnorm({u}, {v}))", p[0], p[1]),
            format!("{} > 0.0 && is_finite({})", p[1], p[0]),
        ),
        Family::Uniform => (
            format!(
                "select({a} + ({b} - {a}) * {u}, {b} - ({b} - {a}) * {v}, {u} > 0.5)",
                a = p[0],
                b = p[1]
            ),
            format!(
                "{} < {} && is_finite({}) && is_finite({})",
                p[0], p[1], p[0], p[1]
            ),
        ),
        Family::Triang => (
            format!(
                "select({a} + sqrt({u} * ({b} - {a}) * ({m} - {a})), \
                 {b} - sqrt({v} * ({b} - {a}) * ({b} - {m})), \
                 {u} >= ({m} - {a}) / ({b} - {a}))",
                a = p[0],
                m = p[1],
                b = p[2]
            ),
            format!(
                "{a} <= {m} && {m} <= {b} && {a} < {b} && is_finite({a}) && is_finite({b})",
                a = p[0],
                m = p[1],
                b = p[2]
            ),
        ),
        Family::Expon => (
            format!("({} * neg_log_u({v}, {u}))", p[0]),
            format!("{} > 0.0", p[0]),
        ),
        Family::Weibull => (
            format!("({} * pow(neg_log_u({v}, {u}), 1.0 / {}))", p[1], p[0]),
            format!("{} > 0.0 && {} > 0.0", p[0], p[1]),
        ),
        Family::Logistic => (
            format!("({} + {} * (log({u}) - log({v})))", p[0], p[1]),
            format!("{} > 0.0 && is_finite({})", p[1], p[0]),
        ),
        Family::Loglogistic => (
            format!(
                "({} + {} * exp((log({u}) - log({v})) / {}))",
                p[0], p[1], p[2]
            ),
            format!("{} > 0.0 && {} > 0.0 && is_finite({})", p[1], p[2], p[0]),
        ),
        Family::Pareto => (
            format!("({} * exp(neg_log_u({v}, {u}) / {}))", p[1], p[0]),
            format!("{} > 0.0 && {} > 0.0", p[0], p[1]),
        ),
        Family::ExtValue => (
            format!("({} - {} * log(neg_log_u({u}, {v})))", p[0], p[1]),
            format!("{} > 0.0 && is_finite({})", p[1], p[0]),
        ),
        other => {
            return Err(GpuError::Unsupported(vec![format!(
                "{} has no closed form on the GPU",
                other.risk_name()
            )]));
        }
    };
    let value = match spec.shift {
        Some(shift) => format!("({value} + {})", var(shift)),
        None => value,
    };
    // Constant parameters were validated with the model; only formulas need checking.
    Ok((value, Some(check)))
}

/// A literal for a host-computed f64 parameter.
#[allow(dead_code)]
pub(crate) fn constant(value: f64) -> String {
    literal(value)
}
