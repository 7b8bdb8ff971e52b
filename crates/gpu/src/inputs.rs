//! How each input turns its uniform pair `(u, v = 1 - u)` into a value on the GPU.
//!
//! * Closed forms where the inverse CDF has one (normal through AS 241 in f32,
//!   lognormal, uniform, triangular, exponential, Weibull, logistic, log-logistic, Pareto,
//!   Gumbel; Bernoulli, discrete uniform and geometric), each reading the tail it needs
//!   from `u` or from `v` so that f32 keeps its relative precision in both tails. Their
//!   parameters may be formulas of other cells: then they are checked per iteration
//!   against the CPU constructor's own rules, and an iteration whose parameters are out of
//!   their domain flags the run (the host reruns it on the CPU, which names the node and
//!   iteration).
//! * Host-built tables (`tables.rs`) for everything else whose parameters are constants:
//!   quantile tables for continuous laws without a closed form and for every truncated
//!   continuous input, step tables for discrete laws, exact piecewise segments for
//!   `RiskCumul`, `RiskHistogrm` and `RiskGeneral`. A shift that is a formula is added on
//!   the GPU when there is no truncation (the table is then the unshifted law's).
//! * Refused, with the reason, so that the caller runs the model on the CPU: laws without a
//!   closed form whose parameters are formulas (a table per iteration is no option), and
//!   truncation whose bounds, shift or parameters are formulas (the window's probabilities
//!   would have to be computed per iteration in f32, losing the tails).

use std::collections::HashMap;

use ultra_engine::dist::{Distribution, Family, InputDistribution, Univariate};
use ultra_engine::ir::{InputSpec, NodeId};

use crate::codegen::literal;
use crate::error::GpuError;
use crate::tables::{self, ContinuousTarget};

/// The largest discrete support tabulated (three f32 words a point, 12 MiB).
pub(crate) const MAX_STEP_POINTS: usize = 1 << 20;
/// The most table words of one model (64 MiB), well inside every device's storage
/// binding limit.
pub(crate) const MAX_TABLE_WORDS: usize = 1 << 24;

/// An input's sampling on the GPU.
#[derive(Debug, Clone)]
pub(crate) enum InputLowering {
    /// A closed-form inverse CDF of `family`, parameters from the nodes of the spec, or
    /// host-computed `constants` in their place (`RiskTrigen`'s ends).
    Closed {
        family: Family,
        constants: Option<Vec<f64>>,
    },
    /// A quantile table (see `quantile_table` in `distributions.wgsl`).
    Quantile {
        offset: usize,
        count: usize,
        k_min: i32,
        anchor: f32,
        scale: f64,
        add_shift: bool,
    },
    /// A discrete step table (`step_table`).
    Steps {
        offset: usize,
        count: usize,
        add_shift: bool,
    },
    /// Piecewise-linear density segments (`piecewise_table`).
    Piecewise {
        offset: usize,
        count: usize,
        add_shift: bool,
    },
}

/// Continuous families with a closed-form inverse CDF in `closed`.
fn has_closed_form(family: &Family) -> bool {
    matches!(
        family,
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
    )
}

/// Discrete families with a closed form (used when their parameters are formulas, or
/// their support is too large for a table).
fn has_discrete_closed_form(family: &Family) -> bool {
    matches!(
        family,
        Family::Bernoulli | Family::IntUniform | Family::Geometric
    )
}

fn is_discrete(family: &Family) -> bool {
    matches!(
        family,
        Family::Bernoulli
            | Family::Binomial
            | Family::Poisson
            | Family::Geometric
            | Family::NegBin
            | Family::IntUniform
            | Family::Discrete { .. }
    )
}

fn is_piecewise(family: &Family) -> bool {
    matches!(
        family,
        Family::Cumul { .. } | Family::General { .. } | Family::Histogram { .. }
    )
}

/// Chooses how to sample `spec` on the GPU, or says why it cannot be. Tables go to the
/// end of `tables`.
pub(crate) fn lower(
    spec: &InputSpec,
    constants: &HashMap<NodeId, f64>,
    tables: &mut Vec<f32>,
) -> Result<InputLowering, String> {
    let family = &spec.distribution;
    let value_of = |id: &NodeId| constants.get(id).copied();
    let params: Option<Vec<f64>> = spec.params.iter().map(value_of).collect();
    let truncated = spec.lower.is_some() || spec.upper.is_some();
    let bounds_static = spec
        .lower
        .iter()
        .chain(spec.upper.iter())
        .all(|id| constants.contains_key(id));
    let shift_static = spec.shift.is_none_or(|id| constants.contains_key(&id));

    if !truncated && has_closed_form(family) {
        return Ok(InputLowering::Closed {
            family: family.clone(),
            constants: None,
        });
    }
    if !truncated && params.is_none() && has_discrete_closed_form(family) {
        return Ok(InputLowering::Closed {
            family: family.clone(),
            constants: None,
        });
    }
    let Some(params) = params else {
        return Err(if truncated {
            "truncation of a distribution whose parameters are formulas is not lowered to \
             the GPU (its window would be computed per iteration in f32)"
                .to_owned()
        } else {
            "this distribution has no closed-form inverse CDF on the GPU, and its quantile \
             table needs constant parameters, not formulas"
                .to_owned()
        });
    };
    if truncated && !(bounds_static && shift_static) {
        return Err(
            "truncation bounds or a shift that are formulas are not lowered to the GPU (the \
             truncation window would be computed per iteration in f32)"
                .to_owned(),
        );
    }
    let base = Distribution::new(family, &params).map_err(|e| e.to_string())?;
    let lower = spec.lower.as_ref().and_then(value_of);
    let upper = spec.upper.as_ref().and_then(value_of);
    // A constant shift goes into the table; a formula is added on the GPU.
    let add_shift = !shift_static;
    let shift = if shift_static {
        spec.shift.as_ref().and_then(value_of)
    } else {
        None
    };
    let shift_value = shift.unwrap_or(0.0);

    if matches!(family, Family::Trigen) && !truncated {
        // RiskTrigen is a triangular law whose ends the host solves for once.
        let q = |p: f64| base.inverse_cdf(p);
        return Ok(InputLowering::Closed {
            family: Family::Triang,
            constants: Some(vec![q(0.0), params[1], q(1.0)]),
        });
    }
    let input =
        InputDistribution::new(base.clone(), lower, upper, shift).map_err(|e| e.to_string())?;

    let offset = tables.len();
    let lowering = if is_piecewise(family) {
        let table = tables::piecewise_table(
            family,
            params[0],
            params[1],
            lower.map_or(f64::NEG_INFINITY, |l| l - shift_value),
            upper.map_or(f64::INFINITY, |u| u - shift_value),
            shift_value,
        )?;
        push_words(tables, &table.words())?;
        InputLowering::Piecewise {
            offset,
            count: table.len(),
            add_shift,
        }
    } else if is_discrete(family) {
        match tables::step_table(&input, lower, upper, shift_value, MAX_STEP_POINTS) {
            Ok(table) => {
                push_words(tables, &table.words())?;
                InputLowering::Steps {
                    offset,
                    count: table.len(),
                    add_shift,
                }
            }
            // Too large a support: the closed form, where there is one.
            Err(_) if !truncated && has_discrete_closed_form(family) => InputLowering::Closed {
                family: family.clone(),
                constants: Some(params),
            },
            Err(reason) => return Err(reason),
        }
    } else {
        let window = truncated.then(|| {
            let (f_lower, f_upper) = tables::window(&base, lower, upper, shift_value);
            (f_lower, f_upper - f_lower)
        });
        // The triangular mode is a kink of the quantile function: the grid puts a knot
        // there.
        let kink = match family {
            Family::Triang | Family::Trigen => Some(input.cdf(params[1] + shift_value)),
            _ => None,
        };
        let table = tables::quantile_table(&ContinuousTarget {
            input: &input,
            window,
            kink,
            shift: shift_value,
        })?;
        push_words(tables, &table.words)?;
        tracing::debug!(
            family = family.risk_name(),
            intervals = table.intervals(),
            worst = table.worst,
            "quantile table built (worst check error in units of the tolerance)"
        );
        InputLowering::Quantile {
            offset,
            count: table.intervals(),
            k_min: table.k_min,
            anchor: table.anchor,
            scale: table.scale(),
            add_shift,
        }
    };
    Ok(lowering)
}

fn push_words(tables: &mut Vec<f32>, words: &[f32]) -> Result<(), String> {
    if tables.len() + words.len() > MAX_TABLE_WORDS {
        return Err(format!(
            "the model's distribution tables would exceed {MAX_TABLE_WORDS} words"
        ));
    }
    tables.extend_from_slice(words);
    Ok(())
}

/// The WGSL expression of the input's value from the pair `uv`, and the condition its
/// parameters must meet (`None` when nothing needs checking per iteration).
pub(crate) fn emit(
    lowering: &InputLowering,
    spec: &InputSpec,
    uv: &str,
    var: &dyn Fn(NodeId) -> String,
) -> Result<(String, Option<String>), GpuError> {
    let u = format!("{uv}.x");
    let v = format!("{uv}.y");
    // The CPU refuses a shift that is not finite.
    let shift_check = spec.shift.map(|s| format!("is_finite({})", var(s)));
    let with_shift = |value: String, add: bool| match spec.shift {
        Some(shift) if add => format!("({value} + {})", var(shift)),
        _ => value,
    };
    let table_check = |add: bool| if add { shift_check.clone() } else { None };
    Ok(match lowering {
        InputLowering::Closed { family, constants } => {
            let p: Vec<String> = match constants {
                Some(values) => values.iter().map(|x| literal(*x)).collect(),
                None => spec.params.iter().map(|id| var(*id)).collect(),
            };
            let (value, check) = closed(family, &p, &u, &v)?;
            let check = match shift_check {
                Some(s) => format!("({check}) && {s}"),
                None => check,
            };
            // Constant parameters were validated with the model; only formulas need
            // checking (the caller drops the check of a static input).
            (with_shift(value, true), Some(check))
        }
        InputLowering::Quantile {
            offset,
            count,
            k_min,
            anchor,
            scale,
            add_shift,
        } => (
            with_shift(
                format!(
                    "quantile_table({offset}u, {count}u, {}, {}, {}, {u}, {v})",
                    literal(f64::from(*k_min)),
                    literal(f64::from(*anchor)),
                    literal(*scale)
                ),
                *add_shift,
            ),
            table_check(*add_shift),
        ),
        InputLowering::Steps {
            offset,
            count,
            add_shift,
        } => (
            with_shift(
                format!("step_table({offset}u, {count}u, {u}, {v})"),
                *add_shift,
            ),
            table_check(*add_shift),
        ),
        InputLowering::Piecewise {
            offset,
            count,
            add_shift,
        } => (
            with_shift(
                format!("piecewise_table({offset}u, {count}u, {u}, {v})"),
                *add_shift,
            ),
            table_check(*add_shift),
        ),
    })
}

/// A closed-form inverse CDF and the CPU constructor's rule for its parameters `p` (WGSL
/// expressions): a NaN parameter fails every check, as the CPU makes such an iteration an
/// error.
fn closed(family: &Family, p: &[String], u: &str, v: &str) -> Result<(String, String), GpuError> {
    let finite = |x: &String| format!("is_finite({x})");
    let positive = |x: &String| format!("({x} > 0.0 && is_finite({x}))");
    let arity = family.arity();
    if p.len() < arity.0 || p.len() > arity.1 {
        return Err(GpuError::Unsupported(vec![format!(
            "{} with {} parameters",
            family.risk_name(),
            p.len()
        )]));
    }
    Ok(match family {
        Family::Normal => (
            format!("({} + {} * normal_quantile({u}, {v}))", p[0], p[1]),
            format!("{} && {}", finite(&p[0]), positive(&p[1])),
        ),
        Family::Lognormal => {
            // sigma² = ln(1 + (sd/mean)²), mu = ln(mean) - sigma²/2.
            let s2 = format!("lognormal_s2({} / {})", p[1], p[0]);
            (
                format!(
                    "exp(log({m}) - 0.5 * {s2} + sqrt({s2}) * normal_quantile({u}, {v}))",
                    m = p[0]
                ),
                format!(
                    "{} && {} && {s2} > 0.0 && is_finite({s2})",
                    positive(&p[0]),
                    positive(&p[1])
                ),
            )
        }
        Family::Lognormal2 => (
            format!("exp({} + {} * normal_quantile({u}, {v}))", p[0], p[1]),
            format!("{} && {}", finite(&p[0]), positive(&p[1])),
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
        Family::Expon => (format!("({} * neg_log_u({v}, {u}))", p[0]), positive(&p[0])),
        Family::Weibull => (
            format!("({} * pow(neg_log_u({v}, {u}), 1.0 / {}))", p[1], p[0]),
            format!("{} && {}", positive(&p[0]), positive(&p[1])),
        ),
        Family::Logistic => (
            format!("({} + {} * (log({u}) - log({v})))", p[0], p[1]),
            format!("{} && {}", finite(&p[0]), positive(&p[1])),
        ),
        Family::Loglogistic => (
            format!(
                "({} + {} * exp((log({u}) - log({v})) / {}))",
                p[0], p[1], p[2]
            ),
            format!(
                "{} && {} && {}",
                finite(&p[0]),
                positive(&p[1]),
                positive(&p[2])
            ),
        ),
        Family::Pareto => (
            format!("({} * exp(neg_log_u({v}, {u}) / {}))", p[1], p[0]),
            format!("{} && {}", positive(&p[0]), positive(&p[1])),
        ),
        Family::ExtValue => (
            format!("({} - {} * log(neg_log_u({u}, {v})))", p[0], p[1]),
            format!("{} && {}", finite(&p[0]), positive(&p[1])),
        ),
        // 0 when CDF(0) = 1 - p >= u (u <= 1/2), or P(X > 0) = p <= v above the median.
        Family::Bernoulli => (
            format!(
                "select(1.0, 0.0, select({p} <= {v}, 1.0 - {p} >= {u}, {u} <= 0.5))",
                p = p[0]
            ),
            format!("{p} >= 0.0 && {p} <= 1.0", p = p[0]),
        ),
        // The smallest k with (k - min + 1) / n >= u, or (max - k) / n <= v above the
        // median.
        Family::IntUniform => {
            let n = format!("({b} - {a} + 1.0)", a = p[0], b = p[1]);
            (
                format!(
                    "select(clamp({a} - 1.0 + ceil({u} * {n}), {a}, {b}), \
                     clamp({b} - floor({v} * {n}), {a}, {b}), {u} > 0.5)",
                    a = p[0],
                    b = p[1]
                ),
                format!(
                    "{fa} && {fb} && {a} == trunc({a}) && {b} == trunc({b}) && {a} <= {b} \
                     && abs({a}) <= 9007199254740992.0 && abs({b}) <= 9007199254740992.0 \
                     && {n} <= 9007199254740992.0",
                    fa = finite(&p[0]),
                    fb = finite(&p[1]),
                    a = p[0],
                    b = p[1]
                ),
            )
        }
        // ceil(ln(1 - u) / ln(1 - p)) - 1, both logarithms accurate for small arguments.
        Family::Geometric => (
            format!(
                "select(max(ceil(neg_log_u({v}, {u}) / neg_log_complement({p})) - 1.0, 0.0), \
                 0.0, {p} >= 1.0)",
                p = p[0]
            ),
            format!("{p} > 0.0 && {p} <= 1.0", p = p[0]),
        ),
        other => {
            return Err(GpuError::Unsupported(vec![format!(
                "{} has no closed form on the GPU",
                other.risk_name()
            )]));
        }
    })
}
