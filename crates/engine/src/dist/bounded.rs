//! Truncation (`RiskTruncate`) and shift (`RiskShift`) around any distribution.
//!
//! A value is `base + shift`, conditioned on lying in `[lower, upper]` (bounds in the
//! shifted scale, as the user sees values). Sampling inverts the base CDF on the
//! sub-interval of probabilities `[F(lower - shift), F(upper - shift)]`, so one uniform
//! still gives one value (LHS strata and copula ranks are preserved).
//!
//! Limits: the bounds are located through the base CDF in f64, so a truncation window
//! deep in the *upper* tail (base mass above `lower` below ~1e-10) loses relative precision
//! (the trait offers no inverse survival function); windows in the lower tail are exact.

use super::{Distribution, DistributionError, Univariate, finite};

/// Where the truncation window lies, in the base (unshifted) scale.
#[derive(Debug, Clone, PartialEq)]
struct Window {
    lower: f64,
    upper: f64,
    /// Base CDF just below `lower` (discrete) or at `lower` (continuous).
    cdf_lower: f64,
    /// Base CDF at `upper`.
    cdf_upper: f64,
    /// Smallest probability to invert: for discrete bases the one that lands on the first
    /// support point at or above `lower`.
    p_min: f64,
}

/// A model input: a base distribution, optionally truncated to `[lower, upper]` (in the
/// shifted scale, as the user sees values) and shifted by `shift`.
#[derive(Debug, Clone, PartialEq)]
pub struct InputDistribution {
    base: Distribution,
    shift: f64,
    window: Option<Window>,
    /// No shift and no truncation: sampling is the base's.
    plain: bool,
}

/// The largest f64 below 1, and the smallest normal above 0: probabilities passed to the
/// base never reach 0 or 1 (where quantiles may be infinite).
const BELOW_ONE: f64 = 1.0 - f64::EPSILON / 2.0;

impl InputDistribution {
    /// `lower`/`upper` of `None` (or infinite) leave that side open; `shift` of `None` is 0.
    /// Errors: a non-finite shift, NaN bounds, `lower > upper`, or a window without mass.
    pub fn new(
        base: Distribution,
        lower: Option<f64>,
        upper: Option<f64>,
        shift: Option<f64>,
    ) -> Result<Self, DistributionError> {
        let shift = finite("RiskShift", "shift", shift.unwrap_or(0.0))?;
        let lower_bound = lower.unwrap_or(f64::NEG_INFINITY);
        let upper_bound = upper.unwrap_or(f64::INFINITY);
        let empty = DistributionError::EmptyTruncation {
            lower: lower_bound,
            upper: upper_bound,
        };
        if lower_bound.is_nan() || upper_bound.is_nan() || lower_bound > upper_bound {
            return Err(empty);
        }
        let window = if lower_bound == f64::NEG_INFINITY && upper_bound == f64::INFINITY {
            None
        } else {
            let lower = lower_bound - shift;
            let upper = upper_bound - shift;
            let discrete = base.is_discrete();
            let cdf_lower = if lower == f64::NEG_INFINITY {
                0.0
            } else if discrete {
                // P(X < lower): keeps `lower` itself possible.
                base.cdf(lower.next_down())
            } else {
                base.cdf(lower)
            };
            let cdf_upper = if upper == f64::INFINITY {
                1.0
            } else {
                base.cdf(upper)
            };
            let mass = cdf_upper - cdf_lower;
            if mass.is_nan() || mass <= 0.0 {
                return Err(empty);
            }
            let p_min = if discrete {
                cdf_lower.next_up()
            } else {
                cdf_lower
            };
            Some(Window {
                lower,
                upper,
                cdf_lower,
                cdf_upper,
                p_min,
            })
        };
        let plain = window.is_none() && shift == 0.0;
        Ok(InputDistribution {
            base,
            shift,
            window,
            plain,
        })
    }

    /// The untruncated, unshifted distribution.
    pub fn base(&self) -> &Distribution {
        &self.base
    }

    fn truncated_quantile(&self, window: &Window, p: f64) -> f64 {
        let mass = window.cdf_upper - window.cdf_lower;
        let t = (window.cdf_lower + p * mass)
            .max(window.p_min)
            .min(window.cdf_upper)
            .clamp(f64::MIN_POSITIVE, BELOW_ONE);
        self.base.inverse_cdf(t).clamp(window.lower, window.upper)
    }
}

impl Univariate for InputDistribution {
    #[inline]
    fn inverse_cdf(&self, p: f64) -> f64 {
        if self.plain {
            return self.base.inverse_cdf(p);
        }
        match &self.window {
            None => self.base.inverse_cdf(p) + self.shift,
            Some(window) => self.truncated_quantile(window, p) + self.shift,
        }
    }
    fn cdf(&self, x: f64) -> f64 {
        let y = x - self.shift;
        match &self.window {
            None => self.base.cdf(y),
            Some(w) if y < w.lower => 0.0,
            Some(w) if y >= w.upper => 1.0,
            Some(w) => {
                ((self.base.cdf(y) - w.cdf_lower) / (w.cdf_upper - w.cdf_lower)).clamp(0.0, 1.0)
            }
        }
    }
    /// Closed form without truncation; with it, see [`truncated_moments`].
    fn mean(&self) -> f64 {
        match &self.window {
            None => self.base.mean() + self.shift,
            Some(window) => truncated_moments(self, window).0 + self.shift,
        }
    }
    fn variance(&self) -> f64 {
        match &self.window {
            None => self.base.variance(),
            Some(window) => truncated_moments(self, window).1,
        }
    }
    fn is_discrete(&self) -> bool {
        self.base.is_discrete()
    }
}

/// Most support points a discrete truncated mean visits before switching to quadrature.
const MAX_STEPS: usize = 100_000;

/// Mean and variance of the truncated, unshifted distribution.
///
/// * Discrete bases: exact sums over the support points in the window, walked with
///   `inverse_cdf(next_up(F(k)))`, weights from CDF differences, weighted Welford updates
///   (West 1979). Relative accuracy ~1e-14. Windows with more than 100 000 points use
///   the quadrature below.
/// * Continuous bases: `E[g(X)] = int_0^1 g(Q(F_lo + u (F_hi - F_lo))) du` by tanh-sinh
///   quadrature (Takahasi & Mori 1974) with step 1/32 (~390 quantile evaluations), which
///   absorbs the endpoint singularities of unbounded quantile functions. Relative accuracy
///   ~1e-12 for quantile functions analytic inside (0, 1) (normal, gamma, lognormal, ...),
///   ~1e-6 when the quantile function has kinks (a density that jumps).
/// * Table laws (cumulative, histogram, general): exact, piece by piece. Tail mass closer to 1 than 1e-16 is
///   ignored, so infinite-variance laws (Pareto with shape <= 2) report a finite value.
fn truncated_moments(input: &InputDistribution, window: &Window) -> (f64, f64) {
    let base = &input.base;
    let (lower, upper) = (window.lower, window.upper);
    match base {
        Distribution::Cumulative(d) => return d.moments_within(lower, upper),
        Distribution::Histogram(d) => return d.moments_within(lower, upper),
        Distribution::General(d) => return d.moments_within(lower, upper),
        _ => {}
    }
    if base.is_discrete() {
        let (mut k, mut previous) = (base.inverse_cdf(window.p_min), window.cdf_lower);
        let (mut total, mut mean, mut sum_sq) = (0.0_f64, 0.0_f64, 0.0_f64);
        for _ in 0..MAX_STEPS {
            let c = base.cdf(k).min(window.cdf_upper);
            let w = c - previous;
            if w > 0.0 {
                total += w;
                let d = k - mean;
                mean += w / total * d;
                sum_sq += w * d * (k - mean);
            }
            previous = c;
            if c >= window.cdf_upper {
                return (mean, sum_sq / total);
            }
            let next = base.inverse_cdf(c.next_up());
            if next.is_nan() || next <= k || next > window.upper {
                return (mean, sum_sq / total);
            }
            k = next;
        }
    }
    quadrature_moments(input, window)
}

fn quadrature_moments(input: &InputDistribution, window: &Window) -> (f64, f64) {
    const STEP: f64 = 1.0 / 32.0;
    const LAST: i32 = 196; // sinh(196 / 32) * pi > 700: the weights are below 1e-300 beyond.
    let mass = window.cdf_upper - window.cdf_lower;
    let mut nodes: Vec<(f64, f64)> = Vec::with_capacity(2 * LAST as usize + 1);
    for k in -LAST..=LAST {
        let s = f64::from(k) * STEP;
        // u = 1/2 (1 + tanh(pi/2 sinh s)); delta = distance of u from the nearer end.
        let delta = 1.0 / (1.0 + (std::f64::consts::PI * s.abs().sinh()).exp());
        let weight = STEP * std::f64::consts::PI * s.cosh() * delta * (1.0 - delta);
        let p = if k < 0 {
            window.cdf_lower + mass * delta
        } else {
            window.cdf_upper - mass * delta
        };
        if !(p > 0.0 && p < 1.0 && weight > 0.0) {
            continue;
        }
        let x = input.base.inverse_cdf(p).clamp(window.lower, window.upper);
        if x.is_finite() {
            nodes.push((x, weight));
        }
    }
    let total: f64 = nodes.iter().map(|(_, w)| w).sum();
    let mean = nodes.iter().map(|(x, w)| w * x).sum::<f64>() / total;
    let variance = nodes
        .iter()
        .map(|(x, w)| w * (x - mean).powi(2))
        .sum::<f64>()
        / total;
    (mean, variance)
}

#[cfg(test)]
mod tests;
