//! The discrete families with closed-form or table quantiles: geometric, discrete uniform
//! and `RiskDiscrete`.

use super::table::StepTable;
use super::{MAX_INTEGER, integer, invalid, outside_unit, probability};
use crate::dist::{DistributionError, Univariate};

/// `RiskGeomet(p)`: failures before the first success, support 0, 1, 2, ...
/// (scipy `geom(p, loc=-1)`).
#[derive(Debug, Clone, PartialEq)]
pub struct Geometric {
    p: f64,
    /// ln(1 - p), computed as `ln_1p(-p)` to keep its precision for small p.
    ln_q: f64,
}

impl Geometric {
    pub fn new(p: f64) -> Result<Self, DistributionError> {
        let p = probability("RiskGeomet", "p", p)?;
        if p == 0.0 {
            return Err(invalid("RiskGeomet", "p", p, "must be positive"));
        }
        Ok(Geometric {
            p,
            ln_q: (-p).ln_1p(),
        })
    }

    /// P(X > k) = (1 - p)^(k + 1), accurate to a few ulps.
    fn sf_at(&self, k: f64) -> f64 {
        ((k + 1.0) * self.ln_q).exp()
    }

    /// P(X <= k) = 1 - (1 - p)^(k + 1), without cancellation.
    fn cdf_at(&self, k: f64) -> f64 {
        -((k + 1.0) * self.ln_q).exp_m1()
    }
}

impl Univariate for Geometric {
    /// Closed form `ceil(ln(1 - u) / ln(1 - p)) - 1`, then corrected by at most a step or
    /// two against the CDF (or the survival function above the median).
    #[inline]
    fn inverse_cdf(&self, u: f64) -> f64 {
        if let Some(x) = outside_unit(u, 0.0, f64::INFINITY) {
            return x;
        }
        if self.p == 1.0 {
            return 0.0;
        }
        let lower = u <= 0.5;
        let holds = |k: f64| {
            if lower {
                self.cdf_at(k) >= u
            } else {
                self.sf_at(k) <= 1.0 - u
            }
        };
        let log_tail = if lower { (-u).ln_1p() } else { (1.0 - u).ln() };
        let mut k = ((log_tail / self.ln_q).ceil() - 1.0).max(0.0);
        if k >= MAX_INTEGER {
            return k; // unit steps are meaningless here
        }
        while !holds(k) {
            k += 1.0;
        }
        while k > 0.0 && holds(k - 1.0) {
            k -= 1.0;
        }
        k
    }
    fn cdf(&self, x: f64) -> f64 {
        if x.is_nan() {
            return f64::NAN;
        }
        if x < 0.0 { 0.0 } else { self.cdf_at(x.floor()) }
    }
    fn mean(&self) -> f64 {
        (1.0 - self.p) / self.p
    }
    fn variance(&self) -> f64 {
        (1.0 - self.p) / (self.p * self.p)
    }
    fn is_discrete(&self) -> bool {
        true
    }
}

/// `RiskIntUniform(min, max)`: each integer of `[min, max]` equally likely.
#[derive(Debug, Clone, PartialEq)]
pub struct IntUniform {
    min: f64,
    max: f64,
    count: f64,
}

impl IntUniform {
    pub fn new(min: f64, max: f64) -> Result<Self, DistributionError> {
        let min = integer("RiskIntUniform", "min", min, -MAX_INTEGER)?;
        let max = integer("RiskIntUniform", "max", max, -MAX_INTEGER)?;
        if min > max {
            return Err(invalid(
                "RiskIntUniform",
                "max",
                max,
                "must not be less than min",
            ));
        }
        let count = max - min + 1.0;
        if count > MAX_INTEGER {
            return Err(invalid(
                "RiskIntUniform",
                "max",
                max,
                "max - min must be below 2^53",
            ));
        }
        Ok(IntUniform { min, max, count })
    }
}

impl Univariate for IntUniform {
    /// `min + ceil(u n) - 1`, corrected against the f64 CDF `(k - min + 1) / n` (survival
    /// `(max - k) / n` above the median).
    #[inline]
    fn inverse_cdf(&self, u: f64) -> f64 {
        if let Some(x) = outside_unit(u, self.min, self.max) {
            return x;
        }
        let n = self.count;
        let lower = u <= 0.5;
        let holds = |k: f64| {
            if lower {
                (k - self.min + 1.0) / n >= u
            } else {
                (self.max - k) / n <= 1.0 - u
            }
        };
        let mut k = (self.min + (u * n).ceil() - 1.0).clamp(self.min, self.max);
        while k < self.max && !holds(k) {
            k += 1.0;
        }
        while k > self.min && holds(k - 1.0) {
            k -= 1.0;
        }
        k
    }
    fn cdf(&self, x: f64) -> f64 {
        if x.is_nan() {
            return f64::NAN;
        }
        let k = x.floor();
        if k < self.min {
            0.0
        } else if k >= self.max {
            1.0
        } else {
            (k - self.min + 1.0) / self.count
        }
    }
    fn mean(&self) -> f64 {
        0.5 * (self.min + self.max)
    }
    fn variance(&self) -> f64 {
        (self.count * self.count - 1.0) / 12.0
    }
    fn is_discrete(&self) -> bool {
        true
    }
}

/// `RiskDiscrete(values, weights)`: a finite set of values with relative weights.
#[derive(Debug, Clone, PartialEq)]
pub struct Discrete {
    table: StepTable,
    mean: f64,
    variance: f64,
}

impl Discrete {
    /// Values need not be sorted; equal values have their weights added; values of zero
    /// weight are dropped (they can never be drawn).
    pub fn new(values: &[f64], weights: &[f64]) -> Result<Self, DistributionError> {
        let bad = |reason: String| DistributionError::InvalidTable {
            family: "RiskDiscrete",
            reason,
        };
        if values.len() != weights.len() {
            return Err(bad(format!(
                "{} values but {} weights",
                values.len(),
                weights.len()
            )));
        }
        if values.is_empty() {
            return Err(bad("no values".into()));
        }
        if let Some(v) = values.iter().find(|v| !v.is_finite()) {
            return Err(bad(format!("value {v} is not finite")));
        }
        if let Some(w) = weights.iter().find(|w| !(w.is_finite() && **w >= 0.0)) {
            return Err(bad(format!(
                "weight {w} is not a finite non-negative number"
            )));
        }
        let total: f64 = weights.iter().sum();
        if !(total > 0.0 && total.is_finite()) {
            return Err(bad("the weights must have a positive, finite sum".into()));
        }
        let mut pairs: Vec<(f64, f64)> = values
            .iter()
            .zip(weights)
            .filter(|(_, w)| **w > 0.0)
            .map(|(v, w)| (*v, *w))
            .collect();
        pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut merged: Vec<(f64, f64)> = Vec::with_capacity(pairs.len());
        for (v, w) in pairs {
            match merged.last_mut() {
                // `==` also merges -0.0 with 0.0.
                Some(last) if last.0 == v => last.1 += w,
                _ => merged.push((v, w)),
            }
        }
        let masses: Vec<f64> = merged.iter().map(|(_, w)| w / total).collect();
        let table = StepTable::new(merged.iter().map(|(v, _)| *v).collect(), &masses, 0.0, 0.0);
        let (mean, variance) = table.moments();
        Ok(Discrete {
            table,
            mean,
            variance,
        })
    }

    /// The distinct values, sorted.
    pub fn values(&self) -> &[f64] {
        self.table.values()
    }
}

impl Univariate for Discrete {
    #[inline]
    fn inverse_cdf(&self, p: f64) -> f64 {
        if let Some(x) = outside_unit(p, self.table.first(), self.table.last()) {
            return x;
        }
        self.table.quantile(p)
    }
    fn cdf(&self, x: f64) -> f64 {
        if x.is_nan() {
            f64::NAN
        } else {
            self.table.cdf(x)
        }
    }
    fn mean(&self) -> f64 {
        self.mean
    }
    fn variance(&self) -> f64 {
        self.variance
    }
    fn is_discrete(&self) -> bool {
        true
    }
}
