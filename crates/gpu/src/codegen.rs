//! From a validated model to one WGSL compute shader.
//!
//! One invocation evaluates one iteration (or, in the reducing shader, a few iterations)
//! as straight-line code: the node values are WGSL `let`s in topological order, constants
//! are literals, and each input draws its uniform from the same Philox counter as the CPU
//! (`[iteration lo, iteration hi, dimension, 0]` under `[seed lo, seed hi]`). What varies
//! from run to run (seed, iteration range, Latin Hypercube and Sobol' constants) lives in
//! buffers, so the shader depends only on the model and the output layout, and compiled
//! pipelines are cached by a hash of the source.

use std::collections::HashMap;
use std::fmt::Write as _;

use ultra_engine::SamplingMethod;
use ultra_engine::ir::{Func, InputSpec, NodeId, Op, ValidModel};

use crate::error::GpuError;
use crate::inputs::{self, InputLowering};

/// The prelude: random streams, design points, special functions, Excel semantics.
const PRELUDE: &str = include_str!("shaders/prelude.wgsl");
/// Inverse CDFs and table look-ups of the distributions (see `inputs.rs`).
const DISTRIBUTIONS: &str = include_str!("shaders/distributions.wgsl");
/// The IR functions that take more than an expression (order statistics, root finders).
const FUNCTIONS: &str = include_str!("shaders/functions.wgsl");

/// Iterations per invocation in the reducing shader: enough to amortise the workgroup
/// reduction, few enough to keep a batch's workgroups many.
pub(crate) const ITEMS_PER_THREAD: u32 = 64;
pub(crate) const WORKGROUP_SIZE: u32 = 256;
/// Accumulators per output in the reducing shader's partials: count, sum, compensation,
/// sums of squares, cubes and fourth powers about the centre, min, max.
pub(crate) const PARTIAL_WORDS: usize = 8;
/// Equal-width bins of the on-device histogram of each output over the range the host
/// gives (from the kept first iterations, widened), plus one bin below and one above it.
pub(crate) const HISTOGRAM_BINS: usize = 192;
/// Outputs up to which the reducing shader also builds histograms: their workgroup counters
/// (and the reduction scratch) must fit the 16 KiB of workgroup memory every device has.
pub(crate) const HISTOGRAM_MAX_OUTPUTS: usize = 10;

/// The largest model the generator takes in one shader: beyond it drivers take minutes to
/// compile, or fail, and the model is refused with a clear error.
pub(crate) const MAX_SHADER_NODES: usize = 60_000;

/// What the shader writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Mode {
    /// Every iteration's outputs (and inputs when kept) to the samples buffer.
    KeepAll,
    /// Per-workgroup partial moments of each output; no samples.
    Reduce,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ShaderOptions {
    pub sampling: SamplingMethod,
    pub keep_inputs: bool,
    pub mode: Mode,
    pub int64: bool,
}

/// A generated shader and what the executor needs to run it.
#[derive(Debug, Clone)]
pub(crate) struct Shader {
    pub wgsl: String,
    /// Output columns first (model order), then input columns when kept.
    pub columns: usize,
    pub outputs: usize,
    /// Quantile and search tables of the inputs, uploaded once per run.
    pub tables: Vec<f32>,
}

/// f32 literal of a constant: the nearest f32, written so that WGSL reads it back exactly.
/// Values beyond the f32 range become infinities (errors in that iteration), as f32
/// arithmetic would make them.
pub(crate) fn literal(value: f64) -> String {
    let v = value as f32;
    if v.is_nan() {
        "nan()".to_owned()
    } else if v.is_infinite() {
        if v > 0.0 {
            "bitcast<f32>(0x7f800000u)".to_owned()
        } else {
            "bitcast<f32>(0xff800000u)".to_owned()
        }
    } else {
        let text = format!("{v:?}");
        let text = if text.contains(['.', 'e', 'E']) {
            text
        } else {
            format!("{text}.0")
        };
        format!("f32({text})")
    }
}

fn var(id: NodeId) -> String {
    format!("n{id}")
}

/// Generates the shader of `model`.
pub(crate) fn generate(model: &ValidModel, options: ShaderOptions) -> Result<Shader, GpuError> {
    if model.nodes.len() > MAX_SHADER_NODES {
        return Err(GpuError::TooLarge(format!(
            "{} nodes; one shader takes at most {MAX_SHADER_NODES} (run it on the CPU engine)",
            model.nodes.len()
        )));
    }
    let constants: HashMap<NodeId, f64> = model
        .nodes
        .iter()
        .filter_map(|n| match n.op {
            Op::Const { value } => Some((n.id, value)),
            _ => None,
        })
        .collect();
    let dimension_of: HashMap<NodeId, usize> = model
        .inputs
        .iter()
        .enumerate()
        .map(|(d, id)| (*id, d))
        .collect();

    // Lower every input first, so that every unsupported construct is reported at once.
    let mut unsupported = Vec::new();
    let mut tables = Vec::new();
    let mut lowerings: HashMap<NodeId, InputLowering> = HashMap::new();
    for node in &model.nodes {
        match &node.op {
            Op::Input(spec) => match inputs::lower(spec, &constants, &mut tables) {
                Ok(lowering) => {
                    lowerings.insert(node.id, lowering);
                }
                Err(reason) => unsupported.push(format!(
                    "{} ({}): {reason}",
                    node.label.as_deref().unwrap_or("input"),
                    spec.distribution.risk_name()
                )),
            },
            Op::Call { func, args } => {
                if let Err(reason) = check_call(*func, args.len()) {
                    unsupported.push(format!(
                        "{}: {reason}",
                        node.label.as_deref().unwrap_or("formula")
                    ));
                }
            }
            _ => {}
        }
    }
    if !unsupported.is_empty() {
        return Err(GpuError::Unsupported(unsupported));
    }
    if options.sampling == SamplingMethod::Sobol && model.inputs.len() > 1024 {
        return Err(GpuError::TooLarge(
            "Sobol sampling takes at most 1024 inputs".to_owned(),
        ));
    }

    let outputs = model.outputs.len();
    let columns = outputs
        + if options.keep_inputs {
            model.inputs.len()
        } else {
            0
        };
    let mut body = String::new();

    // Inputs in a correlation group get their uniforms up front (the copula mixes them);
    // the others draw theirs where they are used, keeping registers free.
    let correlated = copula_dimensions(model);
    let _ = writeln!(body, "    // Correlated uniforms (Gaussian copula).");
    for group in &correlated.groups {
        for &d in &group.dims {
            let _ = writeln!(body, "    var uv{d} = draw(idx, i_lo, i_hi, key, {d}u);");
        }
        emit_copula(&mut body, group);
    }

    for node in &model.nodes {
        let name = var(node.id);
        match &node.op {
            Op::Const { value } => {
                let _ = writeln!(body, "    let {name} = {};", literal(*value));
            }
            Op::Input(spec) => {
                let d = dimension_of[&node.id];
                if !correlated.members.contains(&d) {
                    let _ = writeln!(body, "    let uv{d} = draw(idx, i_lo, i_hi, key, {d}u);");
                }
                let lowering = &lowerings[&node.id];
                let (expr, check) = inputs::emit(lowering, spec, &format!("uv{d}"), &var)?;
                let check = check.filter(|_| !is_static(spec, &constants));
                if let Some(check) = check {
                    let _ = writeln!(body, "    if (!({check})) {{ flag_parameters(); }}");
                }
                let _ = writeln!(body, "    let {name} = {expr};");
            }
            Op::Call { func, args } => {
                let args: Vec<String> = args.iter().map(|a| var(*a)).collect();
                let _ = writeln!(body, "    let {name} = {};", call(*func, &args));
            }
            Op::Output { arg, .. } => {
                let _ = writeln!(body, "    let {name} = {};", var(*arg));
            }
        }
    }

    let mut column_values: Vec<String> = model.outputs.iter().map(|id| var(*id)).collect();
    if options.keep_inputs {
        column_values.extend(model.inputs.iter().map(|id| var(*id)));
    }

    let mut wgsl = assemble(&body, &column_values, outputs, options);
    // The per-arity helpers of the gathering functions (order statistics, root finders).
    wgsl.push_str(&gathered_helpers(model));
    Ok(Shader {
        wgsl,
        columns,
        outputs,
        tables,
    })
}

/// The most arguments a gathering function (MEDIAN, LARGE, SMALL, IRR, XIRR) takes on the
/// GPU. Its helper copies them into a local array, which lives in thread-private memory (a
/// GPU thread has a few hundred registers in all), and sorts it in O(n²) steps or evaluates
/// n terms per root-finding step: past a few hundred values a CPU core does that better
/// than one GPU thread, and the shader grows with each distinct count.
pub(crate) const MAX_GATHERED_ARGS: usize = 256;

/// Which functions the generator lowers, and with how many arguments.
fn check_call(func: Func, arity: usize) -> Result<(), String> {
    use Func::*;
    match func {
        Median | Large | Small | Irr | Xirr if arity > MAX_GATHERED_ARGS => Err(format!(
            "{func:?} with {arity} arguments; the GPU engine takes at most \
             {MAX_GATHERED_ARGS} (run it on the CPU engine)"
        )),
        Sum | Product | Min | Max | And | Or | Xor if arity > 4096 => {
            Err(format!("{func:?} with {arity} arguments"))
        }
        _ => Ok(()),
    }
}

fn fold(args: &[String], step: impl Fn(&str, &str) -> String) -> String {
    let mut acc = args[0].clone();
    for arg in &args[1..] {
        acc = step(&acc, arg);
    }
    acc
}

/// `array<f32, n>(args...)`: how the gathering functions take their arguments.
fn gather(args: &[String]) -> String {
    format!("array<f32, {}>({})", args.len(), args.join(", "))
}

/// The WGSL expression of one IR function.
fn call(func: Func, a: &[String]) -> String {
    use Func::*;
    match func {
        Neg => format!("(-{})", a[0]),
        Not => format!("excel_not({})", a[0]),
        Exp => format!("exp({})", a[0]),
        Ln => format!("excel_ln({})", a[0]),
        Log10 => format!("(excel_ln({}) * 0.43429448190325182)", a[0]),
        Sqrt => format!("excel_sqrt({})", a[0]),
        Abs => format!("abs({})", a[0]),
        Sign => format!("excel_sign({})", a[0]),
        Floor => format!("floor({})", a[0]),
        Ceiling => format!("ceil({})", a[0]),
        Trunc => format!("trunc({})", a[0]),
        NormSDist => format!("pnorm({})", a[0]),
        NormSInv => format!("excel_norm_s_inv({})", a[0]),
        Add => format!("({} + {})", a[0], a[1]),
        // x - x would fold to 0 even for an error.
        Sub if a[0] == a[1] => format!("excel_sub_self({})", a[0]),
        Sub => format!("({} - {})", a[0], a[1]),
        Mul => format!("excel_mul({}, {})", a[0], a[1]),
        Div => format!("excel_div({}, {})", a[0], a[1]),
        Pow => format!("excel_pow({}, {})", a[0], a[1]),
        Eq => format!("excel_eq({}, {})", a[0], a[1]),
        Ne => format!("excel_ne({}, {})", a[0], a[1]),
        Lt => format!("excel_lt({}, {})", a[0], a[1]),
        Le => format!("excel_le({}, {})", a[0], a[1]),
        Gt => format!("excel_gt({}, {})", a[0], a[1]),
        Ge => format!("excel_ge({}, {})", a[0], a[1]),
        Round => format!("excel_round({}, {})", a[0], a[1]),
        RoundUp => format!("excel_round_up({}, {})", a[0], a[1]),
        RoundDown => format!("excel_round_down({}, {})", a[0], a[1]),
        Mod => format!("excel_mod({}, {})", a[0], a[1]),
        Select => format!("excel_select({}, {}, {})", a[0], a[1], a[2]),
        Sum => fold(a, |x, y| format!("({x} + {y})")),
        Product => fold(a, |x, y| format!("excel_mul({x}, {y})")),
        Min => fold(a, |x, y| format!("min_propagating({x}, {y})")),
        Max => fold(a, |x, y| format!("max_propagating({x}, {y})")),
        And => format!("logical({})", fold(a, |x, y| format!("and_step({x}, {y})"))),
        Or => format!("logical({})", fold(a, |x, y| format!("or_step({x}, {y})"))),
        Xor => format!("logical({})", fold(a, |x, y| format!("xor_step({x}, {y})"))),
        // Helpers per argument count, emitted by `gathered_helpers`.
        Median => format!("ir_median_{}({})", a.len(), gather(a)),
        Large => format!(
            "ir_kth_{}({}, true, {})",
            a.len() - 1,
            a[0],
            gather(&a[1..])
        ),
        Small => format!(
            "ir_kth_{}({}, false, {})",
            a.len() - 1,
            a[0],
            gather(&a[1..])
        ),
        Irr => format!("ir_irr_{}({})", a.len(), gather(a)),
        Xirr => format!("ir_xirr_{}({})", a.len(), gather(a)),
        Rate => {
            // nper, pmt, pv, then fv = 0, type = 0 and guess = 0.1 unless given.
            let defaults = ["0.0", "0.0", "0.1"];
            let mut full = a.to_vec();
            full.extend(defaults[a.len() - 3..].iter().map(|d| (*d).to_owned()));
            format!("ir_rate({})", gather(&full))
        }
    }
}

/// A WGSL helper emitted once per shader for each argument count that the model uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Gathered {
    Sort(usize),
    Median(usize),
    Kth(usize),
    Irr(usize),
    Xirr(usize),
    Rate,
}

/// The helpers of the model's gathering calls (MEDIAN, LARGE, SMALL, IRR, RATE, XIRR), each
/// instantiated from its template for one array length. WGSL declarations may follow their
/// use, so these go after the rest of the shader.
fn gathered_helpers(model: &ValidModel) -> String {
    let mut wanted = std::collections::BTreeSet::new();
    for node in &model.nodes {
        if let Op::Call { func, args } = &node.op {
            let n = args.len();
            match func {
                Func::Median => {
                    wanted.insert(Gathered::Sort(n));
                    wanted.insert(Gathered::Median(n));
                }
                Func::Large | Func::Small => {
                    wanted.insert(Gathered::Sort(n - 1));
                    wanted.insert(Gathered::Kth(n - 1));
                }
                Func::Irr => {
                    wanted.insert(Gathered::Irr(n));
                }
                Func::Xirr => {
                    wanted.insert(Gathered::Xirr(n));
                }
                Func::Rate => {
                    wanted.insert(Gathered::Rate);
                }
                _ => {}
            }
        }
    }
    let mut s = String::new();
    for helper in wanted {
        let text = match helper {
            Gathered::Sort(n) => SORT_TEMPLATE.replace("{N}", &n.to_string()),
            Gathered::Median(n) => {
                let pick = if n % 2 == 1 {
                    format!("a[{}]", n / 2)
                } else {
                    format!("0.5 * (a[{}] + a[{}])", n / 2 - 1, n / 2)
                };
                MEDIAN_TEMPLATE
                    .replace("{PICK}", &pick)
                    .replace("{N}", &n.to_string())
            }
            Gathered::Kth(n) => KTH_TEMPLATE.replace("{N}", &n.to_string()),
            Gathered::Irr(n) => {
                let name = format!("irr_{n}");
                IRR_TEMPLATE
                    .replace("{NAME}", &name)
                    .replace("{N}", &n.to_string())
                    + &SOLVER_TEMPLATE
                        .replace("{NAME}", &name)
                        .replace("{N}", &n.to_string())
            }
            Gathered::Xirr(n) => {
                let name = format!("xirr_{n}");
                XIRR_TEMPLATE
                    .replace("{NAME}", &name)
                    .replace("{H}", &(n / 2).to_string())
                    .replace("{N}", &n.to_string())
                    + &SOLVER_TEMPLATE
                        .replace("{NAME}", &name)
                        .replace("{N}", &n.to_string())
            }
            Gathered::Rate => {
                RATE_TEMPLATE.to_owned()
                    + &SOLVER_TEMPLATE
                        .replace("{NAME}", "rate")
                        .replace("{N}", "6")
            }
        };
        s.push('\n');
        s.push_str(&text);
    }
    s
}

/// Insertion sort of n values (no NaN among them): n is small, and the sort is branchy
/// either way.
const SORT_TEMPLATE: &str = "fn ir_sort_{N}(a: ptr<function, array<f32, {N}>>) {
    for (var i = 1u; i < {N}u; i++) {
        let x = (*a)[i];
        var j = i;
        while (j > 0u && (*a)[j - 1u] > x) {
            (*a)[j] = (*a)[j - 1u];
            j = j - 1u;
        }
        (*a)[j] = x;
    }
}
";

/// The CPU's `functions::median`: NaN if any value is NaN; the middle value, or the mean
/// of the two middle ones.
const MEDIAN_TEMPLATE: &str = "fn ir_median_{N}(args: array<f32, {N}>) -> f32 {
    var a = args;
    for (var i = 0u; i < {N}u; i++) {
        if (is_nan(a[i])) {
            return nan();
        }
    }
    ir_sort_{N}(&a);
    return {PICK};
}
";

/// The CPU's `functions::kth` (LARGE and SMALL): k rounded up; NaN if a value is NaN or k is
/// not in 1..=n.
const KTH_TEMPLATE: &str =
    "fn ir_kth_{N}(k_arg: f32, largest: bool, args: array<f32, {N}>) -> f32 {
    var a = args;
    let k = ceil(k_arg);
    if (is_nan(k) || !(k >= 1.0 && k <= {N}.0)) {
        return nan();
    }
    for (var i = 0u; i < {N}u; i++) {
        if (is_nan(a[i])) {
            return nan();
        }
    }
    ir_sort_{N}(&a);
    let index = u32(k) - 1u;
    return select(a[index], a[{N}u - 1u - index], largest);
}
";

/// IRR's pieces for the solver: the guess (NaN when the flows are not finite or do not
/// change sign), the NPV sum v_t (1 + rate)^-t, its exact derivative and the bound n u
/// sum |v_t (1 + rate)^-t| on its rounding (the CPU
/// differentiates numerically in f64, with a step that f32 cannot resolve). For rate >= 0 by
/// Horner's rule in 1 / (1 + rate), as on the CPU; below 0, where (1 + rate)^-t overflows f32
/// long before f64 (at -99% after 20 periods), both times (1 + rate)^(n-1), by Horner's rule
/// in 1 + rate: the same signs and Newton steps, finite.
const IRR_TEMPLATE: &str = "fn ir_{NAME}_start(a: ptr<function, array<f32, {N}>>) -> f32 {
    var positive = false;
    var negative = false;
    for (var i = 0u; i < {N}u; i++) {
        let v = (*a)[i];
        if (!is_finite(v)) {
            return nan();
        }
        positive = positive || v > 0.0;
        negative = negative || v < 0.0;
    }
    return select(nan(), 0.1, positive && negative);
}

fn ir_{NAME}_newton(a: ptr<function, array<f32, {N}>>, rate: f32) -> vec3<f32> {
    var p = 0.0;
    var d = 0.0;
    var m = 0.0;
    if (rate < 0.0) {
        let y = 1.0 + rate;
        for (var i = 0; i < {N}i; i++) {
            p = p * y + (*a)[i];
            d = d * y - f32(i) * (*a)[i];
            m = m * y + abs((*a)[i]);
        }
        return vec3<f32>(p, d / y, {N}.0 * F32_ROUNDING * m);
    }
    let x = 1.0 / (1.0 + rate);
    for (var i = {N}i - 1; i >= 0; i--) {
        d = d * x + p;
        p = p * x + (*a)[i];
        m = m * x + abs((*a)[i]);
    }
    return vec3<f32>(p, -d * x * x, {N}.0 * F32_ROUNDING * m);
}

fn ir_{NAME}_value(a: ptr<function, array<f32, {N}>>, rate: f32) -> f32 {
    var p = 0.0;
    if (rate < 0.0) {
        let y = 1.0 + rate;
        for (var i = 0; i < {N}i; i++) {
            p = p * y + (*a)[i];
        }
        return p;
    }
    let x = 1.0 / (1.0 + rate);
    for (var i = {N}i - 1; i >= 0; i--) {
        p = p * x + (*a)[i];
    }
    return p;
}
";

/// XIRR's pieces: values then dates in one array, as the CPU takes them; the NPV
/// sum v_i (1 + rate)^-t_i, t_i = (d_i - d_0) / 365, its exact derivative and the bound
/// n u sum |terms| on its rounding, all three divided
/// by the largest of the factors (1 + rate)^-t_i, so that neither overflows f32 where f64
/// does not (the same signs and Newton steps). The factors come from exp(-t ln(1 + rate))
/// with the accurate f32 functions of functions.wgsl.
const XIRR_TEMPLATE: &str = "fn ir_{NAME}_start(a: ptr<function, array<f32, {N}>>) -> f32 {
    var positive = false;
    var negative = false;
    for (var i = 0u; i < {N}u; i++) {
        if (!is_finite((*a)[i])) {
            return nan();
        }
    }
    for (var i = 0u; i < {H}u; i++) {
        positive = positive || (*a)[i] > 0.0;
        negative = negative || (*a)[i] < 0.0;
    }
    return select(nan(), 0.1, positive && negative);
}

fn ir_{NAME}_newton(a: ptr<function, array<f32, {N}>>, rate: f32) -> vec3<f32> {
    let l = ln1p_f32(rate);
    let start = (*a)[{H}u];
    var top = -3.4e38;
    for (var i = 0u; i < {H}u; i++) {
        top = max(top, -((*a)[{H}u + i] - start) / 365.0 * l);
    }
    var f = 0.0;
    var d = 0.0;
    var m = 0.0;
    for (var i = 0u; i < {H}u; i++) {
        let t = ((*a)[{H}u + i] - start) / 365.0;
        let term = (*a)[i] * exp_f32(-t * l - top);
        f = f + term;
        d = d - t * term;
        m = m + abs(term);
    }
    return vec3<f32>(f, d / (1.0 + rate), {H}.0 * F32_ROUNDING * m);
}

fn ir_{NAME}_value(a: ptr<function, array<f32, {N}>>, rate: f32) -> f32 {
    return ir_{NAME}_newton(a, rate).x;
}
";

/// RATE's pieces: `a` holds nper, pmt, pv, fv, type, guess (defaults filled in by `call`).
/// The slope is the CPU's central difference, with a step for f32: 1e-3 (1 + |r|) rather
/// than 1e-7 (below f32's resolution), kept inside (-1, r). The value for bracketing is
/// scaled where (1 + r)^nper nears the f32 range (`rate_balance_sign`).
const RATE_TEMPLATE: &str = "fn ir_rate_start(a: ptr<function, array<f32, 6>>) -> f32 {
    for (var i = 0u; i < 6u; i++) {
        if (!is_finite((*a)[i])) {
            return nan();
        }
    }
    if ((*a)[0] <= 0.0) {
        return nan();
    }
    return (*a)[5];
}

fn ir_rate_value(a: ptr<function, array<f32, 6>>, rate: f32) -> f32 {
    return rate_balance_sign(*a, rate);
}

fn ir_rate_newton(a: ptr<function, array<f32, 6>>, rate: f32) -> vec3<f32> {
    let h = min(1e-3 * (1.0 + abs(rate)), 0.5 * (1.0 + rate));
    let slope = (rate_balance(*a, rate + h) - rate_balance(*a, rate - h)) / (2.0 * h);
    return vec3<f32>(rate_balance(*a, rate), slope, rate_rounding(*a, rate));
}
";

/// The CPU's `solve_rate` in f32, around `ir_{NAME}_start` (the guess, NaN for invalid
/// arguments), `_newton` (value and slope, or both scaled by one positive factor) and
/// `_value` (the value or a positive multiple: bracketing and bisection read only its sign):
/// Newton's method from the guess for up to 60 steps; failing that, the sign change on the
/// CPU's grid of rates nearest to the guess, bisected to adjacent floats. Only Newton's
/// stopping rule differs: a step below `RATE_TOLERANCE`, or a value within f32's rounding
/// of zero (`_newton`'s third component bounds that rounding), which f64 would go past but
/// f32 cannot (see functions.wgsl).
const SOLVER_TEMPLATE: &str = "fn ir_{NAME}(args: array<f32, {N}>) -> f32 {
    var a = args;
    let guess = ir_{NAME}_start(&a);
    if (is_nan(guess)) {
        return guess;
    }
    var rate = guess;
    for (var i = 0u; i < 60u; i++) {
        let fd = ir_{NAME}_newton(&a, rate);
        if (fd.x == 0.0 || (is_finite(fd.x) && abs(fd.x) <= fd.z)) {
            return rate;
        }
        if (!(is_finite(fd.y) && fd.y != 0.0)) {
            break;
        }
        let next = rate - fd.x / fd.y;
        if (!is_finite(next) || next <= -1.0) {
            break;
        }
        if (abs(next - rate) <= RATE_TOLERANCE * (1.0 + abs(next))) {
            return next;
        }
        rate = next;
    }
    var grid = RATE_GRID;
    var found = false;
    var best = 0.0;
    var lo = 0.0;
    var hi = 0.0;
    var f_lo = 0.0;
    var r0 = grid[0];
    var f0 = ir_{NAME}_value(&a, r0);
    for (var i = 1u; i < 19u; i++) {
        let r1 = grid[i];
        let f1 = ir_{NAME}_value(&a, r1);
        if (is_finite(f0) && is_finite(f1) && (signum_bit(f0) != signum_bit(f1) || f0 == 0.0)) {
            let distance = abs(0.5 * (r0 + r1) - guess);
            if (!found || distance < best) {
                found = true;
                best = distance;
                lo = r0;
                hi = r1;
                f_lo = f0;
            }
        }
        r0 = r1;
        f0 = f1;
    }
    if (!found) {
        return nan();
    }
    if (f_lo == 0.0) {
        return lo;
    }
    for (var i = 0u; i < 200u; i++) {
        let mid = 0.5 * (lo + hi);
        if (mid <= lo || mid >= hi) {
            break;
        }
        let f_mid = ir_{NAME}_value(&a, mid);
        if (f_mid == 0.0) {
            return mid;
        }
        if (!is_nan(f_mid) && signum_bit(f_mid) == signum_bit(f_lo)) {
            lo = mid;
            f_lo = f_mid;
        } else {
            hi = mid;
        }
    }
    return 0.5 * (lo + hi);
}
";

/// A correlation group as the shader applies it.
struct CopulaGroup {
    dims: Vec<usize>,
    /// Row-major lower-triangular factor.
    l: Vec<f64>,
    passthrough: Vec<bool>,
}

struct CopulaDimensions {
    groups: Vec<CopulaGroup>,
    members: Vec<usize>,
}

/// The model's copula groups, computed exactly as the CPU computes them.
fn copula_dimensions(model: &ValidModel) -> CopulaDimensions {
    let matrices = ultra_engine::simulate::correlation_matrices(&model.inputs, &model.correlations);
    // Errors were reported by the CPU-side validation that runs before generation.
    let groups: Vec<CopulaGroup> =
        ultra_engine::correlation::Copula::new(model.inputs.len(), &matrices)
            .map(|(copula, _)| {
                copula
                    .groups()
                    .map(|(dims, l, passthrough)| CopulaGroup {
                        dims: dims.to_vec(),
                        l: l.to_vec(),
                        passthrough: passthrough.to_vec(),
                    })
                    .collect()
            })
            .unwrap_or_default();
    let members = groups.iter().flat_map(|g| g.dims.iter().copied()).collect();
    CopulaDimensions { groups, members }
}

/// `z = Φ⁻¹(u)`, `z' = L z`, `u' = Φ(z')` per group, bottom row first as on the CPU.
fn emit_copula(body: &mut String, group: &CopulaGroup) {
    let k = group.dims.len();
    for &d in &group.dims {
        let _ = writeln!(body, "    let z{d} = normal_quantile(uv{d}.x, uv{d}.y);");
    }
    for j in (0..k).rev() {
        if group.passthrough[j] {
            continue;
        }
        let d = group.dims[j];
        let terms: Vec<String> = (0..=j)
            .filter(|&c| group.l[j * k + c] != 0.0)
            .map(|c| format!("{} * z{}", literal(group.l[j * k + c]), group.dims[c]))
            .collect();
        let sum = if terms.is_empty() {
            "0.0".to_owned()
        } else {
            terms.join(" + ")
        };
        let _ = writeln!(body, "    uv{d} = pnorm_pair({sum});");
    }
}

const MULHILO_INT64: &str = "fn mulhilo(a: u32, b: u32) -> vec2<u32> {
    let p = u64(a) * u64(b);
    return vec2<u32>(u32(p >> 32u), u32(p & 0xfffffffflu));
}";

const MULHILO_EMULATED: &str = "fn mulhilo(a: u32, b: u32) -> vec2<u32> {
    let a_lo = a & 0xffffu;
    let a_hi = a >> 16u;
    let b_lo = b & 0xffffu;
    let b_hi = b >> 16u;
    let ll = a_lo * b_lo;
    let lh = a_lo * b_hi;
    let hl = a_hi * b_lo;
    let hh = a_hi * b_hi;
    let mid = (ll >> 16u) + (lh & 0xffffu) + (hl & 0xffffu);
    return vec2<u32>(hh + (lh >> 16u) + (hl >> 16u) + (mid >> 16u), a * b);
}";

/// The uniform pair of a dimension for one iteration, by sampling method.
fn draw_function(sampling: SamplingMethod) -> &'static str {
    match sampling {
        SamplingMethod::MonteCarlo => {
            "fn draw(idx: u32, i_lo: u32, i_hi: u32, key: vec2<u32>, d: u32) -> vec2<f32> {
    let w = philox(vec4<u32>(i_lo, i_hi, d, 0u), key);
    return open_unit_pair(w.x, w.y);
}"
        }
        SamplingMethod::LatinHypercube => {
            "fn draw(idx: u32, i_lo: u32, i_hi: u32, key: vec2<u32>, d: u32) -> vec2<f32> {
    let w = philox(vec4<u32>(i_lo, i_hi, d, 0u), key);
    let jitter = open_unit_pair(w.x, w.y);
    let base = d * DIM_WORDS;
    let n = dims[base + 6u];
    let stratum = lhs_stratum(base, i_lo);
    let nf = f32(n);
    let u = (f32(stratum) + jitter.x) / nf;
    let v = (f32(n - 1u - stratum) + jitter.y) / nf;
    return vec2<f32>(u, v);
}"
        }
        SamplingMethod::Sobol => {
            "fn draw(idx: u32, i_lo: u32, i_hi: u32, key: vec2<u32>, d: u32) -> vec2<f32> {
    let w = philox(vec4<u32>(i_lo, i_hi, d, 0u), key);
    let jitter = open_unit_pair(w.x, w.y);
    let base = d * DIM_WORDS;
    let y = owen_scramble(sobol_coordinate(base, i_lo), dims[base + 7u]);
    let u = (f32(y) + jitter.x) * 2.3283064365386963e-10;
    let v = (f32(~y) + jitter.y) * 2.3283064365386963e-10;
    return vec2<f32>(u, v);
}"
        }
    }
}

fn assemble(body: &str, columns: &[String], outputs: usize, options: ShaderOptions) -> String {
    let mut s = String::with_capacity(PRELUDE.len() + body.len() + 4096);
    s.push_str(&PRELUDE.replace(
        "//MULHILO",
        if options.int64 {
            MULHILO_INT64
        } else {
            MULHILO_EMULATED
        },
    ));
    s.push('\n');
    s.push_str(DISTRIBUTIONS);
    s.push('\n');
    s.push_str(FUNCTIONS);
    s.push_str(
        "
struct Params {
    base_lo: u32,
    base_hi: u32,
    count: u32,
    seed_lo: u32,
    seed_hi: u32,
    stride_x: u32,
    // Unused: pads the struct to 32 bytes.
    reserved0: u32,
    reserved1: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> dims: array<u32>;
@group(0) @binding(2) var<storage, read> tables: array<f32>;
@group(0) @binding(3) var<storage, read_write> samples: array<f32>;
@group(0) @binding(4) var<storage, read_write> partials: array<f32>;
@group(0) @binding(5) var<storage, read_write> status: array<atomic<u32>>;
// Per output: the centre of the moment sums, and the range of the histogram bins.
@group(0) @binding(6) var<storage, read> ranges: array<f32>;
@group(0) @binding(7) var<storage, read_write> histogram: array<atomic<u32>>;

fn flag_parameters() {
    atomicStore(&status[0], 1u);
}

",
    );
    s.push_str(draw_function(options.sampling));
    s.push_str("\n\n");

    // The model: one iteration's values from its index.
    let _ = writeln!(
        s,
        "struct Values {{\n    v: array<f32, {}>,\n}}\n",
        columns.len().max(1)
    );
    s.push_str("fn model(idx: u32, i_lo: u32, i_hi: u32, key: vec2<u32>) -> Values {\n");
    s.push_str(body);
    s.push_str("    var out: Values;\n");
    for (c, value) in columns.iter().enumerate() {
        let _ = writeln!(s, "    out.v[{c}] = {value};");
    }
    s.push_str("    return out;\n}\n\n");

    match options.mode {
        Mode::KeepAll => {
            let _ = writeln!(
                s,
                "@compute @workgroup_size({WORKGROUP_SIZE})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {{
    let idx = gid.x + gid.y * params.stride_x;
    if (idx >= params.count) {{
        return;
    }}
    let i_lo = params.base_lo + idx;
    let i_hi = params.base_hi + select(0u, 1u, i_lo < idx);
    let values = model(idx, i_lo, i_hi, vec2<u32>(params.seed_lo, params.seed_hi));"
            );
            for c in 0..columns.len() {
                let _ = writeln!(s, "    samples[{c}u * params.count + idx] = values.v[{c}];");
            }
            s.push_str("}\n");
        }
        Mode::Reduce => {
            emit_reduce(&mut s, outputs);
        }
    }
    s
}

/// The reducing entry point: each invocation runs `ITEMS_PER_THREAD` iterations (strided
/// by the workgroup size, so neighbours read neighbouring counters), accumulates per output
/// the finite count, a Kahan-compensated sum about the output's centre and the sums of
/// its 2nd to 4th powers, min and max; the workgroup then combines the invocations' figures
/// by a fixed tree in shared memory and writes one partial per output, which the host adds
/// up in f64.
fn emit_reduce(s: &mut String, outputs: usize) {
    let words = PARTIAL_WORDS;
    let _ = writeln!(
        s,
        "var<workgroup> scratch_a: array<vec4<f32>, {WORKGROUP_SIZE}>;
var<workgroup> scratch_b: array<vec4<f32>, {WORKGROUP_SIZE}>;
// Workgroup histogram counters (zero-initialised by wgpu), flushed once per workgroup.
var<workgroup> bins: array<atomic<u32>, {bin_words}>;

// Combines the invocations' accumulators by a fixed tree: (count, sum, compensation,
// sum of squares) add up, as do the sums of cubes and fourth powers; min and max fold.
fn tree_combine(local: u32, a: vec4<f32>, b: vec4<f32>) {{
    workgroupBarrier();
    scratch_a[local] = a;
    scratch_b[local] = b;
    workgroupBarrier();
    for (var width = {half}u; width > 0u; width = width >> 1u) {{
        if (local < width) {{
            let other = scratch_b[local + width];
            let mine = scratch_b[local];
            scratch_a[local] = scratch_a[local] + scratch_a[local + width];
            scratch_b[local] = vec4<f32>(mine.xy + other.xy, min(mine.z, other.z), max(mine.w, other.w));
        }}
        workgroupBarrier();
    }}
}}

",
        half = WORKGROUP_SIZE / 2,
        bin_words = if outputs <= HISTOGRAM_MAX_OUTPUTS {
            outputs.max(1) * (HISTOGRAM_BINS + 2)
        } else {
            1
        },
    );
    let _ = writeln!(
        s,
        "@compute @workgroup_size({WORKGROUP_SIZE})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) local: u32,
        @builtin(num_workgroups) groups: vec3<u32>) {{
    let group = wid.x + wid.y * groups.x;
    let key = vec2<u32>(params.seed_lo, params.seed_hi);
    var count: array<f32, {outputs}>;
    var sum: array<f32, {outputs}>;
    var comp: array<f32, {outputs}>;
    var sum2: array<f32, {outputs}>;
    var sum3: array<f32, {outputs}>;
    var sum4: array<f32, {outputs}>;
    var lo: array<f32, {outputs}>;
    var hi: array<f32, {outputs}>;
    for (var o = 0u; o < {outputs}u; o++) {{
        lo[o] = bitcast<f32>(0x7f800000u);
        hi[o] = bitcast<f32>(0xff800000u);
    }}
    for (var item = 0u; item < {items}u; item++) {{
        let idx = (group * {items}u + item) * {wg}u + local;
        if (idx < params.count) {{
            let i_lo = params.base_lo + idx;
            let i_hi = params.base_hi + select(0u, 1u, i_lo < idx);
            let values = model(idx, i_lo, i_hi, key);
            for (var o = 0u; o < {outputs}u; o++) {{
                let x = values.v[o];
                if (is_finite(x)) {{
                    let d = x - ranges[3u * o];
                    count[o] = count[o] + 1.0;
                    let y = d - comp[o];
                    let t = sum[o] + y;
                    comp[o] = (t - sum[o]) - y;
                    sum[o] = t;
                    let d2 = d * d;
                    sum2[o] = sum2[o] + d2;
                    sum3[o] = sum3[o] + d2 * d;
                    sum4[o] = sum4[o] + d2 * d2;
                    lo[o] = min(lo[o], x);
                    hi[o] = max(hi[o], x);
                    if ({histogram}) {{
                        let low = ranges[3u * o + 1u];
                        let high = ranges[3u * o + 2u];
                        var bin = {bins}u;
                        if (x > high) {{
                            bin = {bins}u + 1u;
                        }} else if (x >= low) {{
                            bin = min(u32((x - low) * ({bins}.0 / (high - low))), {bins}u - 1u);
                        }}
                        atomicAdd(&bins[o * {bins2}u + bin], 1u);
                    }}
                }}
            }}
        }}
    }}
    if ({histogram}) {{
        workgroupBarrier();
        for (var k = local; k < {outputs}u * {bins2}u; k += {wg}u) {{
            let c = atomicLoad(&bins[k]);
            if (c != 0u) {{
                atomicAdd(&histogram[k], c);
            }}
        }}
    }}
    for (var o = 0u; o < {outputs}u; o++) {{
        tree_combine(local, vec4<f32>(count[o], sum[o], comp[o], sum2[o]),
                     vec4<f32>(sum3[o], sum4[o], lo[o], hi[o]));
        if (local == 0u) {{
            let base = (group * {outputs}u + o) * {words}u;
            let a = scratch_a[0];
            let b = scratch_b[0];
            partials[base] = a.x;
            partials[base + 1u] = a.y;
            partials[base + 2u] = a.z;
            partials[base + 3u] = a.w;
            partials[base + 4u] = b.x;
            partials[base + 5u] = b.y;
            partials[base + 6u] = b.z;
            partials[base + 7u] = b.w;
        }}
    }}
}}",
        items = ITEMS_PER_THREAD,
        wg = WORKGROUP_SIZE,
        outputs = outputs.max(1),
        bins = HISTOGRAM_BINS,
        bins2 = HISTOGRAM_BINS + 2,
        histogram = outputs <= HISTOGRAM_MAX_OUTPUTS,
    );
}

/// Validates `wgsl` with naga before any driver sees it: a generator bug becomes a clear
/// error instead of a device error or a crash in a driver.
pub(crate) fn validate(wgsl: &str, int64: bool) -> Result<(), GpuError> {
    let module = naga::front::wgsl::parse_str(wgsl)
        .map_err(|error| GpuError::InvalidShader(error.emit_to_string(wgsl)))?;
    let capabilities = if int64 {
        naga::valid::Capabilities::SHADER_INT64
    } else {
        naga::valid::Capabilities::empty()
    };
    naga::valid::Validator::new(naga::valid::ValidationFlags::all(), capabilities)
        .validate(&module)
        .map_err(|error| GpuError::InvalidShader(error.emit_to_string(wgsl)))?;
    Ok(())
}

/// Whether `spec` is an input whose parameters all are constants.
pub(crate) fn is_static(spec: &InputSpec, constants: &HashMap<NodeId, f64>) -> bool {
    spec.params
        .iter()
        .chain(spec.lower.iter())
        .chain(spec.upper.iter())
        .chain(spec.shift.iter())
        .all(|id| constants.contains_key(id))
}
