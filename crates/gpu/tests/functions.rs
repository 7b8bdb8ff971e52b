//! Parity of every IR function (`Func`) between the GPU engine (f32) and the CPU engine (f64)
//! on the same seed.
//!
//! One model holds every case: inputs of the families the GPU lowers, formulas that make
//! exact zeros, integers, halves, signed zeros and errors (NaN) out of them, and one output
//! per (function, arguments) case. Each argument node is an output too, so that for every
//! iteration the test knows the arguments each engine saw. They differ by the inputs' own
//! f32 sampling error (printed first; `inputs.rs` owns it), so the function itself is judged
//! against the CPU's kernel (`evaluate_scalar`) applied to the GPU's arguments.
//!
//! Per case and iteration, the GPU's value must be
//! * NaN exactly where the CPU's function at the GPU's arguments is NaN, the same infinity
//!   where it is infinite, and elsewhere within rtol * max(|cpu|, scale) of it (or of the
//!   CPU run's own value: a shader compiler may fold constants exactly, which brings its
//!   arguments nearer the CPU's). `scale` is where the case's error stops being relative
//!   (the arguments' magnitude, for results that cancel); `rtol` is 1e-5 unless the case
//!   says why not. The root finders get in addition what f32 rounding of their NPV allows at
//!   the root (`root_allowance`). The worst error is printed per case ("worst");
//! * or else a *flip*: the CPU's function gives the GPU's value once one argument moves by
//!   an f32 ulp (FLOOR at an integer, ROUND at a half, x 10^d rounded onto a half). Counted
//!   and bounded per case;
//! * or else an *f32 range* exception: the CPU's finite value is past the f32 range and the
//!   GPU has the infinity of the same sign (EXP past 88.7). Counted and bounded per case.
//!
//! End to end (the GPU run against the CPU run, inputs sampled by each): errors (NaN) must
//! fall in the same iterations, up to the case's flips; the worst relative error is printed
//! ("e2e"), and at most 1% of the iterations may differ by more than
//! max(rtol, 1e-5) max(|cpu|, scale, 1) (the inputs' sampling error is absolute near 0).

use std::sync::atomic::AtomicBool;

use ultra_engine::dist::Family;
use ultra_engine::ir::{Func, InputSpec, Model, Node, NodeId, Op};
use ultra_engine::{SamplingMethod, SimulationOptions};
use ultra_gpu::{GpuDevice, GpuError, Statistics};

const ITERATIONS: u64 = 10_000;
const SEED: u64 = 20_250_607;
/// The default relative tolerance: f32 carries about 6e-8 relative precision; this leaves
/// room for argument rounding amplified by a condition number up to about 100.
const RTOL: f64 = 1e-5;
/// Relative error of one f32 rounding, for the functions that return one of their arguments
/// (or an exact integer): their results are the f32 roundings of the CPU's.
const EXACT: f64 = 1.2e-7;
/// A scale below every value of interest: the tolerance is relative throughout.
const TINY: f64 = 1e-30;

struct Case {
    label: String,
    func: Func,
    args: Vec<NodeId>,
    output: NodeId,
    /// Where the error stops being relative.
    scale: f64,
    rtol: f64,
    /// Iterations allowed to differ because the f32 arguments sit on the other side of a
    /// discontinuity (or nearer another root).
    max_flips: usize,
    /// Iterations allowed to overflow f32 where f64 does not.
    max_range: usize,
}

#[derive(Default)]
struct Builder {
    nodes: Vec<Node>,
    cases: Vec<Case>,
    arg_nodes: Vec<NodeId>,
}

impl Builder {
    fn push(&mut self, label: Option<&str>, op: Op) -> NodeId {
        let id = self.nodes.len() as NodeId;
        self.nodes.push(Node {
            id,
            label: label.map(str::to_owned),
            op,
        });
        id
    }

    fn constant(&mut self, value: f64) -> NodeId {
        self.push(None, Op::Const { value })
    }

    fn input(&mut self, distribution: Family, params: &[f64]) -> NodeId {
        let params = params.iter().map(|&p| self.constant(p)).collect();
        self.push(
            None,
            Op::Input(InputSpec {
                distribution,
                params,
                lower: None,
                upper: None,
                shift: None,
                name: None,
            }),
        )
    }

    fn call(&mut self, func: Func, args: &[NodeId]) -> NodeId {
        self.push(
            None,
            Op::Call {
                func,
                args: args.to_vec(),
            },
        )
    }

    /// `func(args)` as a case, with the default tolerance and no flips allowed.
    fn case(&mut self, func: Func, args: &[NodeId], what: &str) -> &mut Case {
        let output = self.call(func, args);
        for &a in args {
            if !self.arg_nodes.contains(&a) {
                self.arg_nodes.push(a);
            }
        }
        self.cases.push(Case {
            label: format!("{func:?}({what})"),
            func,
            args: args.to_vec(),
            output,
            scale: 1.0,
            rtol: RTOL,
            max_flips: 0,
            max_range: 0,
        });
        self.cases.last_mut().unwrap()
    }

    /// The model: every argument node as an output, then every case.
    fn model(&self) -> Model {
        let mut nodes = self.nodes.clone();
        let mut next = nodes.len() as NodeId;
        for &a in &self.arg_nodes {
            nodes.push(Node {
                id: next,
                label: None,
                op: Op::Output {
                    name: format!("arg {a}"),
                    arg: a,
                },
            });
            next += 1;
        }
        for (i, case) in self.cases.iter().enumerate() {
            nodes.push(Node {
                id: next,
                label: None,
                op: Op::Output {
                    name: format!("{i} {}", case.label),
                    arg: case.output,
                },
            });
            next += 1;
        }
        Model {
            name: "functions".to_owned(),
            nodes,
            correlations: Vec::new(),
        }
    }
}

impl Case {
    fn scale(&mut self, scale: f64) -> &mut Self {
        self.scale = scale;
        self
    }
    fn rtol(&mut self, rtol: f64) -> &mut Self {
        self.rtol = rtol;
        self
    }
    fn flips(&mut self, n: usize) -> &mut Self {
        self.max_flips = n;
        self
    }
    fn range(&mut self, n: usize) -> &mut Self {
        self.max_range = n;
        self
    }
}

fn options(iterations: u64) -> SimulationOptions {
    SimulationOptions {
        iterations,
        seed: SEED,
        sampling: SamplingMethod::MonteCarlo,
        sensitivity: false,
        threads: Some(1),
        ..Default::default()
    }
}

/// The CPU's value of `func` on the given arguments (the CPU engine's own kernel).
fn cpu_at(func: Func, args: &[f64]) -> f64 {
    ultra_engine::executor::evaluate_scalar(func, args)
}

/// `v` (an f32 widened to f64) moved by one f32 ulp up or down.
fn nudge(v: f64, up: bool) -> f64 {
    let f = v as f32;
    if !f.is_finite() {
        return v;
    }
    let next = if f == 0.0 {
        f32::from_bits(1) * if up { 1.0 } else { -1.0 }
    } else if (f > 0.0) == up {
        f32::from_bits(f.to_bits() + 1)
    } else {
        f32::from_bits(f.to_bits() - 1)
    };
    f64::from(next)
}

/// Whether the CPU's function gives `gpu` once one argument moves by an f32 ulp: the GPU's
/// f32 arithmetic rounds an intermediate (x 10^d, x / y) onto the other side of a step.
fn flips_within_an_ulp(func: Func, args: &[f64], gpu: f64, rtol: f64, scale: f64) -> bool {
    let mut moved = args.to_vec();
    for j in 0..args.len() {
        for up in [false, true] {
            moved[j] = nudge(args[j], up);
            if matches(gpu, cpu_at(func, &moved), rtol, scale) {
                return true;
            }
        }
        moved[j] = args[j];
    }
    false
}

fn matches(gpu: f64, cpu: f64, rtol: f64, scale: f64) -> bool {
    matches_within(gpu, cpu, rtol * cpu.abs().max(scale))
}

fn matches_within(gpu: f64, cpu: f64, tolerance: f64) -> bool {
    if cpu.is_nan() || gpu.is_nan() {
        return cpu.is_nan() && gpu.is_nan();
    }
    if cpu.is_infinite() || gpu.is_infinite() {
        return cpu == gpu;
    }
    (gpu - cpu).abs() <= tolerance
}

/// f32's unit roundoff, 2^-24.
const U32: f64 = 5.960_464_477_539_063e-8;

/// What f32 arithmetic alone allows a root finder at the root `r` of `func(args)`: its NPV
/// (or RATE's balance) in f32 carries a rounding error up to about `noise` (a bound from
/// the magnitudes of the terms, their count and the error of the f32 powers), which moves
/// the root by noise / |slope|; four times that, capped at 1e-3 max(|r|, 1) (past it the
/// root means little in f32). With `rounded_dates`, also XIRR's dates rounded to f32 (when
/// `args` are the CPU's, not the GPU's). 0 for the other functions.
fn root_allowance(func: Func, args: &[f64], r: f64, rounded_dates: bool) -> f64 {
    if !r.is_finite() || r <= -1.0 {
        return 0.0;
    }
    let (noise, slope) = match func {
        Func::Irr => {
            let n = args.len() as f64;
            let y = 1.0 + r;
            let (mut noise, mut slope) = (0.0, 0.0);
            for (t, v) in args.iter().enumerate() {
                let term = v * y.powi(-(t as i32));
                noise += term.abs();
                slope -= t as f64 * term / y;
            }
            ((2.0 * n + 8.0) * U32 * noise, slope)
        }
        Func::Xirr => {
            let h = args.len() / 2;
            let (values, dates) = args.split_at(h);
            let l = r.ln_1p();
            let (mut noise, mut slope) = (0.0, 0.0);
            for (v, d) in values.iter().zip(dates) {
                let t = (d - dates[0]) / 365.0;
                let term = v * (-t * l).exp();
                noise += term.abs() * (h as f64 + 8.0 + 4.0 * (t * l).abs());
                if rounded_dates {
                    // f32 places a date of about 40000 only to 0.004 days: the CPU's dates
                    // and the GPU's differ by that much, which the root feels at high rates.
                    noise += term.abs() * l.abs() * (d.abs() + dates[0].abs()) / 365.0;
                }
                slope -= t * term / (1.0 + r);
            }
            (U32 * noise, slope)
        }
        Func::Rate => {
            let (nper, pmt, pv) = (args[0], args[1], args[2]);
            let fv = args.get(3).copied().unwrap_or(0.0);
            let due = if args.get(4).copied().unwrap_or(0.0) != 0.0 {
                1.0
            } else {
                0.0
            };
            let l = nper * r.ln_1p();
            let g = l.exp();
            let annuity = if r.abs() < 1e-12 {
                nper
            } else {
                l.exp_m1() / r
            };
            let noise = U32
                * ((8.0 + 4.0 * l.abs())
                    * ((pv * g).abs() + (pmt * (1.0 + r * due) * annuity).abs())
                    + 4.0 * fv.abs());
            let h = 1e-6 * (1.0 + r.abs());
            let balance = |rate: f64| {
                let g = (nper * rate.ln_1p()).exp();
                pv * g + pmt * (1.0 + rate * due) * (g - 1.0) / rate + fv
            };
            (noise, (balance(r + h) - balance(r - h)) / (2.0 * h))
        }
        _ => return 0.0,
    };
    let allowance = 4.0 * noise / slope.abs();
    if allowance.is_finite() {
        allowance.min(1e-3 * r.abs().max(1.0))
    } else {
        1e-3 * r.abs().max(1.0)
    }
}

fn beyond_f32(gpu: f64, cpu: f64) -> bool {
    gpu.is_infinite() && cpu.is_finite() && cpu.abs() > f64::from(f32::MAX) && gpu * cpu > 0.0
}

/// Builds every case.
fn cases() -> Builder {
    use Func::*;
    let mut b = Builder::default();

    // Inputs of lowered families.
    let x = b.input(Family::Normal, &[0.0, 3.0]);
    let y = b.input(Family::Uniform, &[-2.0, 2.0]);
    let p = b.input(Family::Lognormal, &[1.0, 0.8]);
    let t = b.input(Family::Triang, &[-1.0, 0.5, 4.0]);
    let e = b.input(Family::Expon, &[2.0]);
    let u = b.input(Family::Uniform, &[0.0, 1.0]);
    let w = b.input(Family::Uniform, &[-4.5, 4.5]);
    let big = b.input(Family::Normal, &[0.0, 30.0]);
    let kk = b.input(Family::Uniform, &[-0.5, 5.5]);

    let c0 = b.constant(0.0);
    let c1 = b.constant(1.0);
    let c2 = b.constant(2.0);
    let c3 = b.constant(3.0);
    let c_half = b.constant(0.5);
    let c_nan = b.call(Div, &[c0, c0]);

    // Integers -5..=4, with zeros.
    let k = b.call(Floor, &[w]);
    // Integers -2..=2 with both signed zeros (ROUND(-0.3, 0) = -0).
    let ki = b.call(Round, &[y, c0]);
    // x with exact zeros in 15% of the iterations.
    let c015 = b.constant(0.15);
    let is_zero = b.call(Lt, &[u, c015]);
    let zx = b.call(Select, &[is_zero, c0, x]);
    // x with errors (NaN) in 10% of the iterations.
    let c09 = b.constant(0.9);
    let is_error = b.call(Gt, &[u, c09]);
    let xn = b.call(Select, &[is_error, c_nan, x]);
    // Multiples of 0.5: exact halves.
    let x2 = b.call(Mul, &[x, c2]);
    let fx2 = b.call(Floor, &[x2]);
    let hv = b.call(Mul, &[fx2, c_half]);
    // Multiples of 50: exact halves at -2 digits.
    let c20 = b.constant(20.0);
    let c50 = b.constant(50.0);
    let x20 = b.call(Mul, &[x, c20]);
    let fx20 = b.call(Floor, &[x20]);
    let m50 = b.call(Mul, &[fx20, c50]);
    // Negated zeros and values.
    let nzx = b.call(Neg, &[zx]);
    let nx = b.call(Neg, &[x]);
    // Near 1, for the logarithms.
    let c_milli = b.constant(1e-3);
    let ym = b.call(Mul, &[y, c_milli]);
    let near1 = b.call(Add, &[c1, ym]);
    // Larger exponents.
    let x3 = b.call(Mul, &[x, c3]);

    // Unary functions.
    for (arg, what) in [(x, "normal"), (xn, "with errors")] {
        b.case(Neg, &[arg], what).scale(TINY).rtol(EXACT);
        b.case(Abs, &[arg], what).scale(TINY).rtol(EXACT);
    }
    for (arg, what) in [
        (k, "integers"),
        (zx, "zeros"),
        (xn, "with errors"),
        (x, "normal"),
    ] {
        b.case(Not, &[arg], what);
    }
    // EXP: relative error |x| * 6e-8 from rounding x to f32 (5e-6 at 88).
    b.case(Exp, &[x], "normal").scale(TINY);
    b.case(Exp, &[xn], "with errors").scale(TINY);
    // Vulkan allows exp (3 + 2|x|) ulp: 1.1e-5 at |x| = 88; end to end the input's own
    // error of a few ulp is multiplied by |x| too.
    b.case(Exp, &[big], "N(0, 30): f32 overflow past 88.7")
        .scale(TINY)
        .rtol(4e-5)
        .range(60);
    // LN and LOG10: Vulkan bounds the hardware log absolutely (2^-21) on [0.5, 2], so the
    // error is absolute near 1 (scale 1).
    for (arg, what) in [
        (x, "negatives are errors"),
        (zx, "ln 0 = -inf"),
        (p, "positive"),
        (near1, "near 1"),
        (xn, "with errors"),
    ] {
        b.case(Ln, &[arg], what);
        b.case(Log10, &[arg], what);
    }
    for (arg, what) in [
        (x, "negatives are errors"),
        (zx, "zeros"),
        (p, "positive"),
        (xn, "with errors"),
    ] {
        b.case(Sqrt, &[arg], what).scale(TINY);
    }
    for (arg, what) in [
        (x, "normal"),
        (zx, "zeros"),
        (ki, "signed zeros"),
        (xn, "with errors"),
    ] {
        b.case(Sign, &[arg], what).rtol(0.0);
    }
    for (arg, what) in [(x, "normal"), (hv, "halves"), (xn, "with errors")] {
        for f in [Floor, Ceiling, Trunc] {
            b.case(f, &[arg], what).scale(TINY).rtol(EXACT).flips(3);
        }
    }
    // NORMSDIST: the prelude's erfc (relative error 1.2e-7) of an f32 argument: at z = -9
    // (3x) the argument's rounding alone moves Phi by |z|^2 * 6e-8 = 5e-6 relative.
    b.case(NormSDist, &[x], "normal").scale(1e-12);
    b.case(NormSDist, &[x3], "tails to 1e-100").scale(1e-12);
    b.case(NormSDist, &[xn], "with errors").scale(1e-12);
    // NORM.S.INV: AS 241 in f32 of an f32 probability (its tails included), and the
    // errors outside (0, 1).
    // (Probabilities drawn directly: composed with NORMSDIST, f32 rounds Phi(x) to 1 for
    // x > 5.3, where the CPU still has p < 1.)
    let pu = b.input(Family::Uniform, &[0.0005, 0.9995]);
    let pt = b.input(Family::Uniform, &[1e-12, 1e-6]);
    b.case(NormSInv, &[pu], "probabilities");
    b.case(NormSInv, &[pt], "lower tail to 1e-12");
    b.case(NormSInv, &[x], "outside (0, 1) is an error");
    b.case(NormSInv, &[xn], "with errors");

    // Binary arithmetic: f32 rounding of the arguments and of the result; sums and
    // differences cancel, so their error is relative to the arguments' magnitude (scale 3,
    // x's standard deviation).
    for (a1, a2, what) in [
        (x, y, "normal, uniform"),
        (xn, y, "with errors"),
        (zx, nzx, "signed zeros"),
        (k, ki, "integers"),
    ] {
        b.case(Add, &[a1, a2], what).scale(3.0);
        b.case(Sub, &[a1, a2], what).scale(3.0);
        b.case(Mul, &[a1, a2], what).scale(TINY);
    }
    b.case(Mul, &[xn, c0], "error times the constant 0")
        .scale(TINY);
    b.case(Div, &[x, y], "normal, uniform").scale(TINY);
    b.case(Div, &[x, k], "by integers, zeros are errors")
        .scale(TINY);
    b.case(Div, &[xn, zx], "errors, zeros").scale(TINY);
    b.case(Div, &[k, ki], "integers: exact quotients")
        .scale(TINY);
    // POW: the result's relative error is |y ln x| times the arguments' (up to ~30 * 6e-8
    // here), plus the hardware pow's (exp2 of y log2 x).
    b.case(Pow, &[p, y], "positive base").scale(TINY);
    b.case(Pow, &[p, x3], "positive base, exponents to 30")
        .scale(TINY);
    b.case(Pow, &[x, k], "negative bases, integer exponents")
        .scale(TINY);
    b.case(Pow, &[x, y], "negative bases, fractions are errors")
        .scale(TINY);
    b.case(Pow, &[zx, k], "zero bases").scale(TINY);
    b.case(Pow, &[zx, y], "zero bases, fractional exponents")
        .scale(TINY);
    b.case(Pow, &[ki, k], "signed zeros, integers").scale(TINY);
    b.case(Pow, &[xn, c0], "error ^ 0 = 1").scale(TINY);
    b.case(Pow, &[c1, xn], "1 ^ error = 1").scale(TINY);
    b.case(Pow, &[xn, y], "with errors").scale(TINY);

    // Comparisons: exact; a flip needs two values within an f32 rounding of each other.
    for f in [Eq, Ne, Lt, Le, Gt, Ge] {
        for (a1, a2, what) in [
            (x, y, "normal, uniform"),
            (k, ki, "integers: ties"),
            (xn, y, "error first"),
            (y, xn, "error second"),
            (zx, nzx, "0 and -0"),
        ] {
            b.case(f, &[a1, a2], what).rtol(0.0).flips(2);
        }
    }

    // ROUND, ROUNDUP, ROUNDDOWN: results within two roundings of the CPU's; flips where
    // x 10^d sits within an f32 rounding of a half (ROUND) or of an integer.
    for f in [Round, RoundUp, RoundDown] {
        b.case(f, &[x, k], "digits -5..4").scale(TINY).flips(10);
        b.case(f, &[hv, c0], "halves").scale(TINY).flips(2);
        b.case(f, &[hv, y], "fractional digits")
            .scale(TINY)
            .flips(2);
        b.case(f, &[m50, nx], "negative digits, halves at -2")
            .scale(TINY)
            .flips(10);
        b.case(f, &[xn, k], "with errors").scale(TINY).flips(10);
        b.case(f, &[x, xn], "error digits: 0 digits on the CPU")
            .scale(TINY)
            .flips(2);
    }
    let c40 = b.constant(40.0);
    let cm40 = b.constant(-40.0);
    b.case(Round, &[x, c40], "40 digits: x").scale(TINY);
    b.case(Round, &[x, cm40], "-40 digits: 0").scale(TINY);
    b.case(RoundDown, &[x, c40], "40 digits: x").scale(TINY);

    // MOD: x - y floor(x / y) cancels to the absolute precision of x (scale 3); flips at exact
    // multiples.
    b.case(Mod, &[x, y], "normal, uniform").scale(3.0).flips(3);
    b.case(Mod, &[k, ki], "integers: exact multiples, zero divisors")
        .scale(3.0)
        .flips(3);
    b.case(Mod, &[hv, c_half], "exact multiples")
        .scale(3.0)
        .flips(3);
    b.case(Mod, &[nx, c3], "negative dividends")
        .scale(3.0)
        .flips(3);
    b.case(Mod, &[x, c0], "by zero").scale(3.0);
    b.case(Mod, &[xn, y], "with errors").scale(3.0).flips(3);
    b.case(Mod, &[x, nx], "x mod -x").scale(3.0).flips(3);

    // SELECT.
    b.case(Select, &[k, x, y], "integer conditions")
        .scale(TINY)
        .rtol(EXACT);
    b.case(Select, &[xn, x, y], "error conditions")
        .scale(TINY)
        .rtol(EXACT);
    b.case(Select, &[zx, p, xn], "zero conditions, error branch")
        .scale(TINY)
        .rtol(EXACT);

    // Logical folds.
    for f in [And, Or, Xor] {
        b.case(f, &[k, ki], "integers").rtol(0.0);
        b.case(f, &[xn, k], "error first").rtol(0.0);
        b.case(f, &[k, xn], "error last").rtol(0.0);
        b.case(f, &[xn, c0], "error, false").rtol(0.0);
        b.case(f, &[x, zx, ki], "three").rtol(0.0);
        b.case(f, &[xn], "one").rtol(0.0);
    }

    // Folds: SUM cancels (scale: the arguments' magnitude), PRODUCT does not.
    b.case(Sum, &[x, y, p, t, e], "five").scale(3.0);
    b.case(Sum, &[x], "one").scale(TINY).rtol(EXACT);
    b.case(Sum, &[xn, x, y], "with errors").scale(3.0);
    b.case(Product, &[x, y, p, t, e], "five").scale(TINY);
    b.case(Product, &[zx, xn], "zero times error").scale(TINY);
    b.case(Product, &[x], "one").scale(TINY).rtol(EXACT);
    for f in [Min, Max] {
        b.case(f, &[x, y, p, t, e], "five").scale(TINY).rtol(EXACT);
        b.case(f, &[xn, x], "error first").scale(TINY).rtol(EXACT);
        b.case(f, &[x, xn], "error last").scale(TINY).rtol(EXACT);
        b.case(f, &[zx, nzx], "signed zeros")
            .scale(TINY)
            .rtol(EXACT);
        b.case(f, &[y], "one").scale(TINY).rtol(EXACT);
    }

    // Order statistics: one of the arguments (the mean of two for an even MEDIAN).
    b.case(Median, &[x, y, p, t, e], "five")
        .scale(TINY)
        .rtol(EXACT);
    b.case(Median, &[x, y, p, t], "four: a mean")
        .scale(1.0)
        .rtol(EXACT);
    b.case(Median, &[x], "one").scale(TINY).rtol(EXACT);
    b.case(Median, &[k, ki, c0, c1], "integers: ties")
        .scale(TINY)
        .rtol(EXACT);
    b.case(Median, &[x, xn, y], "with errors")
        .scale(TINY)
        .rtol(EXACT);
    // At the cap: 256 values.
    let many: Vec<NodeId> = (0..256)
        .map(|i| {
            let c = b.constant(f64::from(i) * 0.37 - 40.0);
            let a = [x, y, t, e][i as usize % 4];
            b.call(Add, &[a, c])
        })
        .collect();
    b.case(Median, &many, "256 values: the cap")
        .scale(10.0)
        .rtol(EXACT);
    for f in [Large, Small] {
        b.case(f, &[c2, x, y, p, t, e], "k = 2")
            .scale(TINY)
            .rtol(EXACT);
        b.case(
            f,
            &[kk, x, y, p, t],
            "k in [-0.5, 5.5): rounded up, errors outside 1..4",
        )
        .scale(TINY)
        .rtol(EXACT)
        .flips(2);
        b.case(f, &[c1, x, xn], "with errors")
            .scale(TINY)
            .rtol(EXACT);
        b.case(f, &[xn, x, y], "error k").scale(TINY).rtol(EXACT);
        b.case(f, &[ki, k, ki, c0], "integers")
            .scale(TINY)
            .rtol(EXACT)
            .flips(2);
    }

    // IRR. Flows about -100, 30, 40, 50, 20 (IRR near 14%).
    let cm100 = b.constant(-100.0);
    let f0 = b.call(Mul, &[cm100, p]);
    let f1 = {
        let c = b.constant(30.0);
        b.call(Add, &[c, x])
    };
    let f2 = {
        let c = b.constant(40.0);
        let c10 = b.constant(10.0);
        let m = b.call(Mul, &[y, c10]);
        b.call(Add, &[c, m])
    };
    let f3 = {
        let c = b.constant(50.0);
        let c5 = b.constant(5.0);
        let m = b.call(Mul, &[t, c5]);
        b.call(Add, &[c, m])
    };
    let f4 = {
        let c = b.constant(20.0);
        let c5 = b.constant(5.0);
        let m = b.call(Mul, &[e, c5]);
        b.call(Add, &[c, m])
    };
    // IRR's root moves by (rounding of the flows) / (slope of the NPV): about 1e-7 here, and
    // the f32 NPV is only known to about n ulp of its largest term.
    b.case(Irr, &[f0, f1, f2, f3, f4], "five flows").scale(1.0);
    let f_one = {
        let c = b.constant(110.0);
        let c5 = b.constant(5.0);
        let m = b.call(Mul, &[x, c5]);
        b.call(Add, &[c, m])
    };
    b.case(Irr, &[f0, f_one], "two flows").scale(1.0);
    b.case(Irr, &[p, e], "no sign change: error").scale(1.0);
    b.case(Irr, &[f0, f1, xn, f3], "with errors").scale(1.0);
    // Two sign changes: -100, 230 + 5y, -132 has roots near 10% and 20%.
    let g1 = {
        let c = b.constant(230.0);
        let c5 = b.constant(5.0);
        let m = b.call(Mul, &[y, c5]);
        b.call(Add, &[c, m])
    };
    let g2 = b.constant(-132.0);
    b.case(Irr, &[cm100, g1, g2], "two roots")
        .scale(1.0)
        .flips(20);
    // 60 flows: -1000, then 59 of about 20.
    let mut long = vec![b.call(Mul, &[cm100, c20])];
    for i in 0..59 {
        let a = [x, y, t, e][i % 4];
        let c = b.constant(20.0 + (i % 7) as f64);
        long.push(b.call(Add, &[c, a]));
    }
    b.case(Irr, &long, "60 flows").scale(1.0);
    // Rates down to -50%: -100, then 30 + 10y.
    let small_flow = {
        let c = b.constant(15.0);
        let c10 = b.constant(10.0);
        let m = b.call(Mul, &[y, c10]);
        b.call(Add, &[c, m])
    };
    b.case(
        Irr,
        &[cm100, small_flow, small_flow, small_flow, small_flow],
        "negative rates",
    )
    .scale(1.0);

    // RATE(nper, pmt, pv, ...): 48 payments of about -200 on about 8000 (0.77% a month).
    let nper = {
        let c = b.constant(48.0);
        let c4 = b.constant(4.0);
        let m = b.call(Mul, &[x, c4]);
        let s = b.call(Add, &[c, m]);
        b.call(Round, &[s, c0])
    };
    let pmt = {
        let c = b.constant(-200.0);
        let m = b.call(Mul, &[y, c20]);
        b.call(Add, &[c, m])
    };
    let pv = {
        let c = b.constant(8000.0);
        let c100 = b.constant(100.0);
        let m = b.call(Mul, &[x, c100]);
        b.call(Add, &[c, m])
    };
    let fv = {
        let c100 = b.constant(100.0);
        b.call(Mul, &[t, c100])
    };
    let guess = {
        let c = b.constant(0.2);
        b.call(Mul, &[u, c])
    };
    b.case(Rate, &[nper, pmt, pv], "three").scale(1.0);
    b.case(Rate, &[nper, pmt, pv, fv], "with fv").scale(1.0);
    b.case(Rate, &[nper, pmt, pv, fv, ki], "with type")
        .scale(1.0);
    b.case(Rate, &[nper, pmt, pv, fv, ki, guess], "with guess")
        .scale(1.0);
    b.case(Rate, &[k, pmt, pv], "nper <= 0: errors").scale(1.0);
    b.case(Rate, &[nper, p, pv], "no sign change: error")
        .scale(1.0);
    b.case(Rate, &[nper, pmt, xn], "with errors").scale(1.0);

    // XIRR(values..., dates...): Excel's example, perturbed.
    let v0 = {
        let c = b.constant(-10_000.0);
        b.call(Mul, &[c, p])
    };
    let v1 = {
        let c = b.constant(2750.0);
        let c100 = b.constant(100.0);
        let m = b.call(Mul, &[x, c100]);
        b.call(Add, &[c, m])
    };
    let v2 = {
        let c = b.constant(4250.0);
        let c500 = b.constant(500.0);
        let m = b.call(Mul, &[y, c500]);
        b.call(Add, &[c, m])
    };
    let v3 = {
        let c = b.constant(3250.0);
        let c100 = b.constant(100.0);
        let m = b.call(Mul, &[t, c100]);
        b.call(Add, &[c, m])
    };
    let v4 = {
        let c = b.constant(2750.0);
        let c100 = b.constant(100.0);
        let m = b.call(Mul, &[e, c100]);
        b.call(Add, &[c, m])
    };
    let d0 = b.constant(39448.0);
    let d1 = {
        let c = b.constant(39508.0);
        b.call(Add, &[c, w])
    };
    let d2 = {
        let c = b.constant(39751.0);
        b.call(Add, &[c, k])
    };
    let d3 = b.constant(39859.0);
    let d4 = b.constant(39904.0);
    b.case(
        Xirr,
        &[v0, v1, v2, v3, v4, d0, d1, d2, d3, d4],
        "five flows",
    )
    .scale(1.0);
    b.case(Xirr, &[v0, v4, d0, d4], "two flows").scale(1.0);
    b.case(Xirr, &[p, v4, d0, d4], "no sign change: error")
        .scale(1.0);
    b.case(Xirr, &[v0, xn, d0, d4], "with errors").scale(1.0);
    b
}

#[test]
fn every_function_matches_the_cpu() {
    let builder = cases();
    let model = builder.model();
    let device = GpuDevice::shared().unwrap();
    eprintln!("{:?}", device.description());
    let cancel = AtomicBool::new(false);
    let started = std::time::Instant::now();
    let gpu = ultra_gpu::simulate(
        &device,
        &model,
        &options(ITERATIONS),
        Statistics::Host,
        &|_| {},
        &cancel,
    )
    .unwrap();
    eprintln!(
        "GPU run (shader compilation included): {:?}",
        started.elapsed()
    );
    let cpu = ultra_engine::simulate(&model, &options(ITERATIONS), &|_| {}, &cancel).unwrap();
    let arg_column = |id: NodeId| builder.arg_nodes.iter().position(|&a| a == id).unwrap();
    let first_case = builder.arg_nodes.len();
    // The inputs themselves (sampled by inputs.rs, not by this file): what the end-to-end
    // figures below inherit.
    for (column, &id) in builder.arg_nodes.iter().enumerate() {
        if let Op::Input(spec) = &builder.nodes[id as usize].op {
            let (mut absolute, mut relative) = (0f64, 0f64);
            for (g, c) in gpu.samples.outputs[column]
                .iter()
                .zip(&cpu.samples.outputs[column])
            {
                absolute = absolute.max((g - c).abs());
                relative = relative.max((g - c).abs() / c.abs());
            }
            eprintln!(
                "input {:?}: worst |gpu - cpu| {absolute:.1e}, relative {relative:.1e}",
                spec.distribution
            );
        }
    }

    let mut failures = Vec::new();
    let mut covered = std::collections::HashSet::new();
    eprintln!(
        "{:<66} {:>8} {:>6} {:>8} {:>8} {:>5} {:>5} {:>5} {:>5} {:>5}",
        "case", "rtol", "scale", "worst", "e2e", "NaN", "flips", "range", "input", "cond"
    );
    for (c, case) in builder.cases.iter().enumerate() {
        covered.insert(format!("{:?}", case.func));
        let g = &gpu.samples.outputs[first_case + c];
        let h = &cpu.samples.outputs[first_case + c];
        let (mut worst, mut worst_e2e) = (0f64, 0f64);
        let (mut nans, mut flips, mut range, mut input, mut nan_pattern) = (0, 0, 0, 0, 0);
        // Iterations where the root finder's f32 allowance exceeds the plain tolerance.
        let mut conditioned = 0;
        let mut bad = Vec::new();
        for i in 0..ITERATIONS as usize {
            let (gv, cv) = (g[i], h[i]);
            let gpu_args: Vec<f64> = case
                .args
                .iter()
                .map(|&a| gpu.samples.outputs[arg_column(a)][i])
                .collect();
            let cpu_args: Vec<f64> = case
                .args
                .iter()
                .map(|&a| cpu.samples.outputs[arg_column(a)][i])
                .collect();
            let reference = cpu_at(case.func, &gpu_args);
            let allowance = root_allowance(case.func, &gpu_args, reference, false);
            let tolerance = case.rtol * reference.abs().max(case.scale);
            if allowance > tolerance {
                conditioned += 1;
            }
            let allowance_cpu = root_allowance(case.func, &cpu_args, cv, true);
            let tolerance_cpu = case.rtol * cv.abs().max(case.scale) + allowance_cpu;
            // End to end, the inputs' own f32 sampling error comes in: absolute near 0.
            let tolerance_e2e =
                case.rtol.max(RTOL) * cv.abs().max(case.scale.max(1.0)) + allowance_cpu;
            // The function: the GPU's value against the CPU's at the GPU's arguments, or at
            // its own (the shader compiler may fold constants in exact arithmetic, as in
            // (39508 + w) - 39448 = 60 + w, and so work with arguments nearer the CPU's).
            let near_reference = matches_within(gv, reference, tolerance + allowance);
            if near_reference || matches_within(gv, cv, tolerance_cpu) {
                if reference.is_nan() || cv.is_nan() {
                    nans += 1;
                } else if reference.is_finite() && cv.is_finite() {
                    let error = |r: f64| (gv - r).abs() / r.abs().max(case.scale);
                    worst = worst.max(error(reference).min(error(cv)));
                }
            } else if beyond_f32(gv, reference) {
                range += 1;
            } else if flips_within_an_ulp(case.func, &gpu_args, gv, case.rtol, case.scale) {
                flips += 1;
            } else if bad.len() < 4 {
                bad.push(format!(
                    "iteration {i}: gpu {gv:e}, cpu at the gpu's arguments {reference:e} \
                     (cpu {cv:e}); gpu arguments {:?}",
                    &gpu_args[..gpu_args.len().min(12)]
                ));
            } else {
                bad.push(String::new());
            }
            // End to end: the GPU against the CPU run, inputs sampled by each.
            if gv.is_nan() != cv.is_nan() {
                nan_pattern += 1;
            }
            if gv.is_finite() && cv.is_finite() {
                worst_e2e = worst_e2e.max((gv - cv).abs() / cv.abs().max(case.scale));
            }
            if !matches_within(gv, cv, tolerance_e2e) && !beyond_f32(gv, cv) {
                input += 1;
            }
        }
        eprintln!(
            "{:<66} {:>8.1e} {:>6.0e} {:>8.1e} {:>8.1e} {:>5} {:>5} {:>5} {:>5} {:>5}",
            case.label,
            case.rtol,
            case.scale,
            worst,
            worst_e2e,
            nans,
            flips,
            range,
            input,
            conditioned
        );
        if !bad.is_empty() {
            failures.push(format!(
                "{}: {} mismatches; {}",
                case.label,
                bad.len(),
                bad.iter()
                    .filter(|s| !s.is_empty())
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("; ")
            ));
        }
        if flips > case.max_flips {
            failures.push(format!(
                "{}: {flips} flips, at most {} allowed",
                case.label, case.max_flips
            ));
        }
        if range > case.max_range {
            failures.push(format!(
                "{}: {range} f32 overflows, at most {} allowed",
                case.label, case.max_range
            ));
        }
        if input > ITERATIONS as usize / 100 {
            failures.push(format!(
                "{}: {input} iterations differ from the CPU's beyond {:.0e} max(|cpu|, 1), \
                 at most 1% allowed",
                case.label,
                case.rtol.max(RTOL)
            ));
        }
        if nan_pattern > case.max_flips {
            failures.push(format!(
                "{}: errors (NaN) in {nan_pattern} other iterations than on the CPU, at most {} \
                 allowed",
                case.label, case.max_flips
            ));
        }
    }
    eprintln!("{} cases in {:?}", builder.cases.len(), started.elapsed());
    // Every function of the IR has a case.
    let all = [
        Func::Neg,
        Func::Add,
        Func::Sub,
        Func::Mul,
        Func::Div,
        Func::Pow,
        Func::Eq,
        Func::Ne,
        Func::Lt,
        Func::Le,
        Func::Gt,
        Func::Ge,
        Func::And,
        Func::Or,
        Func::Xor,
        Func::Not,
        Func::Select,
        Func::Exp,
        Func::Ln,
        Func::Log10,
        Func::Sqrt,
        Func::Abs,
        Func::Sign,
        Func::Min,
        Func::Max,
        Func::Sum,
        Func::Product,
        Func::Round,
        Func::RoundUp,
        Func::RoundDown,
        Func::Floor,
        Func::Ceiling,
        Func::Trunc,
        Func::Mod,
        Func::NormSDist,
        Func::NormSInv,
        Func::Median,
        Func::Large,
        Func::Small,
        Func::Irr,
        Func::Rate,
        Func::Xirr,
    ];
    for func in all {
        // A match on `func` that fails to compile when the IR grows a function: add it to
        // `all` and give it cases.
        match func {
            Func::Neg
            | Func::Add
            | Func::Sub
            | Func::Mul
            | Func::Div
            | Func::Pow
            | Func::Eq
            | Func::Ne
            | Func::Lt
            | Func::Le
            | Func::Gt
            | Func::Ge
            | Func::And
            | Func::Or
            | Func::Xor
            | Func::Not
            | Func::Select
            | Func::Exp
            | Func::Ln
            | Func::Log10
            | Func::Sqrt
            | Func::Abs
            | Func::Sign
            | Func::Min
            | Func::Max
            | Func::Sum
            | Func::Product
            | Func::Round
            | Func::RoundUp
            | Func::RoundDown
            | Func::Floor
            | Func::Ceiling
            | Func::Trunc
            | Func::Mod
            | Func::NormSDist
            | Func::NormSInv
            | Func::Median
            | Func::Large
            | Func::Small
            | Func::Irr
            | Func::Rate
            | Func::Xirr => {}
        }
        assert!(
            covered.contains(&format!("{func:?}")),
            "{func:?} has no case"
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Past `MAX_GATHERED_ARGS` (256) arguments a gathering function is refused, naming the
/// cell, so that `auto` runs the model on the CPU.
#[test]
fn too_many_gathered_arguments_are_refused() {
    let mut b = Builder::default();
    let x = b.input(Family::Normal, &[0.0, 1.0]);
    let args = vec![x; 257];
    let median = b.push(
        Some("Sheet1!C7"),
        Op::Call {
            func: Func::Median,
            args,
        },
    );
    b.push(
        None,
        Op::Output {
            name: "median".to_owned(),
            arg: median,
        },
    );
    let model = Model {
        name: String::new(),
        nodes: b.nodes,
        correlations: Vec::new(),
    };
    let device = GpuDevice::shared().unwrap();
    let cancel = AtomicBool::new(false);
    let error = ultra_gpu::simulate(
        &device,
        &model,
        &options(100),
        Statistics::Host,
        &|_| {},
        &cancel,
    )
    .unwrap_err();
    match error {
        GpuError::Unsupported(reasons) => {
            let text = reasons.join("; ");
            assert!(text.contains("Sheet1!C7") && text.contains("257"), "{text}");
        }
        other => panic!("expected Unsupported, got {other:?}"),
    }
}
