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

// Standard normal quantile from (u, 1 - u): Acklam's rational approximation (relative
// error 1.15e-9, below f32 resolution), evaluated on the smaller tail.
fn qnorm(u: f32, v: f32) -> f32 {
    let p = min(u, v);
    var z: f32;
    if (p < 0.02425) {
        let q = sqrt(-2.0 * log(p));
        z = (((((-7.784894002430293e-03 * q - 3.223964580411365e-01) * q - 2.400758277161838e+00) * q
            - 2.549732539343734e+00) * q + 4.374664141464968e+00) * q + 2.938163982698783e+00)
            / ((((7.784695709041462e-03 * q + 3.224671290700398e-01) * q + 2.445134137142996e+00) * q
            + 3.754408661907416e+00) * q + 1.0);
    } else {
        let q = p - 0.5;
        let r = q * q;
        z = (((((-3.969683028665376e+01 * r + 2.209460984245205e+02) * r - 2.759285104469687e+02) * r
            + 1.383577518672690e+02) * r - 3.066479806614716e+01) * r + 2.506628277459239e+00) * q
            / (((((-5.447609879822406e+01 * r + 1.615858368580409e+02) * r - 1.556989798598866e+02) * r
            + 6.680131188771972e+01) * r - 1.328068155288572e+01) * r + 1.0);
    }
    return select(-z, z, u <= v);
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

fn excel_div(a: f32, b: f32) -> f32 {
    if (b == 0.0) {
        return nan();
    }
    return a / b;
}

fn excel_mod(a: f32, b: f32) -> f32 {
    if (b == 0.0) {
        return nan();
    }
    return a - b * floor(a / b);
}

fn is_integer(y: f32) -> bool {
    return y == trunc(y);
}

// powf: negative bases with integer exponents, zero bases, as the CPU's f64::powf.
fn excel_pow(x: f32, y: f32) -> f32 {
    if (is_nan(x) || is_nan(y)) {
        return nan();
    }
    if (y == 0.0) {
        return 1.0;
    }
    if (x == 0.0) {
        return select(bitcast<f32>(0x7f800000u), 0.0, y > 0.0);
    }
    if (x < 0.0) {
        if (!is_integer(y)) {
            return nan();
        }
        let m = pow(-x, y);
        let odd = abs(y) < 16777216.0 && (i32(abs(y)) & 1) == 1;
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
    return x * 0.0;
}

fn excel_ln(x: f32) -> f32 {
    if (x < 0.0) {
        return nan();
    }
    return log(x);
}

fn excel_sqrt(x: f32) -> f32 {
    if (x < 0.0) {
        return nan();
    }
    return sqrt(x);
}

fn round_scale(digits: f32) -> f32 {
    return pow(10.0, clamp(trunc(digits), -38.0, 38.0));
}

// Halves away from zero.
fn excel_round(x: f32, digits: f32) -> f32 {
    let m = round_scale(digits);
    let y = x * m;
    let t = trunc(y);
    return select(t, t + sign(y), abs(y - t) >= 0.5) / m;
}

fn excel_round_up(x: f32, digits: f32) -> f32 {
    let m = round_scale(digits);
    return sign(x) * ceil(abs(x) * m) / m;
}

fn excel_round_down(x: f32, digits: f32) -> f32 {
    let m = round_scale(digits);
    return trunc(x * m) / m;
}

fn min_propagating(a: f32, b: f32) -> f32 {
    if (a < b || is_nan(a)) {
        return a;
    }
    return b;
}

fn max_propagating(a: f32, b: f32) -> f32 {
    if (a > b || is_nan(a)) {
        return a;
    }
    return b;
}

fn excel_select(c: f32, t: f32, f: f32) -> f32 {
    if (is_nan(c)) {
        return c;
    }
    return select(f, t, c != 0.0);
}

// Folds of the logical functions keep NaN (an error) as NaN.
fn and_step(acc: f32, x: f32) -> f32 {
    if (is_nan(x)) {
        return x;
    }
    return acc * truth(x != 0.0);
}

fn or_step(acc: f32, x: f32) -> f32 {
    if (is_nan(x)) {
        return x;
    }
    return truth(acc != 0.0 || x != 0.0);
}

fn xor_step(acc: f32, x: f32) -> f32 {
    if (is_nan(x)) {
        return x;
    }
    return truth((acc != 0.0) != (x != 0.0));
}

fn logical(x: f32) -> f32 {
    if (is_nan(x)) {
        return x;
    }
    return truth(x != 0.0);
}
