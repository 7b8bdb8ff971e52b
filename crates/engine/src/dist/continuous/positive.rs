//! Families on a half-line with closed-form inverse CDFs: exponential, Weibull,
//! log-logistic and Pareto.

use super::{DistributionError, Univariate, finite, logit, neg_ln_complement, positive};

/// Exponential with mean beta, `RiskExpon(beta)`: x = -beta ln(1 - p).
#[derive(Debug, Clone, PartialEq)]
pub struct Exponential {
    mean: f64,
}

impl Exponential {
    pub fn new(mean: f64) -> Result<Self, DistributionError> {
        Ok(Exponential {
            mean: positive("RiskExpon", "beta", mean)?,
        })
    }
}

impl Univariate for Exponential {
    #[inline]
    fn inverse_cdf(&self, p: f64) -> f64 {
        self.mean * neg_ln_complement(p)
    }
    fn cdf(&self, x: f64) -> f64 {
        if x <= 0.0 {
            0.0
        } else {
            -(-x / self.mean).exp_m1()
        }
    }
    fn mean(&self) -> f64 {
        self.mean
    }
    fn variance(&self) -> f64 {
        self.mean * self.mean
    }
}

/// Weibull(shape alpha, scale beta), `RiskWeibull`: x = beta (-ln(1 - p))^(1/alpha).
#[derive(Debug, Clone, PartialEq)]
pub struct Weibull {
    shape: f64,
    scale: f64,
    inv_shape: f64,
}

impl Weibull {
    pub fn new(shape: f64, scale: f64) -> Result<Self, DistributionError> {
        const F: &str = "RiskWeibull";
        let shape = positive(F, "alpha", shape)?;
        Ok(Weibull {
            shape,
            scale: positive(F, "beta", scale)?,
            inv_shape: 1.0 / shape,
        })
    }
}

impl Univariate for Weibull {
    #[inline]
    fn inverse_cdf(&self, p: f64) -> f64 {
        self.scale * neg_ln_complement(p).powf(self.inv_shape)
    }
    fn cdf(&self, x: f64) -> f64 {
        if x <= 0.0 {
            0.0
        } else {
            -(-(x / self.scale).powf(self.shape)).exp_m1()
        }
    }
    fn mean(&self) -> f64 {
        self.scale * libm::tgamma(1.0 + self.inv_shape)
    }
    fn variance(&self) -> f64 {
        let g1 = libm::tgamma(1.0 + self.inv_shape);
        let g2 = libm::tgamma(1.0 + 2.0 * self.inv_shape);
        self.scale * self.scale * (g2 - g1 * g1)
    }
}

/// Log-logistic(location gamma, scale beta, shape alpha), `RiskLoglogistic`:
/// F(x) = 1 / (1 + ((x - gamma)/beta)^-alpha) for x > gamma, so
/// x = gamma + beta (p / (1 - p))^(1/alpha) (scipy's `fisk(c=alpha, loc=gamma, scale=beta)`).
#[derive(Debug, Clone, PartialEq)]
pub struct LogLogistic {
    location: f64,
    scale: f64,
    shape: f64,
    inv_shape: f64,
}

impl LogLogistic {
    pub fn new(location: f64, scale: f64, shape: f64) -> Result<Self, DistributionError> {
        const F: &str = "RiskLoglogistic";
        let location = finite(F, "gamma", location)?;
        let scale = positive(F, "beta", scale)?;
        let shape = positive(F, "alpha", shape)?;
        Ok(LogLogistic {
            location,
            scale,
            shape,
            inv_shape: 1.0 / shape,
        })
    }
}

impl Univariate for LogLogistic {
    #[inline]
    fn inverse_cdf(&self, p: f64) -> f64 {
        self.location + self.scale * (logit(p) * self.inv_shape).exp()
    }
    fn cdf(&self, x: f64) -> f64 {
        if x <= self.location {
            return 0.0;
        }
        let z = (x - self.location) / self.scale;
        1.0 / (1.0 + z.powf(-self.shape))
    }
    /// Infinite for shape alpha <= 1 (the mean does not exist).
    fn mean(&self) -> f64 {
        if self.shape <= 1.0 {
            return f64::INFINITY;
        }
        let t = std::f64::consts::PI * self.inv_shape;
        self.location + self.scale * t / t.sin()
    }
    /// Infinite for shape alpha <= 2 (the variance does not exist).
    fn variance(&self) -> f64 {
        if self.shape <= 2.0 {
            return f64::INFINITY;
        }
        let t = std::f64::consts::PI * self.inv_shape;
        let m = t / t.sin();
        self.scale * self.scale * (2.0 * t / (2.0 * t).sin() - m * m)
    }
}

/// Pareto(shape theta, scale a), `RiskPareto`: support [a, inf), F(x) = 1 - (a/x)^theta,
/// so x = a (1 - p)^(-1/theta) (scipy's `pareto(b=theta, scale=a)`).
#[derive(Debug, Clone, PartialEq)]
pub struct Pareto {
    shape: f64,
    scale: f64,
    inv_shape: f64,
}

impl Pareto {
    pub fn new(theta: f64, a: f64) -> Result<Self, DistributionError> {
        const F: &str = "RiskPareto";
        let shape = positive(F, "theta", theta)?;
        Ok(Pareto {
            shape,
            scale: positive(F, "a", a)?,
            inv_shape: 1.0 / shape,
        })
    }
}

impl Univariate for Pareto {
    #[inline]
    fn inverse_cdf(&self, p: f64) -> f64 {
        self.scale * (neg_ln_complement(p) * self.inv_shape).exp()
    }
    fn cdf(&self, x: f64) -> f64 {
        if x <= self.scale {
            0.0
        } else {
            -(self.shape * (self.scale / x).ln()).exp_m1()
        }
    }
    /// Infinite for theta <= 1 (the mean does not exist).
    fn mean(&self) -> f64 {
        if self.shape <= 1.0 {
            f64::INFINITY
        } else {
            self.shape * self.scale / (self.shape - 1.0)
        }
    }
    /// Infinite for theta <= 2 (the variance does not exist).
    fn variance(&self) -> f64 {
        if self.shape <= 2.0 {
            return f64::INFINITY;
        }
        let t = self.shape;
        self.scale * self.scale * t / ((t - 1.0) * (t - 1.0) * (t - 2.0))
    }
}
