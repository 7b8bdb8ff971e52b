//! Discrete distributions: Bernoulli, binomial, Poisson, geometric, negative binomial,
//! discrete uniform and tabulated (`RiskDiscrete`).
//!
//! `inverse_cdf(p)` is the smallest support value k with `CDF(k) >= p` (scipy's `ppf`), the
//! sampling hot path. Binomial, Poisson and negative binomial laws whose support carrying
//! all but 1e-32 of the mass has at most 8192 points are tabulated at construction (pmf by
//! Loader's saddle-point method, compensated sums, guide table: O(1) expected per sample);
//! larger ones evaluate the accurate CDF (regularised incomplete beta/gamma functions) once
//! at a Cornish–Fisher guess, then step by single pmf terms. For p > 1/2 both paths compare `1 - p` with the
//! survival function, so upper-tail quantiles are exact too. Checked against scipy in
//! `tests/discrete_quantiles.rs`: exact equality except where p lies within 1e-12
//! (relative) of a CDF value, where rounding legitimately decides.
//!
//! Out of the open interval: `inverse_cdf(p <= 0)` is the support minimum, `inverse_cdf(p >= 1)`
//! the support maximum (infinite for unbounded laws), NaN gives NaN.

mod count;
mod pmf;
mod table;

use super::special::{beta_i, beta_i_complement, gamma_p, gamma_q};
use super::{DistributionError, Univariate, finite, invalid, outside_unit};
use count::CountLaw;
use table::{LatticeLaw, StepTable, lattice_table};

/// Largest integer parameter accepted: beyond 2^53 not every integer is an f64.
const MAX_INTEGER: f64 = 9_007_199_254_740_992.0;
/// Largest mean accepted for unbounded laws (so that quantiles stay exact integers).
const MAX_MEAN: f64 = 1e15;

fn probability(
    family: &'static str,
    parameter: &'static str,
    value: f64,
) -> Result<f64, DistributionError> {
    if (0.0..=1.0).contains(&value) {
        Ok(value)
    } else {
        Err(invalid(
            family,
            parameter,
            value,
            "must be a probability in [0, 1]",
        ))
    }
}

fn integer(
    family: &'static str,
    parameter: &'static str,
    value: f64,
    least: f64,
) -> Result<f64, DistributionError> {
    let value = finite(family, parameter, value)?;
    if value.fract() != 0.0 {
        return Err(invalid(family, parameter, value, "must be an integer"));
    }
    if value < least {
        return Err(invalid(
            family,
            parameter,
            value,
            "is below the smallest allowed value",
        ));
    }
    if value.abs() > MAX_INTEGER {
        return Err(invalid(
            family,
            parameter,
            value,
            "must not exceed 2^53 in magnitude",
        ));
    }
    Ok(value)
}

/// `RiskBernoulli(p)`: 1 with probability p, else 0.
#[derive(Debug, Clone, PartialEq)]
pub struct Bernoulli {
    p: f64,
}

impl Bernoulli {
    pub fn new(p: f64) -> Result<Self, DistributionError> {
        Ok(Bernoulli {
            p: probability("RiskBernoulli", "p", p)?,
        })
    }
}

impl Univariate for Bernoulli {
    #[inline]
    fn inverse_cdf(&self, u: f64) -> f64 {
        if let Some(x) = outside_unit(u, 0.0, 1.0) {
            return x;
        }
        // CDF(0) = 1 - p >= u, or equivalently P(X > 0) = p <= 1 - u above the median.
        let zero = if u <= 0.5 {
            1.0 - self.p >= u
        } else {
            self.p <= 1.0 - u
        };
        if zero { 0.0 } else { 1.0 }
    }
    fn cdf(&self, x: f64) -> f64 {
        if x.is_nan() {
            f64::NAN
        } else if x < 0.0 {
            0.0
        } else if x < 1.0 {
            1.0 - self.p
        } else {
            1.0
        }
    }
    fn mean(&self) -> f64 {
        self.p
    }
    fn variance(&self) -> f64 {
        self.p * (1.0 - self.p)
    }
    fn is_discrete(&self) -> bool {
        true
    }
}

/// `RiskBinomial(n, p)`: successes in n independent trials.
#[derive(Debug, Clone, PartialEq)]
pub struct Binomial {
    n: f64,
    p: f64,
    q: f64,
    table: Option<StepTable>,
}

impl Binomial {
    pub fn new(n: f64, p: f64) -> Result<Self, DistributionError> {
        let n = integer("RiskBinomial", "n", n, 0.0)?;
        let p = probability("RiskBinomial", "p", p)?;
        let mut law = Binomial {
            n,
            p,
            q: 1.0 - p,
            table: None,
        };
        if law.point_mass().is_none() {
            law.table = lattice_table(&law);
        }
        Ok(law)
    }
}

impl LatticeLaw for Binomial {
    fn support(&self) -> (f64, f64) {
        (0.0, self.n)
    }
    fn mode(&self) -> f64 {
        ((self.n + 1.0) * self.p).floor().min(self.n)
    }
    fn pmf(&self, k: f64) -> f64 {
        pmf::binomial_pmf(k, self.n, self.p, self.q)
    }
    fn ratio_up(&self, k: f64) -> f64 {
        (self.n - k) / (k + 1.0) * (self.p / self.q)
    }
}

impl CountLaw for Binomial {
    fn table(&self) -> Option<&StepTable> {
        self.table.as_ref()
    }
    // P(X <= k) = 1 - I_p(k + 1, n - k); P(X > k) = I_p(k + 1, n - k).
    fn cdf_accurate(&self, k: f64) -> f64 {
        if k >= self.n {
            1.0
        } else {
            beta_i_complement(k + 1.0, self.n - k, self.p)
        }
    }
    fn sf_accurate(&self, k: f64) -> f64 {
        if k >= self.n {
            0.0
        } else {
            beta_i(k + 1.0, self.n - k, self.p)
        }
    }
    fn moments3(&self) -> (f64, f64, f64) {
        let sd = (self.n * self.p * self.q).sqrt();
        (self.n * self.p, sd, (self.q - self.p) / sd)
    }
    fn point_mass(&self) -> Option<f64> {
        if self.n == 0.0 || self.p == 0.0 {
            Some(0.0)
        } else if self.q == 0.0 {
            Some(self.n)
        } else {
            None
        }
    }
}

impl Univariate for Binomial {
    #[inline]
    fn inverse_cdf(&self, p: f64) -> f64 {
        self.quantile(p)
    }
    fn cdf(&self, x: f64) -> f64 {
        self.distribution_function(x)
    }
    fn mean(&self) -> f64 {
        self.n * self.p
    }
    fn variance(&self) -> f64 {
        self.n * self.p * self.q
    }
    fn is_discrete(&self) -> bool {
        true
    }
}

/// `RiskPoisson(lambda)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Poisson {
    lambda: f64,
    table: Option<StepTable>,
}

impl Poisson {
    /// `lambda = 0` is accepted as the point mass at 0.
    pub fn new(lambda: f64) -> Result<Self, DistributionError> {
        let lambda = finite("RiskPoisson", "lambda", lambda)?;
        if lambda < 0.0 {
            return Err(invalid(
                "RiskPoisson",
                "lambda",
                lambda,
                "must be non-negative",
            ));
        }
        if lambda > MAX_MEAN {
            return Err(invalid(
                "RiskPoisson",
                "lambda",
                lambda,
                "must not exceed 1e15",
            ));
        }
        let mut law = Poisson {
            lambda,
            table: None,
        };
        if lambda > 0.0 {
            law.table = lattice_table(&law);
        }
        Ok(law)
    }
}

impl LatticeLaw for Poisson {
    fn support(&self) -> (f64, f64) {
        (0.0, f64::INFINITY)
    }
    fn mode(&self) -> f64 {
        self.lambda.floor()
    }
    fn pmf(&self, k: f64) -> f64 {
        pmf::poisson_pmf(k, self.lambda)
    }
    fn ratio_up(&self, k: f64) -> f64 {
        self.lambda / (k + 1.0)
    }
}

impl CountLaw for Poisson {
    fn table(&self) -> Option<&StepTable> {
        self.table.as_ref()
    }
    // P(X <= k) = Q(k + 1, lambda); P(X > k) = P(k + 1, lambda).
    fn cdf_accurate(&self, k: f64) -> f64 {
        gamma_q(k + 1.0, self.lambda)
    }
    fn sf_accurate(&self, k: f64) -> f64 {
        gamma_p(k + 1.0, self.lambda)
    }
    fn moments3(&self) -> (f64, f64, f64) {
        let sd = self.lambda.sqrt();
        (self.lambda, sd, 1.0 / sd)
    }
    fn point_mass(&self) -> Option<f64> {
        if self.lambda == 0.0 { Some(0.0) } else { None }
    }
}

impl Univariate for Poisson {
    #[inline]
    fn inverse_cdf(&self, p: f64) -> f64 {
        self.quantile(p)
    }
    fn cdf(&self, x: f64) -> f64 {
        self.distribution_function(x)
    }
    fn mean(&self) -> f64 {
        self.lambda
    }
    fn variance(&self) -> f64 {
        self.lambda
    }
    fn is_discrete(&self) -> bool {
        true
    }
}

/// `RiskNegbin(s, p)`: failures before the s-th success (scipy `nbinom(s, p)`).
#[derive(Debug, Clone, PartialEq)]
pub struct NegativeBinomial {
    s: f64,
    p: f64,
    q: f64,
    table: Option<StepTable>,
}

impl NegativeBinomial {
    pub fn new(s: f64, p: f64) -> Result<Self, DistributionError> {
        let s = integer("RiskNegbin", "s", s, 1.0)?;
        let p = probability("RiskNegbin", "p", p)?;
        if p == 0.0 {
            return Err(invalid("RiskNegbin", "p", p, "must be positive"));
        }
        let q = 1.0 - p;
        if s * q / p > MAX_MEAN {
            return Err(invalid("RiskNegbin", "p", p, "gives a mean above 1e15"));
        }
        let mut law = NegativeBinomial {
            s,
            p,
            q,
            table: None,
        };
        if q > 0.0 {
            law.table = lattice_table(&law);
        }
        Ok(law)
    }
}

impl LatticeLaw for NegativeBinomial {
    fn support(&self) -> (f64, f64) {
        (0.0, f64::INFINITY)
    }
    fn mode(&self) -> f64 {
        if self.s > 1.0 {
            ((self.s - 1.0) * self.q / self.p).floor()
        } else {
            0.0
        }
    }
    fn pmf(&self, k: f64) -> f64 {
        pmf::neg_binomial_pmf(k, self.s, self.p, self.q)
    }
    fn ratio_up(&self, k: f64) -> f64 {
        (k + self.s) / (k + 1.0) * self.q
    }
}

impl CountLaw for NegativeBinomial {
    fn table(&self) -> Option<&StepTable> {
        self.table.as_ref()
    }
    // P(X <= k) = I_p(s, k + 1); P(X > k) = 1 - I_p(s, k + 1).
    fn cdf_accurate(&self, k: f64) -> f64 {
        beta_i(self.s, k + 1.0, self.p)
    }
    fn sf_accurate(&self, k: f64) -> f64 {
        beta_i_complement(self.s, k + 1.0, self.p)
    }
    fn moments3(&self) -> (f64, f64, f64) {
        let sq = self.s * self.q;
        (sq / self.p, sq.sqrt() / self.p, (2.0 - self.p) / sq.sqrt())
    }
    fn point_mass(&self) -> Option<f64> {
        if self.q == 0.0 { Some(0.0) } else { None }
    }
}

impl Univariate for NegativeBinomial {
    #[inline]
    fn inverse_cdf(&self, p: f64) -> f64 {
        self.quantile(p)
    }
    fn cdf(&self, x: f64) -> f64 {
        self.distribution_function(x)
    }
    fn mean(&self) -> f64 {
        self.s * self.q / self.p
    }
    fn variance(&self) -> f64 {
        self.s * self.q / (self.p * self.p)
    }
    fn is_discrete(&self) -> bool {
        true
    }
}

mod simple;
pub use simple::{Discrete, Geometric, IntUniform};

#[cfg(test)]
mod tests;
