//! Scalar semantics of the IR functions that need more than one arithmetic operation:
//! order statistics and the financial root finders (IRR, RATE, XIRR). The CPU executor calls
//! these per iteration; the formula compiler calls the same ones to fold constants, so a
//! folded cell and a simulated one can never disagree.
//!
//! Errors are NaN, as everywhere in the engine (Excel's #NUM!).

/// Median of `values`; NaN if any is NaN or there are none.
pub fn median(values: &mut [f64]) -> f64 {
    if values.is_empty() || values.iter().any(|v| v.is_nan()) {
        return f64::NAN;
    }
    values.sort_unstable_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

/// Excel's LARGE(values, k) (`largest = true`) and SMALL(values, k): the k-th largest or
/// smallest value, with k rounded up to an integer; NaN unless 1 <= k <= n.
pub fn kth(values: &mut [f64], k: f64, largest: bool) -> f64 {
    let k = k.ceil();
    if values.iter().any(|v| v.is_nan()) || !(k >= 1.0 && k <= values.len() as f64) {
        return f64::NAN;
    }
    values.sort_unstable_by(f64::total_cmp);
    let index = k as usize - 1;
    if largest {
        values[values.len() - 1 - index]
    } else {
        values[index]
    }
}

/// The first guess of Excel's IRR, RATE and XIRR.
const DEFAULT_GUESS: f64 = 0.1;
/// Relative step below which a root is accepted.
const TOLERANCE: f64 = 1e-13;

/// A root of `f` on (-1, inf) near `guess`: Newton's method (as Excel does) with a
/// numerical derivative; if it fails, a scan for a sign change on a fixed grid of rates
/// followed by bisection to full precision. Accuracy: the root to about 1e-13 relative, or to
/// the rounding of f. NaN when no root is found.
fn solve_rate(f: impl Fn(f64) -> f64, guess: f64) -> f64 {
    let mut rate = guess;
    for _ in 0..60 {
        let value = f(rate);
        if value == 0.0 {
            return rate;
        }
        let h = 1e-7 * (1.0 + rate.abs());
        let slope = (f(rate + h) - f(rate - h)) / (2.0 * h);
        if !(slope.is_finite() && slope != 0.0) {
            break;
        }
        let next = rate - value / slope;
        if !next.is_finite() || next <= -1.0 {
            break;
        }
        if (next - rate).abs() <= TOLERANCE * (1.0 + next.abs()) {
            return next;
        }
        rate = next;
    }
    // Bracket: the sign change on the grid nearest to the guess, then bisect.
    const GRID: [f64; 19] = [
        -0.999, -0.99, -0.95, -0.9, -0.75, -0.5, -0.25, -0.1, 0.0, 0.05, 0.1, 0.2, 0.35, 0.5, 1.0,
        2.0, 5.0, 10.0, 100.0,
    ];
    let values: Vec<f64> = GRID.iter().map(|&r| f(r)).collect();
    let bracket = (0..GRID.len() - 1)
        .filter(|&i| values[i].is_finite() && values[i + 1].is_finite())
        .filter(|&i| values[i].signum() != values[i + 1].signum() || values[i] == 0.0)
        .min_by(|&a, &b| {
            let distance = |i: usize| ((GRID[i] + GRID[i + 1]) / 2.0 - guess).abs();
            distance(a).total_cmp(&distance(b))
        });
    let Some(i) = bracket else { return f64::NAN };
    let (mut lo, mut hi, mut f_lo) = (GRID[i], GRID[i + 1], values[i]);
    if f_lo == 0.0 {
        return lo;
    }
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if mid <= lo || mid >= hi {
            break;
        }
        let f_mid = f(mid);
        if f_mid == 0.0 {
            return mid;
        }
        if f_mid.signum() == f_lo.signum() {
            lo = mid;
            f_lo = f_mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

/// Excel's IRR(values): the rate at which the net present value of the cash flows (one
/// per period, the first at time 0) is zero. NaN without a sign change in the flows.
pub fn irr(cash_flows: &[f64]) -> f64 {
    let has_positive = cash_flows.iter().any(|v| *v > 0.0);
    let has_negative = cash_flows.iter().any(|v| *v < 0.0);
    if !(has_positive && has_negative) || cash_flows.iter().any(|v| !v.is_finite()) {
        return f64::NAN;
    }
    let npv = |rate: f64| {
        let factor = 1.0 / (1.0 + rate);
        // Horner form of sum v_t * factor^t.
        cash_flows.iter().rev().fold(0.0, |acc, v| acc * factor + v)
    };
    solve_rate(npv, DEFAULT_GUESS)
}

/// Excel's RATE(nper, pmt, pv, [fv], [type], [guess]): the interest rate per period of an
/// annuity. `args` holds 3 to 6 values in that order.
pub fn rate(args: &[f64]) -> f64 {
    if args.len() < 3 || args.len() > 6 || args.iter().any(|v| !v.is_finite()) {
        return f64::NAN;
    }
    let (nper, pmt, pv) = (args[0], args[1], args[2]);
    let fv = args.get(3).copied().unwrap_or(0.0);
    let due = if args.get(4).copied().unwrap_or(0.0) != 0.0 {
        1.0
    } else {
        0.0
    };
    let guess = args.get(5).copied().unwrap_or(DEFAULT_GUESS);
    if nper <= 0.0 {
        return f64::NAN;
    }
    let balance = |r: f64| {
        if r.abs() < 1e-12 {
            return pv + pmt * nper + fv;
        }
        let growth = (1.0 + r).powf(nper);
        pv * growth + pmt * (1.0 + r * due) * (growth - 1.0) / r + fv
    };
    solve_rate(balance, guess)
}

/// Excel's XIRR(values, dates): like IRR with cash flows at the given dates (serial day
/// numbers), discounted over actual days / 365. `args` holds the values, then the dates.
pub fn xirr(args: &[f64]) -> f64 {
    if args.len() < 4 || !args.len().is_multiple_of(2) || args.iter().any(|v| !v.is_finite()) {
        return f64::NAN;
    }
    let (values, dates) = args.split_at(args.len() / 2);
    if !(values.iter().any(|v| *v > 0.0) && values.iter().any(|v| *v < 0.0)) {
        return f64::NAN;
    }
    let start = dates[0];
    let npv = |rate: f64| {
        values
            .iter()
            .zip(dates)
            .map(|(v, d)| v / (1.0 + rate).powf((d - start) / 365.0))
            .sum::<f64>()
    };
    solve_rate(npv, DEFAULT_GUESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values from Excel's documentation of each function.
    #[test]
    fn matches_excel_documentation() {
        // IRR: -70000, 12000, 15000, 18000, 21000, 26000 -> 8.66%.
        let r = irr(&[-70000.0, 12000.0, 15000.0, 18000.0, 21000.0, 26000.0]);
        assert!((r - 0.086630948036).abs() < 1e-10, "{r}");
        // IRR of the first five flows -> -2.12%.
        let r = irr(&[-70000.0, 12000.0, 15000.0, 18000.0, 21000.0]);
        assert!((r + 0.021244848272).abs() < 1e-10, "{r}");
        // RATE(4*12, -200, 8000) -> 0.77% a month.
        let r = rate(&[48.0, -200.0, 8000.0]);
        assert!((r - 0.007701472488).abs() < 1e-11, "{r}");
        // XIRR: 2008-01-01 -10000, 2008-03-01 2750, 2008-10-30 4250, 2009-02-15 3250,
        // 2009-04-01 2750 -> 37.34%.
        let r = xirr(&[
            -10000.0, 2750.0, 4250.0, 3250.0, 2750.0, 39448.0, 39508.0, 39751.0, 39859.0, 39904.0,
        ]);
        assert!((r - 0.373362535).abs() < 1e-8, "{r}");
    }

    #[test]
    fn roots_are_roots() {
        let flows = [-100.0, 30.0, 40.0, 50.0, 20.0];
        let r = irr(&flows);
        let npv: f64 = flows
            .iter()
            .enumerate()
            .map(|(t, v)| v / (1.0 + r).powi(t as i32))
            .sum();
        assert!(npv.abs() < 1e-9, "npv at irr {npv}");
    }

    #[test]
    fn impossible_cases_are_nan() {
        assert!(irr(&[100.0, 50.0]).is_nan());
        assert!(irr(&[-100.0]).is_nan());
        assert!(irr(&[-100.0, f64::NAN, 200.0]).is_nan());
        assert!(rate(&[0.0, -200.0, 8000.0]).is_nan());
        assert!(rate(&[10.0, 100.0, 100.0]).is_nan());
        assert!(xirr(&[-1.0, 2.0, 0.0]).is_nan());
    }

    #[test]
    fn order_statistics() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&mut []).is_nan());
        assert_eq!(kth(&mut [3.0, 5.0, 4.0, 1.0], 1.0, true), 5.0);
        assert_eq!(kth(&mut [3.0, 5.0, 4.0, 1.0], 1.5, true), 4.0);
        assert_eq!(kth(&mut [3.0, 5.0, 4.0, 1.0], 2.0, false), 3.0);
        assert!(kth(&mut [3.0, 5.0], 3.0, false).is_nan());
        assert!(kth(&mut [3.0, 5.0], 0.0, false).is_nan());
    }
}
