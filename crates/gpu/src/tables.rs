//! Quantile and search tables of inputs sampled on the GPU, built on the host in f64 from
//! the CPU engine's own distributions, so that the GPU reproduces the CPU's values to f32
//! precision without porting Newton solvers or incomplete beta functions to WGSL.
//!
//! Three kinds, each with an f64 mirror of its WGSL evaluation (`distributions.wgsl`) that
//! the builders and the unit tests use:
//!
//! * [`QuantileTable`] (continuous laws without a usable closed form: beta, PERT, gamma,
//!   Student's t, and every truncated continuous input): the CPU's
//!   `InputDistribution::inverse_cdf` as a function of `z = Φ⁻¹(u)` on a uniform grid of
//!   step `h = 2^-level` over `[-8.25, 8.25]` (f32 uniforms reach `2^-53`, z = ±8.21),
//!   interpolated by cubic Hermite pieces. `z` rather than `u` because quantiles are smooth
//!   and slowly varying in z out to the far tails (a normal is a line, a power-law tail is
//!   an exponential), and the grid index is one multiplication by a power of two (exact).
//!   Each interval interpolates either x itself or `ln|x - A|` for an anchor A (the
//!   support's ends, 0 or the median), whichever the host finds more accurate there: the
//!   logarithm keeps relative accuracy where the quantile spans orders of magnitude
//!   (gamma and beta with shape < 1 near 0, heavy tails). Values and slopes at the knots
//!   come from a 5-point polynomial fit through CPU quantiles at nearby probabilities that
//!   the CPU can actually be given (near 1, only multiples of 2^-53 as `1 - p`), so the
//!   slopes need no density. The level grows until every interval passes the accuracy
//!   check below, with half of the tolerance as margin, at t = 1/4, 1/2, 3/4 and where x
//!   crosses zero (f64 CPU quantiles at probabilities the CPU can be given); a law that
//!   does not pass at h = 1/512 is refused (the caller runs it on the CPU). The z the GPU
//!   indexes with is AS 241 in f32 (`normal_quantile`), not Acklam's approximation, which
//!   cancels to ~3e-5 relative in f32 near p = 0.03.
//! * [`StepTable`] (discrete laws): the support points with the CPU's CDF step *and*
//!   survival step of each, in f32; the GPU searches the CDF with u when u <= 1/2 and the
//!   survival function with v = 1 - u otherwise, exactly as the CPU does, so values agree
//!   except where u rounds onto a step. The steps are located on the CPU's own inverse CDF
//!   wherever its CDF is not accurate enough (upper tails, truncation).
//! * [`PiecewiseTable`] (`RiskCumul`, `RiskHistogrm`, `RiskGeneral`): the exact
//!   piecewise-linear density, segment by segment (a linear CDF is a constant density), with
//!   the CPU's closed-form inversion per segment (one square root); truncation clips the
//!   segments on the host.
//!
//! Accuracy contract of quantile tables (checked while building and in the tests below):
//! `|table(p) - cpu(p)| <= 1e-6 max(|cpu(p)|, |cpu(p) - shift|, s) + noise(p)` where
//! * `s = 1e-3 IQR` is the scale floor near zero crossings (f32 arithmetic on O(IQR) terms
//!   cannot resolve below ~1e-7 IQR anyway, so this asks 100 times more of the
//!   interpolation than the GPU can deliver);
//! * `|cpu(p) - shift|` is the unshifted value: `base + shift` is only as exact as its
//!   terms (a shifted law crossing zero in a steep tail has no relative accuracy there, in
//!   f64 as in f32; the f32 table's own words carry 6e-8 of the local variation);
//! * `noise(p)` is the CPU's own resolution under truncation: it inverts the base law at
//!   `t = F(lower) + p (F(upper) - F(lower))` in f64, so one ulp of t moves its answer by
//!   `noise(p)` (0 without truncation).

use std::collections::HashMap;

use ultra_engine::dist::special::{inverse_normal_cdf, normal_cdf, normal_sf};
use ultra_engine::dist::{Distribution, Family, InputDistribution, Univariate};

/// The grid covers `z` in `[-Z_RANGE, Z_RANGE]`; beyond it the table's end values hold.
pub(crate) const Z_RANGE: f64 = 8.25;
/// Words per interval of a quantile table: anchor, base, delta, slope at 0, slope at 1, kind.
pub(crate) const INTERVAL_WORDS: usize = 6;
/// Relative accuracy asked of the interpolation.
pub(crate) const RELATIVE_TOLERANCE: f64 = 1e-6;
/// The scale floor `s` as a fraction of the interquartile range.
pub(crate) const SCALE_FLOOR: f64 = 1e-3;
/// Coarsest and finest grids: h = 1/16 (264 intervals) to h = 1/512 (8448 intervals).
const FIRST_LEVEL: u32 = 4;
const LAST_LEVEL: u32 = 9;
/// The build check asks half the tolerance, leaving a margin for points between checks.
const BUILD_MARGIN: f64 = 0.5;
/// Spacing in z of the points of the 5-point fits at the knots.
const FIT_STEP: f64 = 1.0 / 256.0;
/// 2^-53: the smallest `1 - p` the CPU's uniforms reach, and the grid of `1 - p` above 1/2.
const EPS_53: f64 = 1.0 / 9_007_199_254_740_992.0;
/// Discrete supports start where the CDF reaches this (the mass left out below has
/// probability < 1e-17 per draw, which no Monte Carlo uniform reaches).
const DISCRETE_LOW_TAIL: f64 = 1e-17;

/// A quantile table: `INTERVAL_WORDS` f32 words per interval, interval `i` covering
/// `z` in `[anchor + (k_min + i) h, anchor + (k_min + i + 1) h]`, `h = 2^-level`.
#[derive(Debug, Clone)]
pub(crate) struct QuantileTable {
    /// Grid origin in z (0, or the z of a kink of the quantile function).
    pub anchor: f32,
    pub level: u32,
    /// Grid index of the first knot.
    pub k_min: i32,
    pub words: Vec<f32>,
    /// Worst error over the build's check points, in units of the tolerance.
    pub worst: f64,
}

/// `H(t)`: the Hermite cubic from 0 at t = 0 to `d` at t = 1 with end slopes `m0`, `m1`
/// (per unit of t); the same expression as `hermite_offset` in `distributions.wgsl`.
fn hermite_offset(t: f64, d: f64, m0: f64, m1: f64) -> f64 {
    let s = 1.0 - t;
    t * t * (3.0 - 2.0 * t) * d + t * s * s * m0 - t * t * s * m1
}

/// One interval's value at `t` in [0, 1]: `b + H(t)`, or `a + b exp(H(t))` for the
/// logarithmic kind (`b = x0 - a` signed, `H` interpolating `ln|x - a|`).
fn interval_value(w: &[f32], t: f64) -> f64 {
    let [a, b, d, m0, m1, kind] = [w[0], w[1], w[2], w[3], w[4], w[5]].map(f64::from);
    let h = hermite_offset(t, d, m0, m1);
    if kind != 0.0 { a + b * h.exp() } else { b + h }
}

impl QuantileTable {
    pub(crate) fn intervals(&self) -> usize {
        self.words.len() / INTERVAL_WORDS
    }

    /// `2^level`, the grid's knots per unit of z.
    pub(crate) fn scale(&self) -> f64 {
        f64::from(1u32 << self.level)
    }

    /// The f64 mirror of `quantile_table` in `distributions.wgsl` at a given z.
    pub(crate) fn at_z(&self, z: f64) -> f64 {
        let s = (z - f64::from(self.anchor)) * self.scale();
        let first = f64::from(self.k_min);
        let last = first + self.intervals() as f64 - 1.0;
        let k = s.floor().clamp(first, last);
        let t = (s - k).clamp(0.0, 1.0);
        let i = (k - first) as usize * INTERVAL_WORDS;
        interval_value(&self.words[i..i + INTERVAL_WORDS], t)
    }

    /// The f64 mirror of the GPU's sampling from the pair (u, v = 1 - u), z included.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn sample(&self, u: f64, v: f64) -> f64 {
        self.at_z(normal_quantile(u, v))
    }
}

/// `normal_quantile` of `distributions.wgsl` in f64: AS 241 on the tail that (u, v) keeps
/// exact, the CPU's `inverse_normal_cdf`.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) fn normal_quantile(u: f64, v: f64) -> f64 {
    if u <= v {
        inverse_normal_cdf(u)
    } else {
        -inverse_normal_cdf(v)
    }
}

/// The probability nearest `z` that the CPU can be given, and its exact z: any f64 below
/// 1/2, but above it only `1 - j 2^-53`, since `1 - p` is exact there (and the CPU's
/// upper-tail quantiles are functions of that `1 - p`).
pub(crate) fn snap(z: f64) -> (f64, f64) {
    if z <= 0.0 {
        let p = normal_cdf(z).max(f64::MIN_POSITIVE);
        (inverse_normal_cdf(p), p)
    } else {
        let q = normal_sf(z).max(EPS_53);
        let p = (1.0 - q).min(1.0 - EPS_53);
        let q = 1.0 - p;
        (-inverse_normal_cdf(q), p)
    }
}

/// `z = Φ⁻¹(p)`, accurate in both tails (for p > 1/2 from the exact `1 - p`).
fn z_of(p: f64) -> f64 {
    if p <= 0.5 {
        inverse_normal_cdf(p)
    } else {
        -inverse_normal_cdf(1.0 - p)
    }
}

/// A continuous input as the CPU samples it.
pub(crate) struct ContinuousTarget<'a> {
    pub input: &'a InputDistribution,
    /// `(F(lower), F(upper) - F(lower))` of the CPU's truncation window, for the noise term.
    pub window: Option<(f64, f64)>,
    /// The probability at which the quantile function has a kink (a triangular mode).
    pub kink: Option<f64>,
    /// The constant shift included in the input's values.
    pub shift: f64,
}

impl ContinuousTarget<'_> {
    fn quantile(&self, p: f64) -> f64 {
        self.input.inverse_cdf(p)
    }

    /// How far one ulp of the CPU's truncated probability `t` moves its value at p.
    pub(crate) fn noise(&self, p: f64, x: f64) -> f64 {
        let Some((f_lower, mass)) = self.window else {
            return 0.0;
        };
        let t = f_lower + p * mass;
        let dp = 2.0 * (t.next_up() - t) / mass;
        let below = (p - dp).max(f64::MIN_POSITIVE);
        let above = (p + dp).min(1.0 - EPS_53);
        let d1 = (self.quantile(below) - x).abs();
        let d2 = (self.quantile(above) - x).abs();
        let d = d1.max(d2);
        if d.is_finite() { d } else { 0.0 }
    }

    /// The tolerance at a value x: relative to the larger of |x|, the unshifted |x - shift|
    /// (a sum is only as exact as its terms, in f64 as in f32) and the scale floor.
    pub(crate) fn tolerance(&self, p: f64, x: f64, scale: f64) -> f64 {
        RELATIVE_TOLERANCE * x.abs().max((x - self.shift).abs()).max(scale) + self.noise(p, x)
    }

    /// The scale floor `s` of the tolerance.
    pub(crate) fn scale(&self) -> f64 {
        let iqr = self.quantile(0.75) - self.quantile(0.25);
        if iqr.is_finite() && iqr > 0.0 {
            SCALE_FLOOR * iqr
        } else {
            f64::MIN_POSITIVE
        }
    }
}

/// How an interval interpolates: x itself, or `ln(sign (x - anchor))`.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Transform {
    Identity,
    Log { anchor: f64, sign: f64 },
}

impl Transform {
    fn forward(self, x: f64) -> Option<f64> {
        match self {
            Transform::Identity => x.is_finite().then_some(x),
            Transform::Log { anchor, sign } => {
                let d = sign * (x - anchor);
                (d > 0.0 && d.is_finite()).then(|| d.ln())
            }
        }
    }
}

/// Five (z, x) points of the CPU's quantile around a knot.
type FitPoints = [(f64, f64); 5];

/// Value and slope at `z` of the degree-4 polynomial through `(zs[i], ys[i])`.
fn lagrange(zs: &[f64; 5], ys: &[f64; 5], z: f64) -> (f64, f64) {
    let reference = ys[2];
    let (mut value, mut slope) = (reference, 0.0);
    for i in 0..5 {
        let yi = ys[i] - reference;
        let mut li = 1.0;
        for m in (0..5).filter(|&m| m != i) {
            li *= (z - zs[m]) / (zs[i] - zs[m]);
        }
        let mut dli = 0.0;
        for m in (0..5).filter(|&m| m != i) {
            let mut term = 1.0 / (zs[i] - zs[m]);
            for l in (0..5).filter(|&l| l != i && l != m) {
                term *= (z - zs[l]) / (zs[i] - zs[l]);
            }
            dli += term;
        }
        value += yi * li;
        slope += yi * dli;
    }
    (value, slope)
}

/// Which side of a knot its fit may use: both, or one (at a kink).
#[derive(Debug, Clone, Copy)]
enum Side {
    Both,
    Left,
    Right,
}

/// CPU quantiles at five snapped probabilities around `z`, spread `FIT_STEP` apart (more
/// where the representable probabilities are sparser, in the far upper tail).
fn fit_points(target: &ContinuousTarget, z: f64, side: Side) -> Option<FitPoints> {
    const LEFT: [f64; 5] = [-4.0, -3.0, -2.0, -1.0, 0.0];
    let offsets: [f64; 5] = match side {
        Side::Both => [-2.0, -1.0, 0.0, 1.0, 2.0],
        Side::Left => LEFT,
        Side::Right => [0.0, 1.0, 2.0, 3.0, 4.0],
    };
    // Beyond z = 8.21 every probability snaps to 1 - 2^-53: there the points are taken
    // below z, further apart.
    for offsets in [offsets, LEFT] {
        let mut step = FIT_STEP;
        for _ in 0..12 {
            let mut snapped = offsets.map(|o| snap(z + o * step));
            snapped.sort_by(|a, b| a.0.total_cmp(&b.0));
            let separated = snapped
                .windows(2)
                .all(|w| w[1].0 - w[0].0 >= 0.25 * step && w[0].1 < w[1].1);
            if separated {
                return Some(snapped.map(|(zs, p)| (zs, target.quantile(p))));
            }
            step *= 2.0;
        }
    }
    None
}

/// Value and slope in z of `transform(x)` at `z` from fit points, if the transform is
/// defined at all of them.
fn knot_value(points: &FitPoints, transform: Transform, z: f64) -> Option<(f64, f64)> {
    let zs = points.map(|(z, _)| z);
    let mut ys = [0.0; 5];
    for (y, (_, x)) in ys.iter_mut().zip(points) {
        *y = transform.forward(*x)?;
    }
    let (value, slope) = lagrange(&zs, &ys, z);
    (value.is_finite() && slope.is_finite()).then_some((value, slope))
}

/// The stored words of an interval of step `h` from the transformed values and slopes at
/// its ends.
fn interval_words(
    transform: Transform,
    (y0, d0): (f64, f64),
    (y1, d1): (f64, f64),
    h: f64,
) -> [f32; INTERVAL_WORDS] {
    let (anchor, base, kind) = match transform {
        Transform::Identity => (0.0, y0, 0.0),
        Transform::Log { anchor, sign } => (anchor, sign * y0.exp(), 1.0),
    };
    [
        anchor as f32,
        base as f32,
        (y1 - y0) as f32,
        (h * d0) as f32,
        (h * d1) as f32,
        kind,
    ]
}

/// A check point of an interval: its t, the CPU's value and the tolerance there.
struct Check {
    t: f64,
    x: f64,
    tolerance: f64,
}

/// Error of `value` against the CPU's `x` in units of the tolerance. Values beyond the f32
/// range compare as the infinity f32 makes of them.
fn error_ratio(value: f64, check: &Check) -> f64 {
    if check.x.abs() > f64::from(f32::MAX) {
        let same = (value as f32) == (check.x as f32);
        return if same { 0.0 } else { f64::INFINITY };
    }
    let e = (value - check.x).abs() / check.tolerance;
    if e.is_nan() { f64::INFINITY } else { e }
}

/// Builds the quantile table of `target`, refining the grid until every interval meets
/// the tolerance (with margin) at its check points.
pub(crate) fn quantile_table(target: &ContinuousTarget) -> Result<QuantileTable, String> {
    let scale = target.scale();
    let finite_f32 = |x: f64| {
        let a = f64::from(x as f32);
        a.is_finite().then_some(a)
    };
    // Anchors of the logarithmic intervals: the support's ends, 0 and the median.
    let mut anchors: Vec<f64> = [
        target.quantile(0.0),
        target.quantile(1.0),
        0.0,
        target.quantile(0.5),
    ]
    .into_iter()
    .filter_map(finite_f32)
    .collect();
    anchors.dedup();
    let mut transforms = vec![Transform::Identity];
    for &anchor in &anchors {
        if !transforms.iter().any(|t| match t {
            Transform::Log { anchor: a, .. } => *a == anchor,
            Transform::Identity => false,
        }) {
            transforms.push(Transform::Log { anchor, sign: 1.0 });
            transforms.push(Transform::Log { anchor, sign: -1.0 });
        }
    }
    // A kink inside the grid becomes the grid's origin, with one-sided fits there.
    let kink_z = target
        .kink
        .filter(|p| *p > 0.0 && *p < 1.0)
        .map(z_of)
        .filter(|z| z.abs() < Z_RANGE - 0.25);
    let kinked = kink_z.is_some();
    let grid_anchor = kink_z.map_or(0.0f32, |z| z as f32);
    let origin = f64::from(grid_anchor);

    // Fits by knot index at the finest level, kept across levels.
    let mut fits: HashMap<(i64, u8), Option<FitPoints>> = HashMap::new();
    let mut best_failure = String::new();
    for level in FIRST_LEVEL..=LAST_LEVEL {
        let h = 1.0 / f64::from(1u32 << level);
        let k_min = ((-Z_RANGE - origin) / h).floor() as i64;
        let k_max = ((Z_RANGE - origin) / h).ceil() as i64;
        let shift = LAST_LEVEL - level;
        let mut fit = |k: i64, side: Side| -> Option<FitPoints> {
            let side = if kinked && k == 0 { side } else { Side::Both };
            let tag = match side {
                Side::Both => 0u8,
                Side::Left => 1,
                Side::Right => 2,
            };
            *fits
                .entry((k << shift, tag))
                .or_insert_with(|| fit_points(target, origin + k as f64 * h, side))
        };
        let mut words = Vec::with_capacity((k_max - k_min) as usize * INTERVAL_WORDS);
        let mut worst = 0.0f64;
        let mut worst_at = 0.5;
        for k in k_min..k_max {
            let z0 = origin + k as f64 * h;
            let z1 = z0 + h;
            let left = fit(k, Side::Right);
            let right = fit(k + 1, Side::Left);
            let (Some(left), Some(right)) = (left, right) else {
                return Err(format!("no distinct probabilities near z = {z0}"));
            };
            // Three checks, and one where x crosses zero (its relative tolerance is
            // smallest there).
            let mut ts = vec![0.25, 0.5, 0.75];
            if let (Some((x0, _)), Some((x1, _))) = (
                knot_value(&left, Transform::Identity, z0),
                knot_value(&right, Transform::Identity, z1),
            ) && x0 * x1 < 0.0
            {
                ts.push(x0 / (x0 - x1));
            }
            let checks: Vec<Check> = ts
                .iter()
                .filter_map(|t| {
                    let (zs, p) = snap(z0 + t * h);
                    let t = (zs - z0) / h;
                    if !(0.0..=1.0).contains(&t) {
                        return None;
                    }
                    let x = target.quantile(p);
                    let tolerance = target.tolerance(p, x, scale);
                    Some(Check { t, x, tolerance })
                })
                .collect();
            let mut chosen: Option<([f32; INTERVAL_WORDS], f64)> = None;
            for &transform in &transforms {
                let (Some(a), Some(b)) = (
                    knot_value(&left, transform, z0),
                    knot_value(&right, transform, z1),
                ) else {
                    continue;
                };
                let w = interval_words(transform, a, b, h);
                if w.iter().any(|x| x.is_nan()) {
                    continue;
                }
                let ratio = checks
                    .iter()
                    .map(|c| error_ratio(interval_value(&w, c.t), c))
                    .fold(0.0, f64::max);
                if chosen.as_ref().is_none_or(|(_, r)| ratio < *r) {
                    chosen = Some((w, ratio));
                }
            }
            let Some((w, ratio)) = chosen else {
                return Err(format!("the quantile is not finite near z = {z0}"));
            };
            if ratio > worst {
                worst = ratio;
                worst_at = normal_cdf(0.5 * (z0 + z1));
            }
            words.extend_from_slice(&w);
        }
        if worst <= BUILD_MARGIN {
            return Ok(QuantileTable {
                anchor: grid_anchor,
                level,
                k_min: i32::try_from(k_min).map_err(|_| "grid too large".to_owned())?,
                words,
                worst,
            });
        }
        best_failure = format!(
            "error {worst:.2}x the tolerance near u = {worst_at:.3e} with {} intervals",
            k_max - k_min
        );
    }
    Err(format!(
        "its quantile table does not reach 1e-6 relative accuracy ({best_failure})"
    ))
}

/// The CPU's truncation window in probabilities of the base law, `(F(lower), F(upper))`,
/// computed as `InputDistribution::new` computes it (`lower`/`upper` in the shifted scale).
pub(crate) fn window(
    base: &Distribution,
    lower: Option<f64>,
    upper: Option<f64>,
    shift: f64,
) -> (f64, f64) {
    let discrete = base.is_discrete();
    let f_lower = match lower {
        Some(l) if l > f64::NEG_INFINITY => {
            let l = l - shift;
            if discrete {
                base.cdf(l.next_down())
            } else {
                base.cdf(l)
            }
        }
        _ => 0.0,
    };
    let f_upper = match upper {
        Some(u) if u < f64::INFINITY => base.cdf(u - shift),
        _ => 1.0,
    };
    (f_lower, f_upper)
}

/// A discrete law's support points with their CDF and survival steps: value `i` is drawn
/// for `cdf[i - 1] < u <= cdf[i]` (searched with u when u <= 1/2) or, equivalently,
/// `sf[i] <= v < sf[i - 1]` (searched with v = 1 - u when u > 1/2).
#[derive(Debug, Clone)]
pub(crate) struct StepTable {
    pub values: Vec<f64>,
    pub cdf: Vec<f64>,
    pub sf: Vec<f64>,
}

impl StepTable {
    pub(crate) fn len(&self) -> usize {
        self.values.len()
    }

    /// Values, then CDF steps, then survival steps, each `len()` f32 words.
    pub(crate) fn words(&self) -> Vec<f32> {
        self.values
            .iter()
            .chain(&self.cdf)
            .chain(&self.sf)
            .map(|&x| x as f32)
            .collect()
    }

    /// The mirror of `step_table` in `distributions.wgsl`, in the same f32 comparisons.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn sample(&self, u: f32, v: f32) -> f32 {
        let words = self.words();
        let n = self.len();
        let (mut lo, mut hi) = (0usize, n - 1);
        while lo < hi {
            let mid = (lo + hi) / 2;
            let found = if u <= 0.5 {
                words[n + mid] >= u
            } else {
                words[2 * n + mid] <= v
            };
            if found {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        words[lo]
    }
}

/// Largest f64 in `[lo, hi)` where `holds` is true, for `holds` true at `lo`, false at `hi`
/// and monotone between (bisection on the bit patterns of non-negative floats).
fn last_true(lo: f64, hi: f64, holds: impl Fn(f64) -> bool) -> f64 {
    let (mut a, mut b) = (lo.to_bits(), hi.to_bits());
    while b - a > 1 {
        let m = a + (b - a) / 2;
        if holds(f64::from_bits(m)) {
            a = m;
        } else {
            b = m;
        }
    }
    f64::from_bits(a)
}

/// Smallest integer in `(lo, hi]` where `holds` is true, for `holds` false at `lo`, true
/// at `hi` and monotone between.
fn first_true(mut lo: u64, mut hi: u64, holds: impl Fn(u64) -> bool) -> u64 {
    while hi - lo > 1 {
        let m = lo + (hi - lo) / 2;
        if holds(m) {
            hi = m;
        } else {
            lo = m;
        }
    }
    hi
}

/// Builds the step table of a discrete input (`lower`, `upper` and `shift` as given to
/// `InputDistribution::new`). Refuses supports of more than `max_points` points.
pub(crate) fn step_table(
    input: &InputDistribution,
    lower: Option<f64>,
    upper: Option<f64>,
    shift: f64,
    max_points: usize,
) -> Result<StepTable, String> {
    let base = input.base();
    let q = |p: f64| input.inverse_cdf(p);
    let first = q(DISCRETE_LOW_TAIL) - shift;
    let last = q(1.0 - EPS_53) - shift;
    if !(first.is_finite() && last.is_finite() && first <= last) {
        return Err("its support is not finite".to_owned());
    }
    // The base law's support points from `first` to `last`.
    let points: Vec<f64> = match base {
        Distribution::Discrete(d) => {
            let values = d.values();
            let nearest = |x: f64| {
                let i = values.partition_point(|&v| v < x);
                if i > 0 && (i == values.len() || x - values[i - 1] <= values[i] - x) {
                    i - 1
                } else {
                    i
                }
            };
            let (i, j) = (nearest(first), nearest(last));
            if j + 1 - i > max_points {
                return Err(too_many(j + 1 - i, max_points));
            }
            values[i..=j].to_vec()
        }
        _ => {
            let (a, b) = (first.round(), last.round());
            let count = b - a + 1.0;
            if count > max_points as f64 {
                return Err(too_many(count as usize, max_points));
            }
            (0..count as usize).map(|i| a + i as f64).collect()
        }
    };
    let (f_lower, f_upper) = window(base, lower, upper, shift);
    // Without truncation the CPU inverts the base law at p itself.
    let plain = f_lower == 0.0 && f_upper == 1.0;
    let mass = f_upper - f_lower;
    let count = points.len();
    let mut table = StepTable {
        values: Vec::with_capacity(count),
        cdf: Vec::with_capacity(count),
        sf: Vec::with_capacity(count),
    };
    let mut previous_cdf = 0.0f64;
    for (i, &k) in points.iter().enumerate() {
        let x = k + shift;
        if i + 1 == count {
            table.values.push(x);
            table.cdf.push(1.0);
            table.sf.push(0.0);
            break;
        }
        let c = base.cdf(k);
        let (mut cdf, mut sf) = if plain {
            (c, 1.0 - c)
        } else {
            (
                ((c - f_lower) / mass).clamp(0.0, 1.0),
                ((f_upper - c) / mass).clamp(0.0, 1.0),
            )
        };
        let below = |p: f64| q(p) <= x;
        // The CDF is exact below 1/2 without truncation; elsewhere the step is located
        // on the CPU's inverse itself, unless the estimate is exactly the step.
        let exact = |c: f64| below(c) && !below(c.next_up());
        if !plain && cdf <= 0.5 && !exact(cdf) {
            let lo = previous_cdf.max(f64::MIN_POSITIVE);
            cdf = if !below(lo) {
                0.0
            } else {
                let mut hi = cdf.max(lo).next_up();
                while below(hi) && hi < 0.5 {
                    hi = (hi * 2.0).min(0.5);
                }
                if below(hi) {
                    hi
                } else {
                    last_true(lo, hi, below)
                }
            };
        }
        if sf < 0.5 {
            // 1 - p is a multiple of 2^-53 above 1/2: the step is the least such multiple
            // whose quantile is at most x.
            let at = |j: u64| q(1.0 - j as f64 * EPS_53) <= x;
            let top = 1u64 << 52;
            let j0 = ((sf / EPS_53).round() as u64).clamp(1, top);
            let exact = at(j0) && (j0 == 1 || !at(j0 - 1));
            if !exact {
                let j = if at(j0) {
                    let mut lo = j0 / 2;
                    while lo > 0 && at(lo) {
                        lo /= 2;
                    }
                    first_true(lo, j0, at)
                } else {
                    let mut hi = j0.saturating_mul(2).min(top);
                    while hi < top && !at(hi) {
                        hi = hi.saturating_mul(2).min(top);
                    }
                    first_true(j0, hi, at)
                };
                sf = j as f64 * EPS_53;
            }
        }
        // Points that no probability reaches (masses cut by the window) are left out.
        if i > 0 && cdf <= previous_cdf && table.sf.last().is_some_and(|&s| sf >= s) {
            continue;
        }
        previous_cdf = cdf;
        table.values.push(x);
        table.cdf.push(cdf);
        table.sf.push(sf);
    }
    Ok(table)
}

fn too_many(count: usize, max: usize) -> String {
    format!("its support has {count} points, more than the {max}-point table limit")
}

/// A piecewise-linear density: segment i on `[a[i], b[i]]` with density `fa[i]` at a and
/// `fb[i]` at b (`slope` between), CDF `cs[i]` at its start and `ce[i]` at its end,
/// survival `se[i]` at its end. Segments without mass are left out.
#[derive(Debug, Clone, Default)]
pub(crate) struct PiecewiseTable {
    pub a: Vec<f64>,
    pub b: Vec<f64>,
    pub cs: Vec<f64>,
    pub ce: Vec<f64>,
    pub se: Vec<f64>,
    pub fa: Vec<f64>,
    pub fb: Vec<f64>,
    pub slope: Vec<f64>,
}

/// The CPU's `linear_density_root`: the distance from a segment end at which a linear
/// density starting at `f0` with `slope` has accumulated mass `r`.
fn linear_density_root(f0: f64, slope: f64, r: f64) -> f64 {
    let discriminant = (f0 * f0 + 2.0 * slope * r).max(0.0);
    let denominator = f0 + discriminant.sqrt();
    if denominator > 0.0 {
        2.0 * r / denominator
    } else {
        0.0
    }
}

/// Neumaier-compensated running sums (the CPU's), starting with 0.
fn running_sums(terms: impl Iterator<Item = f64>) -> Vec<f64> {
    let (mut sum, mut compensation) = (0.0_f64, 0.0_f64);
    let mut out = vec![0.0];
    for term in terms {
        let t = sum + term;
        compensation += if sum.abs() >= term.abs() {
            (sum - t) + term
        } else {
            (term - t) + sum
        };
        sum = t;
        out.push(sum + compensation);
    }
    out
}

impl PiecewiseTable {
    pub(crate) fn len(&self) -> usize {
        self.a.len()
    }

    /// Eight blocks of `len()` f32 words: a, b, cs, ce, se, fa, fb, slope.
    pub(crate) fn words(&self) -> Vec<f32> {
        [
            &self.a,
            &self.b,
            &self.cs,
            &self.ce,
            &self.se,
            &self.fa,
            &self.fb,
            &self.slope,
        ]
        .iter()
        .flat_map(|block| block.iter().map(|&x| x as f32))
        .collect()
    }

    /// The f64 mirror of `piecewise_table` in `distributions.wgsl`.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn sample(&self, u: f64, v: f64) -> f64 {
        let w: Vec<f64> = self.words().iter().map(|&x| f64::from(x)).collect();
        let n = self.len();
        let lower = u <= 0.5;
        let (mut lo, mut hi) = (0usize, n - 1);
        while lo < hi {
            let mid = (lo + hi) / 2;
            let found = if lower {
                w[3 * n + mid] >= u
            } else {
                w[4 * n + mid] <= v
            };
            if found {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        let (a, b) = (w[lo], w[n + lo]);
        let (fa, fb, slope) = (w[5 * n + lo], w[6 * n + lo], w[7 * n + lo]);
        let x = if lower {
            a + linear_density_root(fa, slope, (u - w[2 * n + lo]).max(0.0))
        } else {
            b - linear_density_root(fb, -slope, (v - w[4 * n + lo]).max(0.0))
        };
        x.clamp(a, b)
    }
}

/// Builds the segments of a table family (`min`, `max` its parameters), truncated to the
/// base-scale window `[lower, upper]` and shifted by `shift`, as the CPU defines them.
pub(crate) fn piecewise_table(
    family: &Family,
    min: f64,
    max: f64,
    lower: f64,
    upper: f64,
    shift: f64,
) -> Result<PiecewiseTable, String> {
    // (a, b, fa, fb, mass) per segment, as the CPU's constructors compute them.
    let mut segments: Vec<(f64, f64, f64, f64, f64)> = Vec::new();
    let mut cumulative: Option<Vec<f64>> = None;
    match family {
        Family::Cumul { xs, ps } => {
            let knots: Vec<f64> = std::iter::once(min)
                .chain(xs.iter().copied())
                .chain(std::iter::once(max))
                .collect();
            let cdf: Vec<f64> = std::iter::once(0.0)
                .chain(ps.iter().copied())
                .chain(std::iter::once(1.0))
                .collect();
            for j in 1..knots.len() {
                let mass = cdf[j] - cdf[j - 1];
                let f = mass / (knots[j] - knots[j - 1]);
                segments.push((knots[j - 1], knots[j], f, f, mass));
            }
            cumulative = Some(cdf);
        }
        Family::Histogram { probabilities } => {
            let bins = probabilities.len();
            let total: f64 = probabilities.iter().sum();
            let width = max - min;
            let x = |i: usize| {
                if i == bins {
                    max
                } else {
                    min + width * (i as f64 / bins as f64)
                }
            };
            for (i, p) in probabilities.iter().enumerate() {
                let mass = p / total;
                let f = mass / (x(i + 1) - x(i));
                segments.push((x(i), x(i + 1), f, f, mass));
            }
        }
        Family::General { xs, densities } => {
            let knots: Vec<f64> = std::iter::once(min)
                .chain(xs.iter().copied())
                .chain(std::iter::once(max))
                .collect();
            let density: Vec<f64> = std::iter::once(0.0)
                .chain(densities.iter().copied())
                .chain(std::iter::once(0.0))
                .collect();
            let areas: Vec<f64> = (1..knots.len())
                .map(|j| 0.5 * (density[j - 1] + density[j]) * (knots[j] - knots[j - 1]))
                .collect();
            let total: f64 = areas.iter().sum();
            for j in 1..knots.len() {
                segments.push((
                    knots[j - 1],
                    knots[j],
                    density[j - 1] / total,
                    density[j] / total,
                    areas[j - 1] / total,
                ));
            }
        }
        other => return Err(format!("{} is not a table family", other.risk_name())),
    }
    if segments.is_empty()
        || segments
            .iter()
            .any(|s| !(s.0 < s.1 && s.2.is_finite() && s.3.is_finite() && s.4.is_finite()))
    {
        return Err("its table is not valid".to_owned());
    }
    let truncated = lower > min || upper < max;
    if truncated {
        // Clip each segment to the window; the density stays linear on the clipped piece.
        let mut clipped = Vec::new();
        for &(a, b, fa, fb, _) in &segments {
            let (lo, hi) = (a.max(lower), b.min(upper));
            if hi <= lo {
                continue;
            }
            let at = |x: f64| fa + (fb - fa) * ((x - a) / (b - a));
            let (f0, f1) = (at(lo), at(hi));
            clipped.push((lo, hi, f0, f1, 0.5 * (f0 + f1) * (hi - lo)));
        }
        let total: f64 = clipped.iter().map(|s| s.4).sum();
        if !(total > 0.0 && total.is_finite()) {
            return Err("the truncation leaves no probability mass".to_owned());
        }
        segments = clipped
            .into_iter()
            .map(|(a, b, fa, fb, m)| (a, b, fa / total, fb / total, m / total))
            .collect();
        cumulative = None;
    }
    let (cdf, sf) = match cumulative {
        // RiskCumul's CDF is the table itself and its survival function 1 - CDF.
        Some(cdf) => {
            let sf = cdf.iter().map(|c| 1.0 - c).collect();
            (cdf, sf)
        }
        None => {
            let cdf = running_sums(segments.iter().map(|s| s.4));
            let mut sf = running_sums(segments.iter().rev().map(|s| s.4));
            sf.reverse();
            (cdf, sf)
        }
    };
    let mut table = PiecewiseTable::default();
    for (j, &(a, b, fa, fb, mass)) in segments.iter().enumerate() {
        if mass <= 0.0 {
            continue;
        }
        table.a.push(a + shift);
        table.b.push(b + shift);
        table.cs.push(cdf[j]);
        table.ce.push(cdf[j + 1]);
        table.se.push(sf[j + 1]);
        table.fa.push(fa);
        table.fb.push(fb);
        table.slope.push((fb - fa) / (b - a));
    }
    match (table.ce.last_mut(), table.se.last_mut()) {
        (Some(ce), Some(se)) => {
            // The last segment takes every u above the previous ones.
            *ce = ce.max(1.0);
            *se = se.min(0.0);
        }
        _ => return Err("its table has no probability mass".to_owned()),
    }
    Ok(table)
}

#[cfg(test)]
mod tests {
    //! Host-side accuracy of the tables: the f64 mirrors of the WGSL evaluation against
    //! the CPU's `inverse_cdf`, on probabilities log-spaced from 1e-12 to 1/2 in both tails
    //! plus pseudo-random ones.

    use super::*;

    /// Probabilities of the check: 1e-12 .. 1/2 log-spaced (25 a decade) in the lower
    /// tail, the same `1 - p` in the upper tail, and 2000 pseudo-random ones.
    fn grid() -> Vec<f64> {
        let mut ps = Vec::new();
        for i in 0..=300 {
            let p = 10f64.powf(-12.0 + f64::from(i) * (12.0 - 2f64.log10()) / 300.0);
            ps.push(p);
            ps.push(1.0 - p);
        }
        for i in 0..2000u64 {
            ps.push(ultra_engine::rng::uniform_open(7, 3, i, 0));
        }
        ps
    }

    fn input(
        family: Family,
        params: &[f64],
        lower: Option<f64>,
        upper: Option<f64>,
        shift: Option<f64>,
    ) -> InputDistribution {
        let base = Distribution::new(&family, params).expect("valid parameters");
        InputDistribution::new(base, lower, upper, shift).expect("valid window")
    }

    /// A continuous case: name, family, parameters, lower, upper, shift, triangular mode.
    type Case = (
        &'static str,
        Family,
        Vec<f64>,
        Option<f64>,
        Option<f64>,
        Option<f64>,
        Option<f64>,
    );

    /// Every family without a closed form, skewed and heavy-tailed shapes, truncations
    /// (one deep in a tail, one across a triangular mode) and shifts.
    fn continuous_cases() -> Vec<Case> {
        use Family::*;
        vec![
            ("beta(2,3)", Beta, vec![2.0, 3.0], None, None, None, None),
            (
                "beta(0.5,0.5)",
                Beta,
                vec![0.5, 0.5],
                None,
                None,
                None,
                None,
            ),
            ("beta(0.3,5)", Beta, vec![0.3, 5.0], None, None, None, None),
            (
                "beta(40,0.2)",
                Beta,
                vec![40.0, 0.2],
                None,
                None,
                None,
                None,
            ),
            (
                "betageneral(2,5,10,20)",
                BetaGeneral,
                vec![2.0, 5.0, 10.0, 20.0],
                None,
                None,
                None,
                None,
            ),
            (
                "betageneral(0.5,2,-1,1)",
                BetaGeneral,
                vec![0.5, 2.0, -1.0, 1.0],
                None,
                None,
                None,
                None,
            ),
            (
                "pert(0,3,10)",
                Pert,
                vec![0.0, 3.0, 10.0],
                None,
                None,
                None,
                None,
            ),
            (
                "pert(100,101,130,8)",
                Pert,
                vec![100.0, 101.0, 130.0, 8.0],
                None,
                None,
                None,
                None,
            ),
            ("gamma(2,1)", Gamma, vec![2.0, 1.0], None, None, None, None),
            (
                "gamma(0.1,3)",
                Gamma,
                vec![0.1, 3.0],
                None,
                None,
                None,
                None,
            ),
            (
                "gamma(400,0.01)",
                Gamma,
                vec![400.0, 0.01],
                None,
                None,
                None,
                None,
            ),
            (
                "erlang(3,2)",
                Erlang,
                vec![3.0, 2.0],
                None,
                None,
                None,
                None,
            ),
            ("chisq(1)", ChiSq, vec![1.0], None, None, None, None),
            ("chisq(7)", ChiSq, vec![7.0], None, None, None, None),
            ("student(1)", Student, vec![1.0], None, None, None, None),
            ("student(0.7)", Student, vec![0.7], None, None, None, None),
            (
                "student(3)+100",
                Student,
                vec![3.0],
                None,
                None,
                Some(100.0),
                None,
            ),
            ("student(30)", Student, vec![30.0], None, None, None, None),
            (
                "normal(0,1)[-1,2]",
                Normal,
                vec![0.0, 1.0],
                Some(-1.0),
                Some(2.0),
                None,
                None,
            ),
            (
                "normal(0,1)[4,]",
                Normal,
                vec![0.0, 1.0],
                Some(4.0),
                None,
                None,
                None,
            ),
            (
                "lognorm(10,5)[,20]+3",
                Lognormal,
                vec![10.0, 5.0],
                None,
                Some(20.0),
                Some(3.0),
                None,
            ),
            (
                "triang(0,2,10)[1,9]",
                Triang,
                vec![0.0, 2.0, 10.0],
                Some(1.0),
                Some(9.0),
                None,
                Some(2.0),
            ),
            (
                "uniform(-5,5)[0,]",
                Uniform,
                vec![-5.0, 5.0],
                Some(0.0),
                None,
                None,
                None,
            ),
            (
                "expon(2)[1,]+1",
                Expon,
                vec![2.0],
                Some(1.0),
                None,
                Some(1.0),
                None,
            ),
            (
                "gamma(0.5,1)[,3]",
                Gamma,
                vec![0.5, 1.0],
                None,
                Some(3.0),
                None,
                None,
            ),
            (
                "beta(2,2)[0.2,0.9]",
                Beta,
                vec![2.0, 2.0],
                Some(0.2),
                Some(0.9),
                None,
                None,
            ),
            (
                "student(2)[-50,1e3]",
                Student,
                vec![2.0],
                Some(-50.0),
                Some(1e3),
                None,
                None,
            ),
        ]
    }

    #[test]
    fn quantile_tables_meet_the_tolerance() {
        let ps = grid();
        let mut report = Vec::new();
        for (name, family, params, lower, upper, shift, mode) in continuous_cases() {
            let d = input(family, &params, lower, upper, shift);
            let s = shift.unwrap_or(0.0);
            let window = (lower.is_some() || upper.is_some()).then(|| {
                let (f_lower, f_upper) = window(d.base(), lower, upper, s);
                (f_lower, f_upper - f_lower)
            });
            let target = ContinuousTarget {
                input: &d,
                window,
                kink: mode.map(|m| d.cdf(m + s)),
                shift: s,
            };
            let started = std::time::Instant::now();
            let table = quantile_table(&target).unwrap_or_else(|e| panic!("{name}: no table: {e}"));
            let built = started.elapsed();
            let scale = target.scale();
            let (mut worst, mut worst_p, mut worst_rel) = (0.0f64, 0.5, 0.0f64);
            for &p in &ps {
                let x = d.inverse_cdf(p);
                let got = table.sample(p, 1.0 - p);
                let tolerance = target.tolerance(p, x, scale);
                let ratio = (got - x).abs() / tolerance;
                let ratio = if ratio.is_nan() { f64::INFINITY } else { ratio };
                if ratio > worst {
                    worst = ratio;
                    worst_p = p;
                }
                worst_rel = worst_rel.max((got - x).abs() / x.abs().max(scale / SCALE_FLOOR));
            }
            report.push(format!(
                "{name:24} level {} ({:5} intervals, built in {built:.2?}): worst {worst:.3} \
                 x tolerance at p = {worst_p:.3e}; worst |err| / max(|x|, IQR) {worst_rel:.2e}",
                table.level,
                table.intervals()
            ));
            eprintln!("{}", report.last().map_or("", |s| s.as_str()));
            if worst > 1.0 {
                let z = z_of(worst_p);
                let s = (z - f64::from(table.anchor)) * table.scale();
                let k = s.floor();
                let i = (k - f64::from(table.k_min)) as usize * INTERVAL_WORDS;
                eprintln!(
                    "z {z} interval {k} words {:?} built worst {}",
                    &table.words[i..i + 6],
                    table.worst
                );
                for j in 0..=20 {
                    let zz = (k + f64::from(j) / 20.0) / table.scale() + f64::from(table.anchor);
                    let (zs, p) = snap(zz);
                    let x = d.inverse_cdf(p);
                    let got = table.at_z(zs);
                    let tol = RELATIVE_TOLERANCE * x.abs().max(scale);
                    eprintln!(
                        "  t {:.3} x {x} got {got} ratio {}",
                        (zs - f64::from(table.anchor)) * table.scale() - k,
                        (got - x).abs() / tol
                    );
                }
            }
            assert!(
                worst <= 1.0,
                "{name}: error {worst} x tolerance at p = {worst_p}"
            );
        }
        eprintln!("{}", report.join("\n"));
    }

    /// A discrete case: name, family, parameters, lower, upper, shift.
    type StepCase = (
        &'static str,
        Family,
        Vec<f64>,
        Option<f64>,
        Option<f64>,
        Option<f64>,
    );

    /// A table case: name, family, [min, max], lower, upper, shift.
    type PiecewiseCase = (
        &'static str,
        Family,
        [f64; 2],
        Option<f64>,
        Option<f64>,
        Option<f64>,
    );

    /// Equal to the CPU except where the uniform lies within f32 rounding of a step.
    #[test]
    fn step_tables_match_the_cpu() {
        use Family::*;
        let discrete = Discrete {
            values: vec![-1.5, 0.0, 2.5, 10.0],
            weights: vec![1.0, 3.0, 0.5, 1e-9],
        };
        let cases: Vec<StepCase> = vec![
            ("poisson(3.5)", Poisson, vec![3.5], None, None, None),
            ("poisson(2e4)", Poisson, vec![2e4], None, None, None),
            (
                "binomial(40,0.3)",
                Binomial,
                vec![40.0, 0.3],
                None,
                None,
                None,
            ),
            ("negbin(3,0.4)", NegBin, vec![3.0, 0.4], None, None, None),
            ("geomet(0.2)", Geometric, vec![0.2], None, None, None),
            (
                "intuniform(-3,7)",
                IntUniform,
                vec![-3.0, 7.0],
                None,
                None,
                None,
            ),
            ("bernoulli(0.3)", Bernoulli, vec![0.3], None, None, None),
            ("discrete", discrete, vec![], None, None, Some(1.0)),
            (
                "poisson(6)[3,9]+0.5",
                Poisson,
                vec![6.0],
                Some(3.5),
                Some(9.5),
                Some(0.5),
            ),
            (
                "binomial(100,0.5)[60,]",
                Binomial,
                vec![100.0, 0.5],
                Some(60.0),
                None,
                None,
            ),
        ];
        let ps = grid();
        for (name, family, params, lower, upper, shift) in cases {
            let d = input(family, &params, lower, upper, shift);
            let table = step_table(&d, lower, upper, shift.unwrap_or(0.0), 1 << 20)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            let mut near_step = 0;
            for &p in &ps {
                let (u, v) = (p as f32, (1.0 - p) as f32);
                let got = table.sample(u, v);
                let want = d.inverse_cdf(p) as f32;
                if got != want {
                    let tie = table.cdf.iter().any(|&c| (c - p).abs() <= 1e-7 * p)
                        || table
                            .sf
                            .iter()
                            .any(|&s| (s - (1.0 - p)).abs() <= 1e-7 * (1.0 - p));
                    assert!(tie, "{name}: p = {p}: table {got}, cpu {want}");
                    near_step += 1;
                }
            }
            eprintln!(
                "{name:24} {:6} points, {near_step} mismatches at steps",
                table.len()
            );
            assert!(near_step <= 2, "{name}: {near_step} mismatches");
        }
    }

    #[test]
    fn step_tables_refuse_huge_supports() {
        let d = input(Family::Poisson, &[1e13], None, None, None);
        let error = step_table(&d, None, None, 0.0, 1 << 20).unwrap_err();
        assert!(error.contains("table limit"), "{error}");
    }

    #[test]
    fn piecewise_tables_match_the_cpu() {
        let cumul = Family::Cumul {
            xs: vec![1.0, 2.0, 2.5, 7.0],
            ps: vec![0.1, 0.1, 0.6, 0.99],
        };
        let histogram = Family::Histogram {
            probabilities: vec![1.0, 0.0, 4.0, 2.0, 1e-6],
        };
        let general = Family::General {
            xs: vec![0.5, 3.0, 4.0],
            densities: vec![2.0, 1.0, 3.0],
        };
        let cases: Vec<PiecewiseCase> = vec![
            ("cumul", cumul.clone(), [0.0, 10.0], None, None, None),
            (
                "cumul[3.5,10]+2",
                cumul,
                [0.0, 10.0],
                Some(3.5),
                Some(10.0),
                Some(2.0),
            ),
            ("histogrm", histogram.clone(), [-5.0, 5.0], None, None, None),
            (
                "histogrm[-4,]",
                histogram,
                [-5.0, 5.0],
                Some(-4.0),
                None,
                None,
            ),
            ("general", general.clone(), [0.0, 6.0], None, None, None),
            (
                "general[0,2.5]-1",
                general,
                [0.0, 6.0],
                Some(0.0),
                Some(2.5),
                Some(-1.0),
            ),
        ];
        let ps = grid();
        for (name, family, [min, max], lower, upper, shift) in cases {
            let d = input(family.clone(), &[min, max], lower, upper, shift);
            let s = shift.unwrap_or(0.0);
            let table = piecewise_table(
                &family,
                min,
                max,
                lower.map_or(f64::NEG_INFINITY, |l| l - s),
                upper.map_or(f64::INFINITY, |u| u - s),
                s,
            )
            .unwrap_or_else(|e| panic!("{name}: {e}"));
            let range = max - min;
            let mut worst = 0.0f64;
            for &p in &ps {
                let x = d.inverse_cdf(p);
                let got = table.sample(p, 1.0 - p);
                worst = worst.max((got - x).abs() / x.abs().max(range));
            }
            eprintln!(
                "{name:24} {:3} segments: worst |err| / max(|x|, range) {worst:.2e}",
                table.len()
            );
            assert!(worst <= 1e-6, "{name}: {worst}");
        }
    }
}
