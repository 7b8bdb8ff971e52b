//! Table distributions (`RiskCumul`, `RiskGeneral`, `RiskHistogrm`) and `RiskTrigen`.
//!
//! All three tables are piecewise on knots `min = x_0 < x_1 < ... < x_m = max`, with the
//! CDF and the survival function at the knots accumulated with compensated sums. Inverse
//! CDFs are exact up to rounding: within a segment the CDF is linear (cumulative,
//! histogram) or quadratic (general), and is inverted in closed form. For p > 1/2 the
//! segment is found and solved from its right end with `1 - p` against the survival
//! function, so that upper-tail quantiles keep full relative precision near `max`.
//! Accuracy: |x - exact| <= a few ulps of `max(|x|, max - min)` (tested against mpmath in
//! `tests/discrete_quantiles.rs`).

mod trigen;

use super::{DistributionError, Univariate, outside_unit};
pub use trigen::trigen;

fn table_error(family: &'static str, reason: impl Into<String>) -> DistributionError {
    DistributionError::InvalidTable {
        family,
        reason: reason.into(),
    }
}

/// Checks `min < max` (finite) and that `xs` is strictly increasing strictly inside
/// `(min, max)` with as many entries as `ys`; returns the knots `[min, xs..., max]`.
fn knots(
    family: &'static str,
    min: f64,
    max: f64,
    xs: &[f64],
    ys_len: usize,
) -> Result<Vec<f64>, DistributionError> {
    if !(min.is_finite() && max.is_finite() && min < max) {
        return Err(table_error(
            family,
            format!("need finite min < max, got [{min}, {max}]"),
        ));
    }
    if xs.len() != ys_len {
        return Err(table_error(
            family,
            format!("{} x values but {} y values", xs.len(), ys_len),
        ));
    }
    let mut all = Vec::with_capacity(xs.len() + 2);
    all.push(min);
    all.extend_from_slice(xs);
    all.push(max);
    for pair in all.windows(2) {
        // Also rejects NaN.
        if pair[0].partial_cmp(&pair[1]) != Some(std::cmp::Ordering::Less) {
            return Err(table_error(
                family,
                format!(
                    "x values must increase strictly inside (min, max): {} then {}",
                    pair[0], pair[1]
                ),
            ));
        }
    }
    Ok(all)
}

/// Neumaier-compensated running sums, starting with 0.
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

/// CDF and survival values at the knots from segment masses summing to 1.
fn cdf_and_sf(masses: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let cdf = running_sums(masses.iter().copied());
    let mut sf = running_sums(masses.iter().rev().copied());
    sf.reverse();
    (cdf, sf)
}

/// The segment `j` (knots `j - 1`, `j`) holding the p-quantile: for p <= 1/2 the first knot
/// with `cdf >= p`, above it the first with `sf <= 1 - p`. Always in `1..knots`.
#[inline]
fn segment(cdf: &[f64], sf: &[f64], p: f64) -> usize {
    let last = cdf.len() - 1;
    let j = if p <= 0.5 {
        cdf.partition_point(|&c| c < p)
    } else {
        sf.partition_point(|&s| s > 1.0 - p)
    };
    j.clamp(1, last)
}

/// A continuous distribution whose CDF is linear between knots (cumulative and histogram).
#[derive(Debug, Clone, PartialEq)]
struct PiecewiseLinearCdf {
    xs: Vec<f64>,
    cdf: Vec<f64>,
    sf: Vec<f64>,
}

impl PiecewiseLinearCdf {
    fn inverse_cdf(&self, p: f64) -> f64 {
        let last = self.xs.len() - 1;
        if let Some(x) = outside_unit(p, self.xs[0], self.xs[last]) {
            return x;
        }
        let j = segment(&self.cdf, &self.sf, p);
        let (a, b) = (self.xs[j - 1], self.xs[j]);
        let x = if p <= 0.5 {
            a + (p - self.cdf[j - 1]) / (self.cdf[j] - self.cdf[j - 1]) * (b - a)
        } else {
            b - ((1.0 - p) - self.sf[j]) / (self.sf[j - 1] - self.sf[j]) * (b - a)
        };
        x.clamp(a, b)
    }

    fn cdf(&self, x: f64) -> f64 {
        let last = self.xs.len() - 1;
        if x.is_nan() {
            return f64::NAN;
        }
        if x <= self.xs[0] {
            return 0.0;
        }
        if x >= self.xs[last] {
            return 1.0;
        }
        let j = self.xs.partition_point(|&k| k <= x).clamp(1, last);
        let (a, b) = (self.xs[j - 1], self.xs[j]);
        self.cdf[j - 1] + (x - a) / (b - a) * (self.cdf[j] - self.cdf[j - 1])
    }

    /// Mean and variance conditional on `[lower, upper]`: each segment, clipped to the
    /// window, is a uniform piece, so both are exact (two passes, no cancellation).
    fn moments_within(&self, lower: f64, upper: f64) -> (f64, f64) {
        let pieces = || {
            self.xs
                .windows(2)
                .zip(self.cdf.windows(2))
                .filter_map(move |(x, c)| {
                    let (a, b) = (x[0].max(lower), x[1].min(upper));
                    (b > a).then(|| (a, b, (c[1] - c[0]) * (b - a) / (x[1] - x[0])))
                })
        };
        let mass: f64 = pieces().map(|(_, _, m)| m).sum();
        let mean: f64 = pieces().map(|(a, b, m)| m * 0.5 * (a + b)).sum::<f64>() / mass;
        let variance: f64 = pieces()
            .map(|(a, b, m)| m * ((0.5 * (a + b) - mean).powi(2) + (b - a).powi(2) / 12.0))
            .sum::<f64>()
            / mass;
        (mean, variance)
    }
}

/// `RiskCumul(min, max, xs, ps)`: the CDF is linear through `(min, 0)`, `(xs[i], ps[i])`,
/// `(max, 1)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Cumulative {
    table: PiecewiseLinearCdf,
    mean: f64,
    variance: f64,
}

impl Cumulative {
    pub fn new(min: f64, max: f64, xs: &[f64], ps: &[f64]) -> Result<Self, DistributionError> {
        const FAMILY: &str = "RiskCumul";
        let knots = knots(FAMILY, min, max, xs, ps.len())?;
        let mut cdf = Vec::with_capacity(knots.len());
        cdf.push(0.0);
        for &p in ps {
            if !(0.0..=1.0).contains(&p) {
                return Err(table_error(
                    FAMILY,
                    format!("probability {p} is not in [0, 1]"),
                ));
            }
            if p < cdf[cdf.len() - 1] {
                return Err(table_error(FAMILY, "probabilities must not decrease"));
            }
            cdf.push(p);
        }
        cdf.push(1.0);
        let sf = cdf.iter().map(|c| 1.0 - c).collect();
        let table = PiecewiseLinearCdf { xs: knots, cdf, sf };
        let (mean, variance) = table.moments_within(min, max);
        Ok(Cumulative {
            table,
            mean,
            variance,
        })
    }
}

impl Cumulative {
    /// Mean and variance conditional on `[lower, upper]`, exact (for truncation).
    pub(crate) fn moments_within(&self, lower: f64, upper: f64) -> (f64, f64) {
        self.table.moments_within(lower, upper)
    }
}

impl Univariate for Cumulative {
    #[inline]
    fn inverse_cdf(&self, p: f64) -> f64 {
        self.table.inverse_cdf(p)
    }
    fn cdf(&self, x: f64) -> f64 {
        self.table.cdf(x)
    }
    fn mean(&self) -> f64 {
        self.mean
    }
    fn variance(&self) -> f64 {
        self.variance
    }
}

/// `RiskHistogrm(min, max, probabilities)`: equal-width bins on `[min, max]`, uniform
/// within each bin, bin probabilities proportional to `probabilities`.
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    table: PiecewiseLinearCdf,
    mean: f64,
    variance: f64,
}

impl Histogram {
    pub fn new(min: f64, max: f64, probabilities: &[f64]) -> Result<Self, DistributionError> {
        const FAMILY: &str = "RiskHistogrm";
        if !(min.is_finite() && max.is_finite() && min < max) {
            return Err(table_error(
                FAMILY,
                format!("need finite min < max, got [{min}, {max}]"),
            ));
        }
        if probabilities.is_empty() {
            return Err(table_error(FAMILY, "no bins"));
        }
        if let Some(p) = probabilities
            .iter()
            .find(|p| !(p.is_finite() && **p >= 0.0))
        {
            return Err(table_error(
                FAMILY,
                format!("probability {p} is not a finite non-negative number"),
            ));
        }
        let total: f64 = probabilities.iter().sum();
        if !(total > 0.0 && total.is_finite()) {
            return Err(table_error(
                FAMILY,
                "the probabilities must have a positive, finite sum",
            ));
        }
        let bins = probabilities.len();
        let width = max - min;
        let xs: Vec<f64> = (0..=bins)
            .map(|i| {
                if i == bins {
                    max
                } else {
                    min + width * (i as f64 / bins as f64)
                }
            })
            .collect();
        let masses: Vec<f64> = probabilities.iter().map(|p| p / total).collect();
        let (cdf, sf) = cdf_and_sf(&masses);
        let table = PiecewiseLinearCdf { xs, cdf, sf };
        let (mean, variance) = table.moments_within(min, max);
        Ok(Histogram {
            table,
            mean,
            variance,
        })
    }
}

impl Histogram {
    /// Mean and variance conditional on `[lower, upper]`, exact (for truncation).
    pub(crate) fn moments_within(&self, lower: f64, upper: f64) -> (f64, f64) {
        self.table.moments_within(lower, upper)
    }
}

impl Univariate for Histogram {
    #[inline]
    fn inverse_cdf(&self, p: f64) -> f64 {
        self.table.inverse_cdf(p)
    }
    fn cdf(&self, x: f64) -> f64 {
        self.table.cdf(x)
    }
    fn mean(&self) -> f64 {
        self.mean
    }
    fn variance(&self) -> f64 {
        self.variance
    }
}

/// `RiskGeneral(min, max, xs, densities)`: the density is linear through `(min, 0)`,
/// `(xs[i], densities[i])`, `(max, 0)`, normalised to integrate to 1.
#[derive(Debug, Clone, PartialEq)]
pub struct General {
    xs: Vec<f64>,
    /// Normalised densities at the knots.
    density: Vec<f64>,
    cdf: Vec<f64>,
    sf: Vec<f64>,
    mean: f64,
    variance: f64,
}

/// The distance t from a segment end at which a linear density starting at `f0` there with
/// slope `slope` (per unit of distance moving into the segment) has accumulated mass `r`:
/// the root of `slope t^2 / 2 + f0 t = r`, in the form `2 r / (f0 + sqrt(f0^2 + 2 slope r))`,
/// which has no cancellation (f0 >= 0) and stays exact as the slope goes to 0.
#[inline]
fn linear_density_root(f0: f64, slope: f64, r: f64) -> f64 {
    let discriminant = (f0 * f0 + 2.0 * slope * r).max(0.0);
    let denominator = f0 + discriminant.sqrt();
    if denominator > 0.0 {
        2.0 * r / denominator
    } else {
        0.0
    }
}

impl General {
    pub fn new(
        min: f64,
        max: f64,
        xs: &[f64],
        densities: &[f64],
    ) -> Result<Self, DistributionError> {
        const FAMILY: &str = "RiskGeneral";
        let knots = knots(FAMILY, min, max, xs, densities.len())?;
        if let Some(d) = densities.iter().find(|d| !(d.is_finite() && **d >= 0.0)) {
            return Err(table_error(
                FAMILY,
                format!("density {d} is not a finite non-negative number"),
            ));
        }
        let mut density = Vec::with_capacity(knots.len());
        density.push(0.0);
        density.extend_from_slice(densities);
        density.push(0.0);
        let areas: Vec<f64> = (1..knots.len())
            .map(|j| 0.5 * (density[j - 1] + density[j]) * (knots[j] - knots[j - 1]))
            .collect();
        let total: f64 = areas.iter().sum();
        if !(total > 0.0 && total.is_finite()) {
            return Err(table_error(
                FAMILY,
                "the densities must enclose a positive, finite area",
            ));
        }
        let density: Vec<f64> = density.iter().map(|d| d / total).collect();
        let masses: Vec<f64> = areas.iter().map(|a| a / total).collect();
        let (cdf, sf) = cdf_and_sf(&masses);
        let mut general = General {
            xs: knots,
            density,
            cdf,
            sf,
            mean: 0.0,
            variance: 0.0,
        };
        (general.mean, general.variance) = general.moments_within(min, max);
        Ok(general)
    }

    /// Mean and variance conditional on `[lower, upper]`, exact: each segment clipped to
    /// the window has a linear density from `fa` to `fb`, and
    /// `int x f = w (fa (2a + b) + fb (a + 2b)) / 6`; with `A = a - c`, `B = b - c`,
    /// `int (x - c)^2 f = w (fa (3A^2 + 2AB + B^2) + fb (A^2 + 2AB + 3B^2)) / 12`.
    pub(crate) fn moments_within(&self, lower: f64, upper: f64) -> (f64, f64) {
        let segments = || {
            (1..self.xs.len()).filter_map(move |j| {
                let (a0, b0) = (self.xs[j - 1], self.xs[j]);
                let (f0, f1) = (self.density[j - 1], self.density[j]);
                let at = |x: f64| f0 + (f1 - f0) * ((x - a0) / (b0 - a0));
                let (a, b) = (a0.max(lower), b0.min(upper));
                (b > a).then(|| (a, b, at(a), at(b)))
            })
        };
        let mass: f64 = segments()
            .map(|(a, b, fa, fb)| 0.5 * (b - a) * (fa + fb))
            .sum();
        let mean: f64 = segments()
            .map(|(a, b, fa, fb)| (b - a) * (fa * (2.0 * a + b) + fb * (a + 2.0 * b)) / 6.0)
            .sum::<f64>()
            / mass;
        let variance: f64 = segments()
            .map(|(a, b, fa, fb)| {
                let (l, r) = (a - mean, b - mean);
                (b - a)
                    * (fa * (3.0 * l * l + 2.0 * l * r + r * r)
                        + fb * (l * l + 2.0 * l * r + 3.0 * r * r))
                    / 12.0
            })
            .sum::<f64>()
            / mass;
        (mean, variance)
    }
}

impl Univariate for General {
    #[inline]
    fn inverse_cdf(&self, p: f64) -> f64 {
        let last = self.xs.len() - 1;
        if let Some(x) = outside_unit(p, self.xs[0], self.xs[last]) {
            return x;
        }
        let j = segment(&self.cdf, &self.sf, p);
        let (a, b) = (self.xs[j - 1], self.xs[j]);
        let (fa, fb) = (self.density[j - 1], self.density[j]);
        let slope = (fb - fa) / (b - a);
        let x = if p <= 0.5 {
            a + linear_density_root(fa, slope, p - self.cdf[j - 1])
        } else {
            b - linear_density_root(fb, -slope, (1.0 - p) - self.sf[j])
        };
        x.clamp(a, b)
    }
    fn cdf(&self, x: f64) -> f64 {
        let last = self.xs.len() - 1;
        if x.is_nan() {
            return f64::NAN;
        }
        if x <= self.xs[0] {
            return 0.0;
        }
        if x >= self.xs[last] {
            return 1.0;
        }
        let j = self.xs.partition_point(|&k| k <= x).clamp(1, last);
        let (a, b) = (self.xs[j - 1], self.xs[j]);
        let (fa, fb) = (self.density[j - 1], self.density[j]);
        let t = x - a;
        let within = fa * t + 0.5 * (fb - fa) / (b - a) * t * t;
        if self.cdf[j - 1] <= 0.5 {
            self.cdf[j - 1] + within
        } else {
            1.0 - (self.sf[j - 1] - within)
        }
    }
    fn mean(&self) -> f64 {
        self.mean
    }
    fn variance(&self) -> f64 {
        self.variance
    }
}

#[cfg(test)]
mod tests;
