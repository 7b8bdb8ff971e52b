//! Probability mass functions of the binomial, Poisson and negative binomial laws, computed
//! with the saddle-point expansion of C. Loader, "Fast and Accurate Computation of Binomial
//! Probabilities" (2000), the algorithm behind R's `dbinom`/`dpois`.
//!
//! Accuracy: a relative error of a few units in 1e-15 over the whole support, including the
//! far tails (the naive `exp(ln n! - ln k! - ...)` loses about `ln(n!) * 1e-16` instead,
//! 1e-12 for n = 1000). The lattice tables in `table.rs` are built from these values.

use std::f64::consts::PI;

/// `stirlerr(n) = ln(n!) - ln(sqrt(2 pi n) (n/e)^n)` for integers 0..=15 (computed with
/// mpmath, rounded to f64; entry 0 is a placeholder, never used).
const STIRLERR_SMALL: [f64; 16] = [
    0.0,
    0.08106146679532726,
    0.0413406959554093,
    0.02767792568499834,
    0.020790672103765093,
    0.016644691189821193,
    0.013876128823070748,
    0.01189670994589177,
    0.010411265261972096,
    0.009255462182712733,
    0.00833056343336287,
    0.007573675487951841,
    0.00694284010720953,
    0.006408994188004207,
    0.0059513701127588475,
    0.005554733551962801,
];

/// Stirling's-series remainder for a non-negative integer `n` (as f64).
fn stirlerr(n: f64) -> f64 {
    const S0: f64 = 1.0 / 12.0;
    const S1: f64 = 1.0 / 360.0;
    const S2: f64 = 1.0 / 1260.0;
    const S3: f64 = 1.0 / 1680.0;
    const S4: f64 = 1.0 / 1188.0;
    if n <= 15.0 {
        // Callers pass integers; the cast is exact.
        return STIRLERR_SMALL[n as usize];
    }
    let nn = n * n;
    if n > 500.0 {
        (S0 - S1 / nn) / n
    } else if n > 80.0 {
        (S0 - (S1 - S2 / nn) / nn) / n
    } else if n > 35.0 {
        (S0 - (S1 - (S2 - S3 / nn) / nn) / nn) / n
    } else {
        (S0 - (S1 - (S2 - (S3 - S4 / nn) / nn) / nn) / nn) / n
    }
}

/// `bd0(x, np) = x ln(x / np) + np - x`, the deviance term, without cancellation when
/// `x` is close to `np` (series in `v = (x - np) / (x + np)`).
fn bd0(x: f64, np: f64) -> f64 {
    if (x - np).abs() < 0.1 * (x + np) {
        let mut v = (x - np) / (x + np);
        let mut s = (x - np) * v;
        let mut ej = 2.0 * x * v;
        v *= v;
        for j in 1..1000 {
            ej *= v;
            let s1 = s + ej / f64::from(2 * j + 1);
            if s1 == s {
                return s1;
            }
            s = s1;
        }
        s
    } else {
        x * (x / np).ln() + np - x
    }
}

/// Binomial probability of `x` successes in `n` trials (`x`, `n` integers, `0 <= x <= n`),
/// success probability `p`, with `q = 1 - p` passed separately to keep its precision.
pub(crate) fn binomial_pmf(x: f64, n: f64, p: f64, q: f64) -> f64 {
    if p == 0.0 {
        return if x == 0.0 { 1.0 } else { 0.0 };
    }
    if q == 0.0 {
        return if x == n { 1.0 } else { 0.0 };
    }
    if x == 0.0 {
        if n == 0.0 {
            return 1.0;
        }
        let lc = if p < 0.1 {
            -bd0(n, n * q) - n * p
        } else {
            n * q.ln()
        };
        return lc.exp();
    }
    if x == n {
        let lc = if q < 0.1 {
            -bd0(n, n * p) - n * q
        } else {
            n * p.ln()
        };
        return lc.exp();
    }
    if x < 0.0 || x > n {
        return 0.0;
    }
    let lc = stirlerr(n) - stirlerr(x) - stirlerr(n - x) - bd0(x, n * p) - bd0(n - x, n * q);
    let lf = (2.0 * PI).ln() + x.ln() + (-x / n).ln_1p();
    (lc - 0.5 * lf).exp()
}

/// Poisson probability of `x` (a non-negative integer) with mean `lambda`.
pub(crate) fn poisson_pmf(x: f64, lambda: f64) -> f64 {
    if lambda == 0.0 {
        return if x == 0.0 { 1.0 } else { 0.0 };
    }
    if x < 0.0 {
        return 0.0;
    }
    if x == 0.0 {
        return (-lambda).exp();
    }
    (-stirlerr(x) - bd0(x, lambda)).exp() / (2.0 * PI * x).sqrt()
}

/// Negative binomial probability of `x` failures before the `s`-th success:
/// `s / (s + x) * binomial_pmf(s; s + x, p)`.
pub(crate) fn neg_binomial_pmf(x: f64, s: f64, p: f64, q: f64) -> f64 {
    if x < 0.0 {
        return 0.0;
    }
    s / (s + x) * binomial_pmf(s, s + x, p, q)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sums to one and matches the product formula for a small case, where the product
    /// is exact to a few ulps.
    #[test]
    fn binomial_pmf_matches_product_formula() {
        let (n, p) = (20.0_f64, 0.3_f64);
        let mut total = 0.0;
        let mut coef = 1.0_f64;
        for k in 0..=20 {
            let kf = f64::from(k);
            if k > 0 {
                coef *= (n - kf + 1.0) / kf;
            }
            let direct = coef * p.powf(kf) * (1.0 - p).powf(n - kf);
            let loader = binomial_pmf(kf, n, p, 1.0 - p);
            assert!(
                (loader - direct).abs() <= 1e-14 * direct,
                "k={k}: {loader} vs {direct}"
            );
            total += loader;
        }
        assert!((total - 1.0).abs() < 1e-14);
    }

    #[test]
    fn poisson_pmf_matches_recurrence() {
        let lambda = 3.5_f64;
        let mut direct = (-lambda).exp();
        for k in 0..40 {
            let kf = f64::from(k);
            if k > 0 {
                direct *= lambda / kf;
            }
            let loader = poisson_pmf(kf, lambda);
            assert!(
                (loader - direct).abs() <= 1e-13 * direct,
                "k={k}: {loader} vs {direct}"
            );
        }
    }

    #[test]
    fn neg_binomial_pmf_sums_to_one() {
        let (s, p) = (3.0, 0.4);
        let total: f64 = (0..400)
            .map(|k| neg_binomial_pmf(f64::from(k), s, p, 1.0 - p))
            .sum();
        assert!((total - 1.0).abs() < 1e-13, "{total}");
        // P(0) = p^s.
        assert!((neg_binomial_pmf(0.0, s, p, 1.0 - p) - 0.064).abs() < 1e-16);
    }
}
