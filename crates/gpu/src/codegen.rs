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

    let wgsl = assemble(&body, &column_values, outputs, options);
    Ok(Shader {
        wgsl,
        columns,
        outputs,
        tables,
    })
}

/// Which functions the generator lowers, and with how many arguments.
fn check_call(func: Func, arity: usize) -> Result<(), String> {
    use Func::*;
    match func {
        Median | Large | Small | Irr | Rate | Xirr => {
            Err(format!("{func:?} is not lowered to the GPU yet"))
        }
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

/// The WGSL expression of one IR function.
fn call(func: Func, a: &[String]) -> String {
    use Func::*;
    match func {
        Neg => format!("(-{})", a[0]),
        Not => format!("truth({} == 0.0)", a[0]),
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
        Add => format!("({} + {})", a[0], a[1]),
        Sub => format!("({} - {})", a[0], a[1]),
        Mul => format!("({} * {})", a[0], a[1]),
        Div => format!("excel_div({}, {})", a[0], a[1]),
        Pow => format!("excel_pow({}, {})", a[0], a[1]),
        Eq => format!("truth({} == {})", a[0], a[1]),
        Ne => format!("truth({} != {})", a[0], a[1]),
        Lt => format!("truth({} < {})", a[0], a[1]),
        Le => format!("truth({} <= {})", a[0], a[1]),
        Gt => format!("truth({} > {})", a[0], a[1]),
        Ge => format!("truth({} >= {})", a[0], a[1]),
        Round => format!("excel_round({}, {})", a[0], a[1]),
        RoundUp => format!("excel_round_up({}, {})", a[0], a[1]),
        RoundDown => format!("excel_round_down({}, {})", a[0], a[1]),
        Mod => format!("excel_mod({}, {})", a[0], a[1]),
        Select => format!("excel_select({}, {}, {})", a[0], a[1], a[2]),
        Sum => fold(a, |x, y| format!("({x} + {y})")),
        Product => fold(a, |x, y| format!("({x} * {y})")),
        Min => fold(a, |x, y| format!("min_propagating({x}, {y})")),
        Max => fold(a, |x, y| format!("max_propagating({x}, {y})")),
        And => format!("logical({})", fold(a, |x, y| format!("and_step({x}, {y})"))),
        Or => format!("logical({})", fold(a, |x, y| format!("or_step({x}, {y})"))),
        Xor => format!("logical({})", fold(a, |x, y| format!("xor_step({x}, {y})"))),
        // Refused by `check_call`.
        Median | Large | Small | Irr | Rate | Xirr => "nan()".to_owned(),
    }
}

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
        let _ = writeln!(body, "    let z{d} = qnorm(uv{d}.x, uv{d}.y);");
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
    keep_stride: u32,
    kept: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> dims: array<u32>;
@group(0) @binding(2) var<storage, read> tables: array<f32>;
@group(0) @binding(3) var<storage, read_write> samples: array<f32>;
@group(0) @binding(4) var<storage, read_write> partials: array<f32>;
@group(0) @binding(5) var<storage, read_write> status: array<atomic<u32>>;
@group(0) @binding(6) var<storage, read> centers: array<f32>;

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
                    let d = x - centers[o];
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
                }}
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
