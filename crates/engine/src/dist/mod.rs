//! Probability distributions: the inputs of a model.
//!
//! Every distribution is sampled through its inverse CDF, so that Latin Hypercube,
//! quasi-random (Sobol) and copula-correlated uniforms all turn into values the same way.
//! Parameters follow @RISK's argument order (`RiskTriang(min, mode, max)`), so that the
//! formula compiler can pass them straight through.
//!
//! Accuracy: inverse CDFs are computed in f64 and checked against scipy over
//! p in [1e-12, 1 - 1e-12] with relative error at most 1e-10
//! (`tests/continuous_quantiles.rs` and `tests/discrete_quantiles.rs`, reference tables from
//! `scripts/reference/continuous_quantiles.py` and `scripts/reference/discrete_quantiles.py`).

mod bounded;
mod continuous;
mod discrete;
mod empirical;
pub mod special;

pub use bounded::InputDistribution;
pub use continuous::{
    Beta, Exponential, Gamma, Gumbel, LogLogistic, Logistic, Lognormal, Normal, Pareto, StudentT,
    Triangular, Uniform, Weibull,
};
pub use discrete::{
    Bernoulli, Binomial, Discrete, Geometric, IntUniform, NegativeBinomial, Poisson,
};
pub use empirical::{Cumulative, General, Histogram, trigen};

use serde::{Deserialize, Serialize};

/// The distribution families, named as @RISK names them.
///
/// Scalar parameters are not stored here: they are passed separately, in @RISK's argument
/// order, because in a model they may be formulas of other cells. Table families carry
/// their (constant) tables.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "family", rename_all = "snake_case")]
pub enum Family {
    /// `[mean, sd]`
    Normal,
    /// `[mean, sd]` of the lognormal variable itself (`RiskLognorm`).
    Lognormal,
    /// `[mu, sigma]` of the underlying normal (`RiskLognorm2`).
    Lognormal2,
    /// `[min, max]`
    Uniform,
    /// `[min, mode, max]`
    Triang,
    /// `[bottom, mode, top, bottom_probability, top_probability]`, probabilities in (0, 1).
    Trigen,
    /// `[min, mode, max]` or `[min, mode, max, shape]` (modified PERT; shape 4 is PERT).
    Pert,
    /// `[alpha1, alpha2]` on [0, 1].
    Beta,
    /// `[alpha1, alpha2, min, max]`
    BetaGeneral,
    /// `[alpha (shape), beta (scale)]`
    Gamma,
    /// `[beta (mean)]`
    Expon,
    /// `[alpha (shape), beta (scale)]`
    Weibull,
    /// `[alpha (location), beta (scale)]`
    Logistic,
    /// `[gamma (location), beta (scale), alpha (shape)]`
    Loglogistic,
    /// `[nu]` degrees of freedom.
    Student,
    /// `[m (integer shape), beta (scale)]`
    Erlang,
    /// `[nu]` degrees of freedom.
    ChiSq,
    /// `[theta (shape), a (scale, the minimum)]`
    Pareto,
    /// `[alpha (location), beta (scale)]`: Gumbel for maxima.
    ExtValue,
    /// `[p]`
    Bernoulli,
    /// `[n, p]`
    Binomial,
    /// `[lambda]`
    Poisson,
    /// `[p]`: failures before the first success, from 0.
    Geometric,
    /// `[s, p]`: failures before the s-th success, from 0.
    NegBin,
    /// `[min, max]` integers.
    IntUniform,
    /// Values with weights (need not sum to one). No scalar parameters.
    Discrete { values: Vec<f64>, weights: Vec<f64> },
    /// `[min, max]`: piecewise-linear CDF through `(xs[i], ps[i])`, xs increasing inside
    /// (min, max), ps non-decreasing in [0, 1].
    Cumul { xs: Vec<f64>, ps: Vec<f64> },
    /// `[min, max]`: piecewise-linear density through `(xs[i], densities[i])` (normalised).
    General { xs: Vec<f64>, densities: Vec<f64> },
    /// `[min, max]`: equal-width bins with the given (unnormalised) probabilities.
    Histogram { probabilities: Vec<f64> },
}

impl Family {
    /// The @RISK function name, for error messages.
    pub fn risk_name(&self) -> &'static str {
        match self {
            Family::Normal => "RiskNormal",
            Family::Lognormal => "RiskLognorm",
            Family::Lognormal2 => "RiskLognorm2",
            Family::Uniform => "RiskUniform",
            Family::Triang => "RiskTriang",
            Family::Trigen => "RiskTrigen",
            Family::Pert => "RiskPert",
            Family::Beta => "RiskBeta",
            Family::BetaGeneral => "RiskBetaGeneral",
            Family::Gamma => "RiskGamma",
            Family::Expon => "RiskExpon",
            Family::Weibull => "RiskWeibull",
            Family::Logistic => "RiskLogistic",
            Family::Loglogistic => "RiskLoglogistic",
            Family::Student => "RiskStudent",
            Family::Erlang => "RiskErlang",
            Family::ChiSq => "RiskChiSq",
            Family::Pareto => "RiskPareto",
            Family::ExtValue => "RiskExtvalue",
            Family::Bernoulli => "RiskBernoulli",
            Family::Binomial => "RiskBinomial",
            Family::Poisson => "RiskPoisson",
            Family::Geometric => "RiskGeomet",
            Family::NegBin => "RiskNegbin",
            Family::IntUniform => "RiskIntUniform",
            Family::Discrete { .. } => "RiskDiscrete",
            Family::Cumul { .. } => "RiskCumul",
            Family::General { .. } => "RiskGeneral",
            Family::Histogram { .. } => "RiskHistogrm",
        }
    }

    /// How many scalar parameters the family takes: `(fewest, most)`.
    pub fn arity(&self) -> (usize, usize) {
        match self {
            Family::Expon
            | Family::Student
            | Family::ChiSq
            | Family::Bernoulli
            | Family::Poisson
            | Family::Geometric => (1, 1),
            Family::Normal
            | Family::Lognormal
            | Family::Lognormal2
            | Family::Uniform
            | Family::Beta
            | Family::Gamma
            | Family::Weibull
            | Family::Logistic
            | Family::Erlang
            | Family::Pareto
            | Family::ExtValue
            | Family::Binomial
            | Family::NegBin
            | Family::IntUniform
            | Family::Cumul { .. }
            | Family::General { .. }
            | Family::Histogram { .. } => (2, 2),
            Family::Triang | Family::Loglogistic => (3, 3),
            Family::Pert => (3, 4),
            Family::BetaGeneral => (4, 4),
            Family::Trigen => (5, 5),
            Family::Discrete { .. } => (0, 0),
        }
    }
}

/// Why a distribution could not be built. Carries the @RISK function name and the
/// parameter at fault, so that a user sees which argument to fix.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DistributionError {
    #[error("{family} takes {expected} parameter(s), got {got}")]
    Arity {
        family: &'static str,
        expected: String,
        got: usize,
    },
    #[error("{family}: parameter `{parameter}` = {value} is invalid: {reason}")]
    InvalidParameter {
        family: &'static str,
        parameter: &'static str,
        value: f64,
        reason: &'static str,
    },
    #[error("{family}: invalid table: {reason}")]
    InvalidTable {
        family: &'static str,
        reason: String,
    },
    #[error("truncation [{lower}, {upper}] leaves no probability mass")]
    EmptyTruncation { lower: f64, upper: f64 },
}

/// What every distribution offers. `inverse_cdf` is the sampling path; `cdf` is needed for
/// truncation; `mean` and `variance` are for reporting and tests.
pub trait Univariate {
    /// Smallest x with `cdf(x) >= p`, for p in (0, 1).
    fn inverse_cdf(&self, p: f64) -> f64;
    /// P(X <= x).
    fn cdf(&self, x: f64) -> f64;
    fn mean(&self) -> f64;
    fn variance(&self) -> f64;
    /// Whether the values are a discrete set (ties in samples are then expected).
    fn is_discrete(&self) -> bool {
        false
    }
}

/// A distribution with validated parameters, ready to sample.
#[derive(Debug, Clone, PartialEq)]
pub enum Distribution {
    Normal(Normal),
    Lognormal(Lognormal),
    Uniform(Uniform),
    Triangular(Triangular),
    Beta(Beta),
    Gamma(Gamma),
    Exponential(Exponential),
    Weibull(Weibull),
    Logistic(Logistic),
    LogLogistic(LogLogistic),
    StudentT(StudentT),
    Pareto(Pareto),
    Gumbel(Gumbel),
    Bernoulli(Bernoulli),
    Binomial(Binomial),
    Poisson(Poisson),
    Geometric(Geometric),
    NegativeBinomial(NegativeBinomial),
    IntUniform(IntUniform),
    Discrete(Discrete),
    Cumulative(Cumulative),
    General(General),
    Histogram(Histogram),
}

macro_rules! dispatch {
    ($self:ident, $d:ident => $body:expr) => {
        match $self {
            Distribution::Normal($d) => $body,
            Distribution::Lognormal($d) => $body,
            Distribution::Uniform($d) => $body,
            Distribution::Triangular($d) => $body,
            Distribution::Beta($d) => $body,
            Distribution::Gamma($d) => $body,
            Distribution::Exponential($d) => $body,
            Distribution::Weibull($d) => $body,
            Distribution::Logistic($d) => $body,
            Distribution::LogLogistic($d) => $body,
            Distribution::StudentT($d) => $body,
            Distribution::Pareto($d) => $body,
            Distribution::Gumbel($d) => $body,
            Distribution::Bernoulli($d) => $body,
            Distribution::Binomial($d) => $body,
            Distribution::Poisson($d) => $body,
            Distribution::Geometric($d) => $body,
            Distribution::NegativeBinomial($d) => $body,
            Distribution::IntUniform($d) => $body,
            Distribution::Discrete($d) => $body,
            Distribution::Cumulative($d) => $body,
            Distribution::General($d) => $body,
            Distribution::Histogram($d) => $body,
        }
    };
}

impl Distribution {
    /// Builds the distribution of `family` from its scalar parameters in @RISK order.
    pub fn new(family: &Family, params: &[f64]) -> Result<Self, DistributionError> {
        let (fewest, most) = family.arity();
        if params.len() < fewest || params.len() > most {
            let expected = if fewest == most {
                fewest.to_string()
            } else {
                format!("{fewest} to {most}")
            };
            return Err(DistributionError::Arity {
                family: family.risk_name(),
                expected,
                got: params.len(),
            });
        }
        let p = params;
        Ok(match family {
            Family::Normal => Distribution::Normal(Normal::new(p[0], p[1])?),
            Family::Lognormal => Distribution::Lognormal(Lognormal::from_mean_sd(p[0], p[1])?),
            Family::Lognormal2 => Distribution::Lognormal(Lognormal::from_mu_sigma(p[0], p[1])?),
            Family::Uniform => Distribution::Uniform(Uniform::new(p[0], p[1])?),
            Family::Triang => Distribution::Triangular(Triangular::new(p[0], p[1], p[2])?),
            Family::Trigen => Distribution::Triangular(trigen(p[0], p[1], p[2], p[3], p[4])?),
            Family::Pert => {
                let shape = p.get(3).copied().unwrap_or(4.0);
                Distribution::Beta(Beta::pert(p[0], p[1], p[2], shape)?)
            }
            Family::Beta => Distribution::Beta(Beta::new(p[0], p[1], 0.0, 1.0)?),
            Family::BetaGeneral => Distribution::Beta(Beta::new(p[0], p[1], p[2], p[3])?),
            Family::Gamma => Distribution::Gamma(Gamma::new(p[0], p[1])?),
            Family::Expon => Distribution::Exponential(Exponential::new(p[0])?),
            Family::Weibull => Distribution::Weibull(Weibull::new(p[0], p[1])?),
            Family::Logistic => Distribution::Logistic(Logistic::new(p[0], p[1])?),
            Family::Loglogistic => Distribution::LogLogistic(LogLogistic::new(p[0], p[1], p[2])?),
            Family::Student => Distribution::StudentT(StudentT::new(p[0])?),
            Family::Erlang => Distribution::Gamma(Gamma::erlang(p[0], p[1])?),
            Family::ChiSq => Distribution::Gamma(Gamma::chi_square(p[0])?),
            Family::Pareto => Distribution::Pareto(Pareto::new(p[0], p[1])?),
            Family::ExtValue => Distribution::Gumbel(Gumbel::new(p[0], p[1])?),
            Family::Bernoulli => Distribution::Bernoulli(Bernoulli::new(p[0])?),
            Family::Binomial => Distribution::Binomial(Binomial::new(p[0], p[1])?),
            Family::Poisson => Distribution::Poisson(Poisson::new(p[0])?),
            Family::Geometric => Distribution::Geometric(Geometric::new(p[0])?),
            Family::NegBin => Distribution::NegativeBinomial(NegativeBinomial::new(p[0], p[1])?),
            Family::IntUniform => Distribution::IntUniform(IntUniform::new(p[0], p[1])?),
            Family::Discrete { values, weights } => {
                Distribution::Discrete(Discrete::new(values, weights)?)
            }
            Family::Cumul { xs, ps } => {
                Distribution::Cumulative(Cumulative::new(p[0], p[1], xs, ps)?)
            }
            Family::General { xs, densities } => {
                Distribution::General(General::new(p[0], p[1], xs, densities)?)
            }
            Family::Histogram { probabilities } => {
                Distribution::Histogram(Histogram::new(p[0], p[1], probabilities)?)
            }
        })
    }
}

impl Univariate for Distribution {
    #[inline]
    fn inverse_cdf(&self, p: f64) -> f64 {
        dispatch!(self, d => d.inverse_cdf(p))
    }
    fn cdf(&self, x: f64) -> f64 {
        dispatch!(self, d => d.cdf(x))
    }
    fn mean(&self) -> f64 {
        dispatch!(self, d => d.mean())
    }
    fn variance(&self) -> f64 {
        dispatch!(self, d => d.variance())
    }
    fn is_discrete(&self) -> bool {
        dispatch!(self, d => d.is_discrete())
    }
}

/// The answer of an inverse CDF for p outside (0, 1): the support's ends at or beyond 0 and
/// 1, NaN for NaN; `None` inside, where the distribution must compute it.
#[inline]
pub(crate) fn outside_unit(p: f64, min: f64, max: f64) -> Option<f64> {
    if p > 0.0 && p < 1.0 {
        None
    } else if p <= 0.0 {
        Some(min)
    } else if p >= 1.0 {
        Some(max)
    } else {
        Some(f64::NAN)
    }
}

/// A typed parameter error.
pub(crate) fn invalid(
    family: &'static str,
    parameter: &'static str,
    value: f64,
    reason: &'static str,
) -> DistributionError {
    DistributionError::InvalidParameter {
        family,
        parameter,
        value,
        reason,
    }
}

/// Checks that a parameter is a finite number; NaN and infinities are never valid.
pub(crate) fn finite(
    family: &'static str,
    parameter: &'static str,
    value: f64,
) -> Result<f64, DistributionError> {
    if value.is_finite() {
        Ok(value)
    } else {
        Err(DistributionError::InvalidParameter {
            family,
            parameter,
            value,
            reason: "must be a finite number",
        })
    }
}
