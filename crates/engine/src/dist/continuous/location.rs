//! Location-scale families with closed-form inverse CDFs: normal, lognormal, uniform,
//! triangular, logistic and Gumbel (extreme value).

use super::super::special::{inverse_normal_cdf, normal_cdf};
use super::{DistributionError, Univariate, finite, invalid, logit, ordered, positive};

/// Normal(mean, sd), `RiskNormal`. The inverse CDF is Wichura's AS 241 (~1e-16 relative
/// in the standard quantile), scaled.
#[derive(Debug, Clone, PartialEq)]
pub struct Normal {
    mean: f64,
    sd: f64,
}

impl Normal {
    pub fn new(mean: f64, sd: f64) -> Result<Self, DistributionError> {
        const F: &str = "RiskNormal";
        Ok(Normal {
            mean: finite(F, "mean", mean)?,
            sd: positive(F, "sd", sd)?,
        })
    }
}

impl Univariate for Normal {
    #[inline]
    fn inverse_cdf(&self, p: f64) -> f64 {
        self.mean + self.sd * inverse_normal_cdf(p)
    }
    fn cdf(&self, x: f64) -> f64 {
        normal_cdf((x - self.mean) / self.sd)
    }
    fn mean(&self) -> f64 {
        self.mean
    }
    fn variance(&self) -> f64 {
        self.sd * self.sd
    }
}

/// Lognormal: ln X ~ Normal(mu, sigma). `RiskLognorm(mean, sd)` gives the mean and sd of
/// X itself ([`Lognormal::from_mean_sd`]); `RiskLognorm2(mu, sigma)` those of ln X.
#[derive(Debug, Clone, PartialEq)]
pub struct Lognormal {
    mu: f64,
    sigma: f64,
    mean: f64,
    variance: f64,
}

impl Lognormal {
    /// From the mean and standard deviation of the lognormal variable (both > 0):
    /// sigma² = ln(1 + (sd/mean)²), mu = ln(mean) - sigma²/2.
    pub fn from_mean_sd(mean: f64, sd: f64) -> Result<Self, DistributionError> {
        const F: &str = "RiskLognorm";
        let mean = positive(F, "mean", mean)?;
        let sd = positive(F, "sd", sd)?;
        let s2 = ((sd / mean) * (sd / mean)).ln_1p();
        if s2.is_nan() || s2 <= 0.0 || s2.is_infinite() {
            return Err(invalid(
                F,
                "sd",
                sd,
                "sd / mean is out of the representable range",
            ));
        }
        Ok(Lognormal {
            mu: mean.ln() - 0.5 * s2,
            sigma: s2.sqrt(),
            mean,
            variance: sd * sd,
        })
    }

    /// From the mean `mu` and standard deviation `sigma` (> 0) of ln X.
    pub fn from_mu_sigma(mu: f64, sigma: f64) -> Result<Self, DistributionError> {
        const F: &str = "RiskLognorm2";
        let mu = finite(F, "mu", mu)?;
        let sigma = positive(F, "sigma", sigma)?;
        let s2 = sigma * sigma;
        let mean = (mu + 0.5 * s2).exp();
        Ok(Lognormal {
            mu,
            sigma,
            mean,
            variance: s2.exp_m1() * mean * mean,
        })
    }
}

impl Univariate for Lognormal {
    #[inline]
    fn inverse_cdf(&self, p: f64) -> f64 {
        (self.mu + self.sigma * inverse_normal_cdf(p)).exp()
    }
    fn cdf(&self, x: f64) -> f64 {
        if x <= 0.0 {
            0.0
        } else {
            normal_cdf((x.ln() - self.mu) / self.sigma)
        }
    }
    /// May be infinite when sigma is large (overflow), as the true value is huge.
    fn mean(&self) -> f64 {
        self.mean
    }
    fn variance(&self) -> f64 {
        self.variance
    }
}

/// Uniform on [min, max], `RiskUniform`.
#[derive(Debug, Clone, PartialEq)]
pub struct Uniform {
    min: f64,
    max: f64,
    width: f64,
}

impl Uniform {
    pub fn new(min: f64, max: f64) -> Result<Self, DistributionError> {
        let (min, max) = ordered("RiskUniform", min, max)?;
        Ok(Uniform {
            min,
            max,
            width: max - min,
        })
    }
}

impl Univariate for Uniform {
    #[inline]
    fn inverse_cdf(&self, p: f64) -> f64 {
        (self.min + p * self.width).clamp(self.min, self.max)
    }
    fn cdf(&self, x: f64) -> f64 {
        ((x - self.min) / self.width).clamp(0.0, 1.0)
    }
    fn mean(&self) -> f64 {
        0.5 * (self.min + self.max)
    }
    fn variance(&self) -> f64 {
        self.width * self.width / 12.0
    }
}

/// Triangular(min, mode, max), `RiskTriang`; min < max and min <= mode <= max.
#[derive(Debug, Clone, PartialEq)]
pub struct Triangular {
    min: f64,
    mode: f64,
    max: f64,
    /// CDF at the mode, (mode - min) / (max - min).
    p_mode: f64,
    /// (max - min)(mode - min) and (max - min)(max - mode): x = min + sqrt(p k_low) below
    /// the mode, x = max - sqrt((1 - p) k_high) above.
    k_low: f64,
    k_high: f64,
}

impl Triangular {
    pub fn new(min: f64, mode: f64, max: f64) -> Result<Self, DistributionError> {
        const F: &str = "RiskTriang";
        let (min, max) = ordered(F, min, max)?;
        let mode = finite(F, "mode", mode)?;
        if !(min <= mode && mode <= max) {
            return Err(invalid(F, "mode", mode, "must lie in [min, max]"));
        }
        let w = max - min;
        Ok(Triangular {
            min,
            mode,
            max,
            p_mode: (mode - min) / w,
            k_low: w * (mode - min),
            k_high: w * (max - mode),
        })
    }
}

impl Univariate for Triangular {
    #[inline]
    fn inverse_cdf(&self, p: f64) -> f64 {
        if p < self.p_mode {
            self.min + (p.max(0.0) * self.k_low).sqrt()
        } else {
            self.max - ((1.0 - p).max(0.0) * self.k_high).sqrt()
        }
    }
    fn cdf(&self, x: f64) -> f64 {
        if x <= self.min {
            0.0
        } else if x >= self.max {
            1.0
        } else if x <= self.mode {
            (x - self.min) * (x - self.min) / self.k_low
        } else {
            1.0 - (self.max - x) * (self.max - x) / self.k_high
        }
    }
    fn mean(&self) -> f64 {
        (self.min + self.mode + self.max) / 3.0
    }
    fn variance(&self) -> f64 {
        let (a, c, b) = (self.min, self.mode, self.max);
        (a * a + b * b + c * c - a * b - a * c - b * c) / 18.0
    }
}

/// Logistic(location alpha, scale beta), `RiskLogistic`: x = alpha + beta ln(p / (1-p)).
#[derive(Debug, Clone, PartialEq)]
pub struct Logistic {
    location: f64,
    scale: f64,
}

impl Logistic {
    pub fn new(location: f64, scale: f64) -> Result<Self, DistributionError> {
        const F: &str = "RiskLogistic";
        Ok(Logistic {
            location: finite(F, "alpha", location)?,
            scale: positive(F, "beta", scale)?,
        })
    }
}

impl Univariate for Logistic {
    #[inline]
    fn inverse_cdf(&self, p: f64) -> f64 {
        self.location + self.scale * logit(p)
    }
    fn cdf(&self, x: f64) -> f64 {
        let z = (x - self.location) / self.scale;
        1.0 / (1.0 + (-z).exp())
    }
    fn mean(&self) -> f64 {
        self.location
    }
    fn variance(&self) -> f64 {
        let s = self.scale * std::f64::consts::PI;
        s * s / 3.0
    }
}

/// Gumbel for maxima (extreme value), `RiskExtvalue(alpha, beta)`:
/// F(x) = exp(-exp(-(x - alpha)/beta)), x = alpha - beta ln(-ln p).
#[derive(Debug, Clone, PartialEq)]
pub struct Gumbel {
    location: f64,
    scale: f64,
}

impl Gumbel {
    pub fn new(location: f64, scale: f64) -> Result<Self, DistributionError> {
        const F: &str = "RiskExtvalue";
        Ok(Gumbel {
            location: finite(F, "alpha", location)?,
            scale: positive(F, "beta", scale)?,
        })
    }
}

/// Euler-Mascheroni constant.
const EULER_GAMMA: f64 = 0.577_215_664_901_532_9;

impl Univariate for Gumbel {
    #[inline]
    fn inverse_cdf(&self, p: f64) -> f64 {
        // -ln p, via ln_1p of the exact complement when p is near 1.
        let t = if p > 0.5 {
            -(-(1.0 - p)).ln_1p()
        } else {
            -p.ln()
        };
        self.location - self.scale * t.ln()
    }
    fn cdf(&self, x: f64) -> f64 {
        (-(-(x - self.location) / self.scale).exp()).exp()
    }
    fn mean(&self) -> f64 {
        self.location + self.scale * EULER_GAMMA
    }
    fn variance(&self) -> f64 {
        let s = self.scale * std::f64::consts::PI;
        s * s / 6.0
    }
}
