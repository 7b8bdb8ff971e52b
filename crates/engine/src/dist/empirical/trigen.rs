//! `RiskTrigen`: a triangular distribution given by two percentiles instead of its ends.

use crate::dist::{DistributionError, Triangular, finite};

const FAMILY: &str = "RiskTrigen";

fn invalid(parameter: &'static str, value: f64, reason: &'static str) -> DistributionError {
    crate::dist::invalid(FAMILY, parameter, value, reason)
}

/// The triangular distribution whose `bottom_probability` and `top_probability` quantiles
/// are `bottom` and `top` (`RiskTrigen`).
///
/// Accepts `bottom <= mode <= top` (not all equal) and
/// `0 <= bottom_probability < top_probability <= 1`; see [`trigen_bounds`] for the method.
pub fn trigen(
    bottom: f64,
    mode: f64,
    top: f64,
    bottom_probability: f64,
    top_probability: f64,
) -> Result<Triangular, DistributionError> {
    let (min, max) = trigen_bounds(bottom, mode, top, bottom_probability, top_probability)?;
    Triangular::new(min, mode, max)
}

/// Solves for the ends `(a, b)` of the triangular distribution with mode `c` such that
/// `F(bottom) = bp` and `F(top) = tp`.
///
/// With the width `W = b - a` and `alpha = (c - a) / W = F(c)`, the two conditions
/// `(bottom - a)^2 = bp W (c - a)` and `(b - top)^2 = (1 - tp) W (b - c)` become
/// `W g1(alpha) = L` and `W g2(alpha) = R`, where `L = c - bottom`, `R = top - c`,
/// `g1(alpha) = alpha - sqrt(bp alpha)` and `g2(alpha) = (1 - alpha) - sqrt((1 - tp)(1 - alpha))`.
/// On `[bp, tp]` g1 increases from 0 and g2 decreases to 0, so `L g2 - R g1` has exactly one
/// root, found by bisection to the last bit (about 60 steps); then `W` comes from the better
/// conditioned of the two equations. Accuracy: `F(bottom)` and `F(top)` within ~1e-15 of
/// their targets (unit test below).
pub(crate) fn trigen_bounds(
    bottom: f64,
    mode: f64,
    top: f64,
    bp: f64,
    tp: f64,
) -> Result<(f64, f64), DistributionError> {
    let bottom = finite(FAMILY, "bottom", bottom)?;
    let mode = finite(FAMILY, "mode", mode)?;
    let top = finite(FAMILY, "top", top)?;
    let bp = finite(FAMILY, "bottom_probability", bp)?;
    let tp = finite(FAMILY, "top_probability", tp)?;
    if bottom > mode {
        return Err(invalid("bottom", bottom, "must not exceed the mode"));
    }
    if top < mode {
        return Err(invalid("top", top, "must not be below the mode"));
    }
    if !(0.0..1.0).contains(&bp) {
        return Err(invalid("bottom_probability", bp, "must be in [0, 1)"));
    }
    if !(tp > bp && tp <= 1.0) {
        return Err(invalid(
            "top_probability",
            tp,
            "must be in (bottom_probability, 1]",
        ));
    }
    let (left, right) = (mode - bottom, top - mode);
    if left == 0.0 && right == 0.0 {
        return Err(invalid(
            "top",
            top,
            "bottom = mode = top cannot have two different percentiles",
        ));
    }
    let tq = 1.0 - tp;
    let g1 = |alpha: f64| alpha - (bp * alpha).sqrt();
    let g2 = |alpha: f64| (1.0 - alpha) - (tq * (1.0 - alpha)).sqrt();
    let alpha = if left == 0.0 {
        bp
    } else if right == 0.0 {
        tp
    } else {
        let (mut low, mut high) = (bp, tp); // h(low) > 0 > h(high)
        loop {
            let middle = 0.5 * (low + high);
            if middle <= low || middle >= high {
                break middle;
            }
            if left * g2(middle) - right * g1(middle) > 0.0 {
                low = middle;
            } else {
                high = middle;
            }
        }
    };
    let (d1, d2) = (g1(alpha), g2(alpha));
    let width = if d1 >= d2 { left / d1 } else { right / d2 };
    if !(width.is_finite() && width > 0.0) {
        return Err(invalid(
            "top_probability",
            tp,
            "no triangular distribution fits",
        ));
    }
    let min = (mode - alpha * width).min(bottom);
    let max = (mode + (1.0 - alpha) * width).max(top);
    Ok((min, max))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Triangular CDF written out here, independent of `continuous.rs`.
    fn triangular_cdf(a: f64, c: f64, b: f64, x: f64) -> f64 {
        if x <= c {
            (x - a).powi(2) / ((b - a) * (c - a))
        } else {
            1.0 - (b - x).powi(2) / ((b - a) * (b - c))
        }
    }

    #[test]
    fn percentiles_are_matched() {
        let cases = [
            (10.0, 20.0, 40.0, 0.1, 0.9),
            (0.0, 1.0, 2.0, 0.05, 0.95),
            (5.0, 5.0, 9.0, 0.2, 0.7),
            (1.0, 3.0, 3.0, 0.3, 0.8),
            (-7.0, -2.0, 100.0, 0.0, 0.99),
            (-7.0, -2.0, 100.0, 0.01, 1.0),
            (0.0, 0.5, 1.0, 0.4999, 0.5001),
        ];
        for (bottom, mode, top, bp, tp) in cases {
            let (a, b) = trigen_bounds(bottom, mode, top, bp, tp).unwrap();
            assert!(a <= bottom && b >= top && a <= mode && mode <= b);
            let scale = b - a;
            let fb = if bottom == a {
                0.0
            } else {
                triangular_cdf(a, mode, b, bottom)
            };
            let ft = if top == b {
                1.0
            } else {
                triangular_cdf(a, mode, b, top)
            };
            assert!(
                (fb - bp).abs() < 1e-14,
                "{bottom} {mode} {top}: F(bottom) = {fb} (a={a}, b={b}, {scale})"
            );
            assert!(
                (ft - tp).abs() < 1e-14,
                "{bottom} {mode} {top}: F(top) = {ft} (a={a}, b={b})"
            );
        }
    }

    #[test]
    fn zero_and_one_probabilities_pin_the_ends() {
        let (a, b) = trigen_bounds(1.0, 2.0, 4.0, 0.0, 1.0).unwrap();
        assert_eq!((a, b), (1.0, 4.0));
    }

    #[test]
    fn impossible_inputs_are_errors() {
        assert!(trigen_bounds(1.0, 1.0, 1.0, 0.1, 0.9).is_err());
        assert!(trigen_bounds(2.0, 1.0, 3.0, 0.1, 0.9).is_err());
        assert!(trigen_bounds(0.0, 1.0, 3.0, 0.9, 0.1).is_err());
        assert!(trigen_bounds(0.0, 1.0, 3.0, 0.5, 0.5).is_err());
        assert!(trigen_bounds(0.0, 1.0, 3.0, -0.1, 0.5).is_err());
        assert!(trigen_bounds(0.0, f64::NAN, 3.0, 0.1, 0.5).is_err());
    }
}
