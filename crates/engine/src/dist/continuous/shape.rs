//! Families without a closed-form inverse CDF: gamma (with Erlang and chi-square),
//! beta (with PERT and the general beta) and Student's t. Quantiles invert the
//! incomplete gamma / beta functions by safeguarded Newton iteration
//! ([`super::solve`]), always on the tail (p or q = 1 - p) that is at most 1/2, so that
//! upper-tail quantiles keep relative accuracy.

use super::super::special::{
    beta_i_pair, beta_i_pair_density, gamma_pq, gamma_pq_density, inverse_normal_cdf, ln_beta,
    ln_gamma, normal_cdf,
};
use super::solve::{Tail, newton_quantile};
use super::{DistributionError, Univariate, finite, invalid, ordered, positive};

/// Gamma(shape alpha, scale beta), `RiskGamma`; also `RiskErlang` (integer shape) and
/// `RiskChiSq(nu)` = Gamma(nu/2, 2).
#[derive(Debug, Clone, PartialEq)]
pub struct Gamma {
    shape: f64,
    scale: f64,
}

impl Gamma {
    pub fn new(shape: f64, scale: f64) -> Result<Self, DistributionError> {
        const F: &str = "RiskGamma";
        Ok(Gamma {
            shape: positive(F, "alpha", shape)?,
            scale: positive(F, "beta", scale)?,
        })
    }

    /// Erlang: gamma with a positive integer shape m.
    pub fn erlang(m: f64, scale: f64) -> Result<Self, DistributionError> {
        const F: &str = "RiskErlang";
        let m = positive(F, "m", m)?;
        if m.fract() != 0.0 {
            return Err(invalid(F, "m", m, "must be a positive integer"));
        }
        Ok(Gamma {
            shape: m,
            scale: positive(F, "beta", scale)?,
        })
    }

    /// Chi-square with nu > 0 degrees of freedom, Gamma(nu/2, 2).
    pub fn chi_square(nu: f64) -> Result<Self, DistributionError> {
        Ok(Gamma {
            shape: 0.5 * positive("RiskChiSq", "nu", nu)?,
            scale: 2.0,
        })
    }

    /// Quantile of the standard gamma (scale 1).
    fn standard_quantile(&self, p: f64) -> f64 {
        let a = self.shape;
        if p <= 0.5 {
            // Start: x^a / Γ(a+1) ≈ p (exact in the far lower tail) for small shapes
            // or where Wilson-Hilferty fails, else Wilson-Hilferty.
            let small = ((p.ln() + ln_gamma(a + 1.0)) / a).exp();
            let t = 1.0 - 1.0 / (9.0 * a) + inverse_normal_cdf(p) / (3.0 * a.sqrt());
            let x0 = if a < 1.0 || t <= 0.0 {
                small
            } else {
                a * t * t * t
            };
            let eval = |x: f64| {
                let (pl, _, f) = gamma_pq_density(a, x);
                (pl.ln(), f / pl)
            };
            newton_quantile(eval, p.ln(), Tail::Lower, x0, 0.0, f64::INFINITY, true)
        } else {
            let q = 1.0 - p;
            let t = 1.0 - 1.0 / (9.0 * a) - inverse_normal_cdf(q) / (3.0 * a.sqrt());
            // Upper tail of small shapes: S ≈ x^(a-1) e^-x / Γ(a).
            let x0 = if a < 1.0 || t <= 0.0 {
                (-q.ln() - ln_gamma(a)).max(0.1)
            } else {
                a * t * t * t
            };
            let eval = |x: f64| {
                let (_, qu, f) = gamma_pq_density(a, x);
                (qu.ln(), -f / qu)
            };
            newton_quantile(eval, q.ln(), Tail::Upper, x0, 0.0, f64::INFINITY, false)
        }
    }
}

impl Univariate for Gamma {
    fn inverse_cdf(&self, p: f64) -> f64 {
        if p.is_nan() {
            return f64::NAN;
        }
        if p <= 0.0 {
            return 0.0;
        }
        if p >= 1.0 {
            return f64::INFINITY;
        }
        self.scale * self.standard_quantile(p)
    }
    fn cdf(&self, x: f64) -> f64 {
        if x <= 0.0 {
            0.0
        } else {
            gamma_pq(self.shape, x / self.scale).0
        }
    }
    fn mean(&self) -> f64 {
        self.shape * self.scale
    }
    fn variance(&self) -> f64 {
        self.shape * self.scale * self.scale
    }
}

/// Beta(alpha1, alpha2) rescaled to [min, max]: `RiskBeta` (on [0, 1]),
/// `RiskBetaGeneral`, and `RiskPert` ([`Beta::pert`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Beta {
    a: f64,
    b: f64,
    min: f64,
    max: f64,
    width: f64,
}

impl Beta {
    pub fn new(alpha1: f64, alpha2: f64, min: f64, max: f64) -> Result<Self, DistributionError> {
        let f = if min == 0.0 && max == 1.0 {
            "RiskBeta"
        } else {
            "RiskBetaGeneral"
        };
        let a = positive(f, "alpha1", alpha1)?;
        let b = positive(f, "alpha2", alpha2)?;
        let (min, max) = ordered(f, min, max)?;
        Ok(Beta {
            a,
            b,
            min,
            max,
            width: max - min,
        })
    }

    /// Modified PERT: alpha1 = 1 + shape (mode - min)/(max - min),
    /// alpha2 = 1 + shape (max - mode)/(max - min); shape 4 is the classical PERT.
    pub fn pert(min: f64, mode: f64, max: f64, shape: f64) -> Result<Self, DistributionError> {
        const F: &str = "RiskPert";
        let (min, max) = ordered(F, min, max)?;
        let mode = finite(F, "mode", mode)?;
        if !(min <= mode && mode <= max) {
            return Err(invalid(F, "mode", mode, "must lie in [min, max]"));
        }
        let shape = positive(F, "shape", shape)?;
        let w = max - min;
        let a = 1.0 + shape * (mode - min) / w;
        let b = 1.0 + shape * (max - mode) / w;
        Ok(Beta {
            a,
            b,
            min,
            max,
            width: w,
        })
    }
}

/// x with I_x(a, b) = p for p <= 1/2 (the lower tail), on the standard beta.
fn beta_lower_quantile(a: f64, b: f64, p: f64) -> f64 {
    let x0 = beta_start(a, b, p);
    let eval = |x: f64| {
        let (i, _, f) = beta_i_pair_density(a, b, x, 1.0 - x);
        (i.ln(), f / i)
    };
    newton_quantile(eval, p.ln(), Tail::Lower, x0, 0.0, 1.0, true)
}

/// Starting point for the beta quantile (Numerical Recipes 3rd ed. §6.14 `invbetai`):
/// a normal approximation for a, b >= 1, else the power laws of the two ends.
fn beta_start(a: f64, b: f64, p: f64) -> f64 {
    let x = if a >= 1.0 && b >= 1.0 {
        let z = inverse_normal_cdf(p);
        let al = (z * z - 3.0) / 6.0;
        let h = 2.0 / (1.0 / (2.0 * a - 1.0) + 1.0 / (2.0 * b - 1.0));
        let w = z * (al + h).sqrt() / h
            - (1.0 / (2.0 * b - 1.0) - 1.0 / (2.0 * a - 1.0)) * (al + 5.0 / 6.0 - 2.0 / (3.0 * h));
        a / (a + b * (2.0 * w).exp())
    } else {
        let lna = (a / (a + b)).ln();
        let lnb = (b / (a + b)).ln();
        let t = (a * lna).exp() / a;
        let u = (b * lnb).exp() / b;
        let w = t + u;
        if p < t / w {
            (a * w * p).powf(1.0 / a)
        } else {
            1.0 - (b * w * (1.0 - p)).powf(1.0 / b)
        }
    };
    if x > 0.0 && x < 1.0 {
        x
    } else {
        // The lower-tail power law I_x ≈ x^a / (a B(a, b)), capped inside (0, 1).
        ((p.ln() + a.ln() + ln_beta(a, b)) / a).exp().min(0.5)
    }
}

impl Univariate for Beta {
    fn inverse_cdf(&self, p: f64) -> f64 {
        if p.is_nan() {
            return f64::NAN;
        }
        if p <= 0.0 {
            return self.min;
        }
        if p >= 1.0 {
            return self.max;
        }
        if p <= 0.5 {
            self.min + self.width * beta_lower_quantile(self.a, self.b, p)
        } else {
            // Upper tail of Beta(a, b) is the lower tail of Beta(b, a) in y = 1 - x.
            self.max - self.width * beta_lower_quantile(self.b, self.a, 1.0 - p)
        }
    }
    fn cdf(&self, x: f64) -> f64 {
        if x <= self.min {
            0.0
        } else if x >= self.max {
            1.0
        } else {
            let u = (x - self.min) / self.width;
            let v = (self.max - x) / self.width;
            beta_i_pair(self.a, self.b, u, v).0
        }
    }
    fn mean(&self) -> f64 {
        self.min + self.width * self.a / (self.a + self.b)
    }
    fn variance(&self) -> f64 {
        let (a, b) = (self.a, self.b);
        let s = a + b;
        self.width * self.width * a * b / (s * s * (s + 1.0))
    }
}

/// Student's t with nu > 0 degrees of freedom (not necessarily an integer),
/// `RiskStudent`. Quantiles: closed forms for nu = 1 and 2, the Cornish-Fisher
/// expansion for nu >= 1e6 (error < 1e-15 relative), else the incomplete beta inverted
/// by [`beta_lower_quantile`]. The CDF uses the incomplete beta, whose relative accuracy
/// degrades slowly for very large nu (~1e-12 at nu = 1e5, ~6e-11 at nu = 3e6).
#[derive(Debug, Clone, PartialEq)]
pub struct StudentT {
    nu: f64,
}

impl StudentT {
    pub fn new(nu: f64) -> Result<Self, DistributionError> {
        Ok(StudentT {
            nu: positive("RiskStudent", "nu", nu)?,
        })
    }

    /// The t with lower-tail probability p <= 1/2 (a value <= 0).
    fn lower_quantile(&self, p: f64) -> f64 {
        let nu = self.nu;
        if p == 0.5 {
            return 0.0;
        }
        if nu == 1.0 {
            // Cauchy: t = tan(π(p - 1/2)); -1/tan(πp) keeps relative accuracy for small p.
            return if p < 0.25 {
                -1.0 / (std::f64::consts::PI * p).tan()
            } else {
                (std::f64::consts::PI * (p - 0.5)).tan()
            };
        }
        if nu == 2.0 {
            let q = 1.0 - p;
            return (p - q) / (2.0 * p * q).sqrt();
        }
        if nu >= 1e6 {
            // Abramowitz & Stegun 26.7.5; the next term is O(z^11 / nu^5).
            let z = inverse_normal_cdf(p);
            let z2 = z * z;
            let g1 = z * (z2 + 1.0) / 4.0;
            let g2 = z * ((5.0 * z2 + 16.0) * z2 + 3.0) / 96.0;
            let g3 = z * (((3.0 * z2 + 19.0) * z2 + 17.0) * z2 - 15.0) / 384.0;
            let g4 =
                z * ((((79.0 * z2 + 776.0) * z2 + 1482.0) * z2 - 1920.0) * z2 - 945.0) / 92160.0;
            return z + (g1 + (g2 + (g3 + g4 / nu) / nu) / nu) / nu;
        }
        // F(t) = I_x(nu/2, 1/2) / 2 with x = nu / (nu + t²) for t < 0.
        if p < 0.25 {
            let x = beta_lower_quantile(0.5 * nu, 0.5, 2.0 * p);
            -(nu * ((1.0 - x) / x)).sqrt()
        } else {
            // 1 - 2p is exact here; y = 1 - x = t² / (nu + t²) stays accurate near t = 0.
            let y = beta_lower_quantile(0.5, 0.5 * nu, 1.0 - 2.0 * p);
            -(nu * (y / (1.0 - y))).sqrt()
        }
    }
}

impl Univariate for StudentT {
    fn inverse_cdf(&self, p: f64) -> f64 {
        if p.is_nan() {
            return f64::NAN;
        }
        if p <= 0.0 {
            return f64::NEG_INFINITY;
        }
        if p >= 1.0 {
            return f64::INFINITY;
        }
        if p <= 0.5 {
            self.lower_quantile(p)
        } else {
            -self.lower_quantile(1.0 - p)
        }
    }
    fn cdf(&self, t: f64) -> f64 {
        if t.is_nan() {
            return f64::NAN;
        }
        if self.nu > 1e12 {
            return normal_cdf(t);
        }
        let nu = self.nu;
        let t2 = t * t;
        // Lower tail at -|t|: I_x(nu/2, 1/2) / 2 with x = nu/(nu+t²), y = t²/(nu+t²).
        let (x, y) = if t2.is_infinite() {
            (0.0, 1.0)
        } else {
            (nu / (nu + t2), t2 / (nu + t2))
        };
        let tail = if t2 < nu {
            0.5 * beta_i_pair(0.5, 0.5 * nu, y, x).1
        } else {
            0.5 * beta_i_pair(0.5 * nu, 0.5, x, y).0
        };
        if t < 0.0 { tail } else { 1.0 - tail }
    }
    /// 0 for nu > 1; NaN for nu <= 1 (the mean does not exist).
    fn mean(&self) -> f64 {
        if self.nu > 1.0 { 0.0 } else { f64::NAN }
    }
    /// nu / (nu - 2) for nu > 2; infinite for 1 < nu <= 2; NaN for nu <= 1.
    fn variance(&self) -> f64 {
        if self.nu > 2.0 {
            self.nu / (self.nu - 2.0)
        } else if self.nu > 1.0 {
            f64::INFINITY
        } else {
            f64::NAN
        }
    }
}
