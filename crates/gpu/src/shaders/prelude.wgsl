// Ultra GPU prelude: the random streams, design points and special functions every
// generated model shader uses. The model-specific part (inputs, formulas, outputs) is
// appended by `codegen.rs`.
//
// Conventions: a uniform travels as a pair (u, v) with v = 1 - u, each computed from
// integers so that both keep full f32 relative precision; inverse CDFs read the tail they
// need from the side where it is accurate. Errors are NaN, as in the CPU engine.

const PHILOX_M0: u32 = 0xD2511F53u;
const PHILOX_M1: u32 = 0xCD9E8D57u;
const PHILOX_W0: u32 = 0x9E3779B9u;
const PHILOX_W1: u32 = 0xBB67AE85u;

fn nan() -> f32 {
    return bitcast<f32>(0x7fc00000u);
}

// NaN test on the bits: immune to a compiler that assumes floats are never NaN.
fn is_nan(x: f32) -> bool {
    return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u;
}

fn is_finite(x: f32) -> bool {
    return (bitcast<u32>(x) & 0x7f800000u) != 0x7f800000u;
}

fn truth(b: bool) -> f32 {
    return select(0.0, 1.0, b);
}

// 32 x 32 -> 64-bit product as (high word, low word).
//MULHILO

// Philox4x32-10, word for word the CPU's `philox4x32_10`.
fn philox(counter: vec4<u32>, key: vec2<u32>) -> vec4<u32> {
    var c = counter;
    var k = key;
    for (var round = 0u; round < 10u; round++) {
        if (round > 0u) {
            k = k + vec2<u32>(PHILOX_W0, PHILOX_W1);
        }
        let p0 = mulhilo(PHILOX_M0, c.x);
        let p1 = mulhilo(PHILOX_M1, c.z);
        c = vec4<u32>(p1.x ^ c.y ^ k.x, p1.y, p0.x ^ c.w ^ k.y, p0.y);
    }
    return c;
}

// m 2^e for an odd m = (hi, lo) < 2^53, rounded to the nearest f32 (ties to even): the
// exact f32 rounding of the CPU's f64 value.
fn odd_to_f32(hi: u32, lo: u32, e: i32) -> f32 {
    var top: u32;
    if (hi != 0u) {
        top = 63u - countLeadingZeros(hi);
    } else {
        top = 31u - countLeadingZeros(lo);
    }
    if (top <= 23u) {
        return ldexp(f32(lo), e);
    }
    let s = top - 23u;
    var mant = (lo >> s) | (hi << (32u - s));
    let rem = lo & ((1u << s) - 1u);
    let half = 1u << (s - 1u);
    if (rem > half || (rem == half && (mant & 1u) == 1u)) {
        mant = mant + 1u;
    }
    return ldexp(f32(mant), i32(s) + e);
}

// The CPU's `open_unit(x0, x1)` = (k + 0.5) 2^-52 with k = (x0 << 20) | (x1 >> 12), and
// its complement 1 - u, both correctly rounded to f32.
fn open_unit_pair(x0: u32, x1: u32) -> vec2<f32> {
    let u = odd_to_f32(x0 >> 11u, (x0 << 21u) | ((x1 >> 11u) & 0xfffffffeu) | 1u, -53);
    let nx0 = ~x0;
    let nx1 = ~x1;
    let v = odd_to_f32(nx0 >> 11u, (nx0 << 21u) | ((nx1 >> 11u) & 0xfffffffeu) | 1u, -53);
    return vec2<f32>(u, v);
}

// Wellons' lowbias32, as in the CPU's Latin Hypercube permutation.
fn lowbias32(x0: u32) -> u32 {
    var x = x0;
    x = x ^ (x >> 16u);
    x = x * 0x7feb352du;
    x = x ^ (x >> 15u);
    x = x * 0x846ca68bu;
    x = x ^ (x >> 16u);
    return x;
}

// Per-dimension constants in `dims` (DIM_WORDS words each): Latin Hypercube keys (4),
// high bits, low bits, n (iterations; below 2^32), Sobol' scramble seed, then the 32 Sobol'
// direction numbers.
const DIM_WORDS: u32 = 40u;

fn lhs_feistel(base: u32, x: u32) -> u32 {
    let high_bits = dims[base + 4u];
    let low_bits = dims[base + 5u];
    let high_mask = select((1u << high_bits) - 1u, 0xffffffffu, high_bits >= 32u);
    let low_mask = select((1u << low_bits) - 1u, 0xffffffffu, low_bits >= 32u);
    var left = (x >> low_bits) & high_mask;
    var right = x & low_mask;
    for (var r = 0u; r < 4u; r++) {
        let out_mask = select(low_mask, high_mask, (r & 1u) == 0u);
        let next = left ^ (lowbias32(right ^ dims[base + r]) & out_mask);
        left = right;
        right = next;
    }
    return (left << low_bits) | right;
}

fn lhs_stratum(base: u32, i: u32) -> u32 {
    let n = dims[base + 6u];
    var x = lhs_feistel(base, i);
    while (x >= n) {
        x = lhs_feistel(base, x);
    }
    return x;
}

fn owen_scramble(x: u32, seed: u32) -> u32 {
    var y = reverseBits(x);
    y = y ^ (y * 0x3d20adeau);
    y = y + seed;
    y = y * ((seed >> 16u) | 1u);
    y = y ^ (y * 0x05526c56u);
    y = y ^ (y * 0x53a22864u);
    return reverseBits(y);
}

fn sobol_coordinate(base: u32, i: u32) -> u32 {
    var gray = i ^ (i >> 1u);
    var x = 0u;
    while (gray != 0u) {
        x = x ^ dims[base + 8u + countTrailingZeros(gray)];
        gray = gray & (gray - 1u);
    }
    return x;
}

// erfc with relative error below 1.2e-7 everywhere (Numerical Recipes' erfcc, a Chebyshev
// fit): accurate in the tails, where 1 - erf would cancel.
fn erfc_f32(x: f32) -> f32 {
    let z = abs(x);
    let t = 1.0 / (1.0 + 0.5 * z);
    let r = t * exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418
        + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587
        + t * (-0.82215223 + t * 0.17087277)))))))));
    return select(2.0 - r, r, x >= 0.0);
}

// Phi(z) and 1 - Phi(z), each accurate on its own tail, kept strictly inside (0, 1).
fn pnorm_pair(z: f32) -> vec2<f32> {
    let u = 0.5 * erfc_f32(-z * 0.70710678118654752);
    let v = 0.5 * erfc_f32(z * 0.70710678118654752);
    return vec2<f32>(max(u, 1e-37), max(v, 1e-37));
}

fn pnorm(z: f32) -> f32 {
    if (is_nan(z)) {
        return z;
    }
    return 0.5 * erfc_f32(-z * 0.70710678118654752);
}

// -ln(u) accurate for u near 1, from v = 1 - u.
fn neg_log_u(u: f32, v: f32) -> f32 {
    if (v < 0.01) {
        return v * (1.0 + v * (0.5 + v * (1.0 / 3.0 + v * (0.25 + v * 0.2))));
    }
    return -log(u);
}

// ---- Excel semantics of the IR functions (see the CPU's executor/kernels.rs) ----

// Correctly rounded, as on the CPU, so that exact quotients stay exact (ROUND(7 / 2, 0)).
// NaN operands are tested explicitly: a compiler may fold 0.0 / x to 0.0.
fn excel_div(a: f32, b: f32) -> f32 {
    if (b == 0.0 || is_nan(a) || is_nan(b)) {
        return nan();
    }
    return div_exact(a, b);
}

// a * b, IEEE's product spelled out where it is NaN (an error times anything, infinity
// times zero): a compiler may fold x * 0.0 to 0.0 when the 0 is a constant of the model.
fn excel_mul(a: f32, b: f32) -> f32 {
    if (is_finite(a) && is_finite(b)) {
        return a * b;
    }
    if (is_nan(a) || is_nan(b) || a == 0.0 || b == 0.0) {
        return nan();
    }
    return a * b;
}

// x - x: 0, or NaN for an error or an infinity (a compiler folds x - x to 0.0).
fn excel_sub_self(x: f32) -> f32 {
    return select(nan(), 0.0, is_finite(x));
}

// a / b correctly rounded, as IEEE (and the CPU) divide: WGSL's `/` may be 2.5 ulp off,
// which turns 6 / 3 into 1.9999999 and MOD(6, 3) into 3. One correction step with the
// exact residual of an fma.
fn div_exact(a: f32, b: f32) -> f32 {
    let q = a / b;
    if (!is_finite(q) || q == 0.0) {
        return q;
    }
    return q + fma(-q, b, a) / b;
}

// Excel's MOD, x - y floor(x / y) as the CPU computes it: the sign of y; NaN when y is 0.
fn excel_mod(a: f32, b: f32) -> f32 {
    if (b == 0.0 || is_nan(a) || is_nan(b)) {
        return nan();
    }
    return a - b * floor(div_exact(a, b));
}

fn is_integer(y: f32) -> bool {
    return y == trunc(y);
}

// The CPU's f64::powf (C's pow): x^0 = 1 and 1^y = 1 even for a NaN operand, (-1)^inf = 1;
// a zero base keeps its sign under odd integer exponents (-0^-3 = -inf, -0^3 = -0); a
// negative base takes only integer exponents.
fn excel_pow(x: f32, y: f32) -> f32 {
    if (y == 0.0 || x == 1.0) {
        return 1.0;
    }
    if (is_nan(x) || is_nan(y)) {
        return nan();
    }
    let odd = is_integer(y) && abs(y) < 16777216.0 && (i32(abs(y)) & 1) == 1;
    if (x == 0.0) {
        let m = select(bitcast<f32>(0x7f800000u), 0.0, y > 0.0);
        return select(m, -m, odd && (bitcast<u32>(x) & 0x80000000u) != 0u);
    }
    if (x < 0.0) {
        if (!is_integer(y)) {
            return nan();
        }
        if (x == -1.0 && !is_finite(y)) {
            return 1.0;
        }
        let m = pow(-x, y);
        return select(m, -m, odd);
    }
    return pow(x, y);
}

fn excel_sign(x: f32) -> f32 {
    if (x > 0.0) {
        return 1.0;
    }
    if (x < 0.0) {
        return -1.0;
    }
    // A zero (with its sign) or NaN: the CPU's x * 0.0, which a compiler may fold to 0.
    return x;
}

// f64::ln: NaN below 0, -inf at 0.
fn excel_ln(x: f32) -> f32 {
    if (is_nan(x) || x < 0.0) {
        return nan();
    }
    if (x == 0.0) {
        return bitcast<f32>(0xff800000u);
    }
    return log(x);
}

fn excel_sqrt(x: f32) -> f32 {
    if (x < 0.0) {
        return nan();
    }
    return sqrt(x);
}

// 10^n for 0 <= n: exact up to 10^10, as the CPU's powi is in f64 up to 10^22; +inf past
// 10^38.
fn pow10_int(n: i32) -> f32 {
    var m = 1.0;
    for (var i = 0; i < min(n, 39); i++) {
        m = m * 10.0;
    }
    return m;
}

// The CPU's decimal count: digits truncated, clamped to +-308 and cast to an integer, which
// makes NaN 0 (ROUND(x, error) is ROUND(x, 0) on the CPU).
fn round_digits(digits: f32) -> i32 {
    if (is_nan(digits)) {
        return 0;
    }
    return i32(clamp(trunc(digits), -308.0, 308.0));
}

// x rounded to `digits` decimals, as the CPU's (x 10^d).round() / 10^d: `mode` 0 rounds
// halves away from zero (ROUND), 1 away from zero (ROUNDUP), 2 towards zero (ROUNDDOWN).
// 10^d is exact (up to 10^10) and divisions are correctly rounded, so that halves and
// integers stay exact: 1250 rounds to 1300 at -2 digits. Where x 10^d is an integer already
// in f32 (at least 2^23), x is the result; below -38 digits the result is 0, or infinity
// rounding away from zero (10^39 is past the f32 range).
fn excel_round_mode(x: f32, digits: f32, mode: u32) -> f32 {
    if (is_nan(x)) {
        return x;
    }
    let d = round_digits(digits);
    var y: f32;
    var m: f32;
    if (d >= 0) {
        m = pow10_int(d);
        y = x * m;
        if (!(abs(y) < 8388608.0)) {
            return x;
        }
    } else if (d < -38) {
        if (mode == 1u && x != 0.0) {
            return select(bitcast<f32>(0x7f800000u), bitcast<f32>(0xff800000u), x < 0.0);
        }
        return select(0.0, -0.0, x < 0.0);
    } else {
        m = pow10_int(-d);
        y = div_exact(x, m);
    }
    var t = trunc(y);
    if ((mode == 0u && abs(y - t) >= 0.5) || (mode == 1u && t != y)) {
        t = t + sign(y);
    }
    if (d >= 0) {
        return div_exact(t, m);
    }
    return t * m;
}

// Halves away from zero.
fn excel_round(x: f32, digits: f32) -> f32 {
    return excel_round_mode(x, digits, 0u);
}

fn excel_round_up(x: f32, digits: f32) -> f32 {
    return excel_round_mode(x, digits, 1u);
}

fn excel_round_down(x: f32, digits: f32) -> f32 {
    return excel_round_mode(x, digits, 2u);
}

// The CPU's `if a < b || a.is_nan() { a } else { b }`, with both NaN tests explicit: a
// compiler may turn a compare-and-select into a min that drops NaN.
fn min_propagating(a: f32, b: f32) -> f32 {
    if (is_nan(a)) {
        return a;
    }
    if (is_nan(b)) {
        return b;
    }
    return select(b, a, a < b);
}

fn max_propagating(a: f32, b: f32) -> f32 {
    if (is_nan(a)) {
        return a;
    }
    if (is_nan(b)) {
        return b;
    }
    return select(b, a, a > b);
}

fn excel_select(c: f32, t: f32, f: f32) -> f32 {
    if (is_nan(c)) {
        return c;
    }
    return select(f, t, c != 0.0);
}

// Rust's `x != 0.0`: true for NaN.
fn nonzero(x: f32) -> bool {
    return is_nan(x) || x != 0.0;
}

// Folds of the logical functions, step for step the CPU's: a NaN argument makes the
// accumulator NaN; a NaN accumulator counts as true in OR and XOR (Rust's NaN != 0) and
// stays NaN in AND (NaN * 0), as does an infinite one (inf * 0).
fn and_step(acc: f32, x: f32) -> f32 {
    if (is_nan(x)) {
        return x;
    }
    if (x != 0.0) {
        return acc;
    }
    return select(nan(), 0.0, is_finite(acc));
}

fn or_step(acc: f32, x: f32) -> f32 {
    if (is_nan(x)) {
        return x;
    }
    return truth(nonzero(acc) || x != 0.0);
}

fn xor_step(acc: f32, x: f32) -> f32 {
    if (is_nan(x)) {
        return x;
    }
    return truth(nonzero(acc) != (x != 0.0));
}

fn logical(x: f32) -> f32 {
    if (is_nan(x)) {
        return x;
    }
    return truth(x != 0.0);
}
