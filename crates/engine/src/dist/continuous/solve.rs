//! Safeguarded Newton iteration for inverting an accurate CDF.
//!
//! The equation is solved on the logarithm of the tail that holds the target
//! (ln F(x) = ln p for a lower-tail target, ln S(x) = ln q for an upper one), which is
//! close to linear in the tails (F ≈ c x^a near zero for gamma and beta, ln S ≈ -x for
//! gamma's upper tail), so Newton converges in a few steps from a rough start. Every
//! evaluation narrows a bracket [lo, hi] that holds the root; a step that leaves it is
//! replaced by a bisection (geometric when the bracket spans orders of magnitude), so
//! the iteration cannot diverge. Accuracy is limited by that of the CDF (~1e-14
//! relative), giving quantiles to ~1e-13 relative or better.

/// Newton's method may need a few bisections first; 200 covers bisection from
/// [1e-300, 1] in the worst case.
const MAX_ITER: usize = 200;

/// Which tail function `eval` returns.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Tail {
    /// ln F(x), increasing in x.
    Lower,
    /// ln S(x) = ln(1 - F(x)), decreasing in x.
    Upper,
}

/// Solves `eval(x).0 == ln_target` for x in (lo, hi) starting from `x0`.
///
/// `eval(x)` returns (ln T(x), d ln T / dx) for the tail T chosen by `tail`. With
/// `log_x`, the Newton step is taken in ln x (for x > 0 whose quantiles may span many
/// orders of magnitude).
pub(super) fn newton_quantile(
    eval: impl Fn(f64) -> (f64, f64),
    ln_target: f64,
    tail: Tail,
    x0: f64,
    mut lo: f64,
    mut hi: f64,
    log_x: bool,
) -> f64 {
    let mut x = if x0 > lo && x0 < hi {
        x0
    } else {
        bisect(lo, hi, lo, log_x)
    };
    let mut prev_step = f64::INFINITY;
    for _ in 0..MAX_ITER {
        let (ln_t, d_ln_t) = eval(x);
        let g = ln_t - ln_target;
        if g == 0.0 {
            return x;
        }
        // The root is above x when the lower tail is too small or the upper too large.
        let root_above = (g < 0.0) == (tail == Tail::Lower);
        if root_above {
            lo = x;
        } else {
            hi = x;
        }
        let newton = if log_x {
            x * (-g / (d_ln_t * x)).exp()
        } else {
            x - g / d_ln_t
        };
        let step = (newton - x).abs();
        // Converged: a Newton step at the CDF's noise level, or Newton no longer
        // contracting quadratically because the residual is rounding noise. (Checked
        // before the bracket test: a noise-level step may fall just outside it.)
        let tiny = step <= 1e-14 * x.abs().max(f64::MIN_POSITIVE);
        let noisy = step <= 1e-11 * x.abs() && step >= 0.25 * prev_step;
        if tiny || noisy {
            return if newton > lo && newton < hi {
                newton
            } else {
                x
            };
        }
        let next = if newton > lo && newton < hi {
            newton
        } else {
            bisect(lo, hi, x, log_x)
        };
        if lo >= hi || next == x || next.is_nan() {
            return x;
        }
        prev_step = step;
        x = next;
    }
    x
}

/// A point strictly inside (lo, hi) when Newton's step is unusable.
fn bisect(lo: f64, hi: f64, x: f64, log_x: bool) -> f64 {
    if hi == f64::INFINITY {
        return if lo > 0.0 {
            4.0 * lo
        } else {
            4.0 * x.abs() + 1.0
        };
    }
    if lo == f64::NEG_INFINITY {
        return if hi < 0.0 {
            4.0 * hi
        } else {
            -4.0 * x.abs() - 1.0
        };
    }
    if log_x && hi > 0.0 {
        if lo <= 0.0 {
            return hi * 1e-4;
        }
        if hi > 4.0 * lo {
            return (lo * hi).sqrt();
        }
    }
    0.5 * (lo + hi)
}
