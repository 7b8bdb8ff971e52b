//! The binomial, Poisson and negative binomial laws share their inverse CDF and CDF:
//! a precomputed table when the support is small, a guided search otherwise.

use super::outside_unit;
use super::table::{LatticeLaw, StepTable, TABLE_LOW_P, search_integer};
use crate::dist::special::inverse_normal_cdf;

/// Binomial, Poisson and negative binomial share everything but their formulas.
pub(super) trait CountLaw: LatticeLaw {
    fn table(&self) -> Option<&StepTable>;
    /// Accurate P(X <= k) and P(X > k) for an integer k inside the support.
    fn cdf_accurate(&self, k: f64) -> f64;
    fn sf_accurate(&self, k: f64) -> f64;
    /// Mean, standard deviation and skewness, for the Cornish–Fisher starting point.
    fn moments3(&self) -> (f64, f64, f64);
    /// The whole mass on one point (degenerate parameters).
    fn point_mass(&self) -> Option<f64>;

    /// Smallest k with CDF(k) >= p without the table: one accurate CDF (or survival)
    /// evaluation at the Cornish–Fisher guess, then up to `WALK` unit steps that add or
    /// remove single pmf terms (Loader's pmf, relative error ~1e-15, so the running value
    /// stays accurate to ~1e-14 relative); a guess further off than that (extreme p)
    /// falls back to bracketing and bisection with the accurate CDF.
    fn search(&self, p: f64) -> f64 {
        const WALK: usize = 32;
        let (min, max) = self.support();
        let (mean, sd, skew) = self.moments3();
        let z = inverse_normal_cdf(p);
        // Cornish–Fisher expansion to the skewness term; usually within 1 of the answer.
        let w = z + skew * (z * z - 1.0) / 6.0;
        let guess = (mean + sd * w).floor();
        let mut k = if guess.is_nan() {
            min
        } else {
            guess.clamp(min, max)
        };
        if p <= 0.5 {
            let mut c = self.cdf_accurate(k);
            for _ in 0..WALK {
                if c >= p {
                    if k <= min {
                        return k;
                    }
                    let below = c - self.pmf(k);
                    if below < p {
                        return k;
                    }
                    (k, c) = (k - 1.0, below);
                } else {
                    if k >= max {
                        return k;
                    }
                    k += 1.0;
                    c += self.pmf(k);
                }
            }
            search_integer(k, min, max, |k| self.cdf_accurate(k) >= p)
        } else {
            let q = 1.0 - p;
            let mut s = self.sf_accurate(k);
            for _ in 0..WALK {
                if s <= q {
                    if k <= min {
                        return k;
                    }
                    let below = s + self.pmf(k);
                    if below > q {
                        return k;
                    }
                    (k, s) = (k - 1.0, below);
                } else {
                    if k >= max {
                        return k;
                    }
                    k += 1.0;
                    s -= self.pmf(k);
                }
            }
            search_integer(k, min, max, |k| self.sf_accurate(k) <= q)
        }
    }

    #[inline]
    fn quantile(&self, p: f64) -> f64 {
        let (min, max) = self.support();
        if let Some(x) = outside_unit(p, min, max) {
            return x;
        }
        if let Some(x) = self.point_mass() {
            return x;
        }
        match self.table() {
            Some(table) if p >= TABLE_LOW_P || table.first() <= min => table.quantile(p),
            _ => self.search(p),
        }
    }

    fn distribution_function(&self, x: f64) -> f64 {
        let (min, max) = self.support();
        if x.is_nan() {
            return f64::NAN;
        }
        let k = x.floor();
        if k < min {
            return 0.0;
        }
        if k >= max {
            return 1.0;
        }
        if let Some(x) = self.point_mass() {
            return if k >= x { 1.0 } else { 0.0 };
        }
        match self.table() {
            Some(table) if k >= table.first() && k <= table.last() => table.cdf(k),
            _ => self.cdf_accurate(k),
        }
    }
}
