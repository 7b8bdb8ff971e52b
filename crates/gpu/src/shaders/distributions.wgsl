// Ultra GPU distributions: evaluation of the host-built tables of inputs (`tables.rs`
// builds them from the CPU engine's own distributions, with f64 mirrors of these
// functions) and helpers of the closed forms (`inputs.rs`). Tables live in the read-only
// storage buffer `tables`; each input's offset and sizes are baked into the generated
// code as constants.

// Φ⁻¹ from the pair (u, v = 1 - u): Wichura's AS 241 (PPND16, relative error ~1e-16 in
// exact arithmetic), the CPU's own algorithm. Its rational functions have positive
// coefficients on their ranges, so f32 evaluation keeps a few ulps (Acklam's approximation,
// used at first, cancels in its central polynomial: relative error ~3e-5 near p = 0.03 in
// f32, too coarse for quantiles asked to 1e-5). Also the copula's z = Φ⁻¹(u).
fn normal_quantile(u: f32, v: f32) -> f32 {
    let q = select(u - 0.5, 0.5 - v, u > 0.5);
    if (abs(q) <= 0.425) {
        let r = 0.180625 - q * q;
        let num = ((((((2.5090809287301226727e+3 * r + 3.3430575583588128105e+4) * r
            + 6.7265770927008700853e+4) * r + 4.5921953931549871457e+4) * r
            + 1.3731693765509461125e+4) * r + 1.9715909503065514427e+3) * r
            + 1.3314166789178437745e+2) * r + 3.3871328727963666080e0;
        let den = ((((((5.2264952788528545610e+3 * r + 2.8729085735721942674e+4) * r
            + 3.9307895800092710610e+4) * r + 2.1213794301586595867e+4) * r
            + 5.3941960214247511077e+3) * r + 6.8718700749205790830e+2) * r
            + 4.2313330701600911252e+1) * r + 1.0;
        return q * num / den;
    }
    let r0 = sqrt(-log(min(u, v)));
    var z: f32;
    if (r0 <= 5.0) {
        let r = r0 - 1.6;
        let num = ((((((7.74545014278341407640e-4 * r + 2.27238449892691845833e-2) * r
            + 2.41780725177450611770e-1) * r + 1.27045825245236838258e0) * r
            + 3.64784832476320460504e0) * r + 5.76949722146069140550e0) * r
            + 4.63033784615654529590e0) * r + 1.42343711074968357734e0;
        let den = ((((((1.05075007164441684324e-9 * r + 5.47593808499534494600e-4) * r
            + 1.51986665636164571966e-2) * r + 1.48103976427480074590e-1) * r
            + 6.89767334985100004550e-1) * r + 1.67638483018380384940e0) * r
            + 2.05319162663775882187e0) * r + 1.0;
        z = num / den;
    } else {
        let r = r0 - 5.0;
        let num = ((((((2.01033439929228813265e-7 * r + 2.71155556874348757815e-5) * r
            + 1.24266094738807843860e-3) * r + 2.65321895265761230930e-2) * r
            + 2.96560571828504891230e-1) * r + 1.78482653991729133580e0) * r
            + 5.46378491116411436990e0) * r + 6.65790464350110377720e0;
        let den = ((((((2.04426310338993978564e-15 * r + 1.42151175831644588870e-7) * r
            + 1.84631831751005468180e-5) * r + 7.86869131145613259100e-4) * r
            + 1.48753612908506148525e-2) * r + 1.36929880922735805310e-1) * r
            + 5.99832206555887937690e-1) * r + 1.0;
        z = num / den;
    }
    return select(z, -z, u < v);
}

// -ln(1 - p) as closed forms need it for a probability parameter p: from the pair
// (1 - p, p), accurate for small p.
fn neg_log_complement(p: f32) -> f32 {
    return neg_log_u(1.0 - p, p);
}

// sigma^2 = ln(1 + r^2) of RiskLognorm without losing small coefficients of variation.
fn lognormal_s2(r: f32) -> f32 {
    let r2 = r * r;
    if (r2 < 1e-3) {
        return r2 * (1.0 - r2 * (0.5 - r2 * (1.0 / 3.0)));
    }
    return log(1.0 + r2);
}

// The Hermite cubic from 0 at t = 0 to d at t = 1 with end slopes m0, m1 (per unit of t).
fn hermite_offset(t: f32, d: f32, m0: f32, m1: f32) -> f32 {
    let s = 1.0 - t;
    return t * t * (3.0 - 2.0 * t) * d + t * s * s * m0 - t * t * s * m1;
}

// Quantile table: knots at z = anchor + k / scale (scale = 2^level, so the index is exact),
// k from k_min, `count` intervals of 6 words (anchor a, base b, delta d, slopes m0 and m1,
// kind). An interval gives b + H(t), or a + b exp(H(t)) where it interpolates ln|x - a|.
// Beyond the grid (|z| > 8.25, u < 1e-16) the end values hold.
fn quantile_table(base: u32, count: u32, k_min: f32, anchor: f32, scale: f32, u: f32, v: f32) -> f32 {
    let s = (normal_quantile(u, v) - anchor) * scale;
    let k = clamp(floor(s), k_min, k_min + f32(count - 1u));
    let t = clamp(s - k, 0.0, 1.0);
    let o = base + 6u * u32(k - k_min);
    let h = hermite_offset(t, tables[o + 2u], tables[o + 3u], tables[o + 4u]);
    if (tables[o + 5u] != 0.0) {
        return tables[o] + tables[o + 1u] * exp(h);
    }
    return tables[o + 1u] + h;
}

// The first of `count` steps whose CDF (at `cdf`) reaches u when u <= 1/2, or whose
// survival (at `survival`) is at most v otherwise: the search on the accurate tail that
// discrete and piecewise tables share.
fn first_step(cdf: u32, survival: u32, count: u32, u: f32, v: f32) -> u32 {
    var lo = 0u;
    var hi = count - 1u;
    let lower = u <= 0.5;
    while (lo < hi) {
        let mid = (lo + hi) / 2u;
        var found: bool;
        if (lower) {
            found = tables[cdf + mid] >= u;
        } else {
            found = tables[survival + mid] <= v;
        }
        if (found) {
            hi = mid;
        } else {
            lo = mid + 1u;
        }
    }
    return lo;
}

// Discrete table: `count` values, then their CDF steps, then their survival steps. The
// smallest value whose CDF reaches u (u <= 1/2) or whose survival is at most v (u > 1/2),
// as the CPU searches.
fn step_table(base: u32, count: u32, u: f32, v: f32) -> f32 {
    if (is_nan(u) || is_nan(v)) {
        return nan();
    }
    return tables[base + first_step(base + count, base + 2u * count, count, u, v)];
}

// The distance from a segment end at which a linear density starting at f0 with `slope`
// has accumulated mass r, without cancellation (the CPU's `linear_density_root`).
fn density_root(f0: f32, slope: f32, r: f32) -> f32 {
    let den = f0 + sqrt(max(f0 * f0 + 2.0 * slope * r, 0.0));
    return select(0.0, 2.0 * r / den, den > 0.0);
}

// Piecewise-linear density: `count` segments as 8 blocks (start a, end b, CDF at start,
// CDF at end, survival at end, density at a, density at b, slope). The segment is searched
// like a discrete step, then inverted in closed form from its nearer-tail end.
fn piecewise_table(base: u32, count: u32, u: f32, v: f32) -> f32 {
    if (is_nan(u) || is_nan(v)) {
        return nan();
    }
    let lower = u <= 0.5;
    let lo = first_step(base + 3u * count, base + 4u * count, count, u, v);
    let a = tables[base + lo];
    let b = tables[base + count + lo];
    let slope = tables[base + 7u * count + lo];
    var x: f32;
    if (lower) {
        let r = max(u - tables[base + 2u * count + lo], 0.0);
        x = a + density_root(tables[base + 5u * count + lo], slope, r);
    } else {
        let r = max(v - tables[base + 4u * count + lo], 0.0);
        x = b - density_root(tables[base + 6u * count + lo], -slope, r);
    }
    return clamp(x, a, b);
}

// NORM.S.INV(p): the IR's NormSInv; NaN unless 0 < p < 1 (1 - p is exact in f32 for
// p >= 1/2, so both tails keep their precision).
fn excel_norm_s_inv(p: f32) -> f32 {
    if (is_nan(p) || !(p > 0.0 && p < 1.0)) {
        return nan();
    }
    return normal_quantile(p, 1.0 - p);
}
