//! Inverse-CDF machinery shared by the discrete families.
//!
//! * [`StepTable`]: a sorted list of support values with their CDF *and* survival function,
//!   both accumulated with Neumaier's compensated summation, and a guide table (Chen & Asau,
//!   "On generating random variates from an empirical distribution", 1974) that turns the
//!   search into O(1) expected steps. For p <= 1/2 the search compares p with the CDF, for
//!   p > 1/2 it compares `1 - p` (exact in f64) with the survival function, so upper-tail
//!   quantiles are as accurate as lower-tail ones.
//! * [`lattice_table`]: builds a `StepTable` for a log-concave integer law from its pmf, from
//!   the mode outwards, stopping where the neglected tail mass is provably below
//!   [`NEGLECTED_MASS`] (for log-concave pmfs, the ratios `pmf(k+1)/pmf(k)` are non-increasing,
//!   so the tail after `k` is at most `pmf(k) r / (1 - r)`).
//! * [`search_integer`]: the general path, from a guess, doubling steps then bisection,
//!   with a predicate that uses the accurate CDF/survival function.

use std::sync::Arc;

/// The tail mass a lattice table may leave out at each end.
pub(crate) const NEGLECTED_MASS: f64 = 1e-32;
/// Below this p, a table that does not start at the support minimum is not trusted (its
/// first CDF entries are exact only up to `NEGLECTED_MASS`); the general search answers.
pub(crate) const TABLE_LOW_P: f64 = 1e-16;
/// The largest lattice table built (entries). Larger supports use the general search.
pub(crate) const MAX_TABLE: usize = 8192;
/// Re-anchor the pmf recurrence on a direct evaluation this often, so that its rounding
/// errors (about 2 ulps a step) never accumulate beyond ~64 ulps.
const ANCHOR_EVERY: usize = 32;

/// Support values with compensated CDF and survival tables and a guide table.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StepTable {
    values: Arc<[f64]>,
    cdf: Arc<[f64]>,
    sf: Arc<[f64]>,
    guide: Arc<[u32]>,
    /// Mass below the first value (left out of the table).
    below: f64,
}

/// Neumaier's improved Kahan summation: running sums accurate to about 1 ulp whatever the
/// number of terms.
fn compensated_prefix_sums(terms: impl Iterator<Item = f64>) -> Vec<f64> {
    let mut sum = 0.0_f64;
    let mut compensation = 0.0_f64;
    terms
        .map(|term| {
            let t = sum + term;
            if sum.abs() >= term.abs() {
                compensation += (sum - t) + term;
            } else {
                compensation += (term - t) + sum;
            }
            sum = t;
            sum + compensation
        })
        .collect()
}

impl StepTable {
    /// `values` strictly increasing, `masses` non-negative with a sum close to 1 (the
    /// caller normalises). `below` and `above` are the masses left out of the
    /// table below its first value and above its last.
    pub(crate) fn new(values: Vec<f64>, masses: &[f64], below: f64, above: f64) -> Self {
        let len = values.len();
        let cdf: Vec<f64> =
            compensated_prefix_sums(std::iter::once(below).chain(masses.iter().copied()))
                .into_iter()
                .skip(1)
                .collect();
        // sf[i] = P(X > values[i]) = above + masses[i+1..].
        let mut sf: Vec<f64> =
            compensated_prefix_sums(std::iter::once(above).chain(masses.iter().rev().copied()));
        sf.truncate(len);
        sf.reverse();
        // Guide: guide[j] = first i with cdf[i] >= j / len.
        let mut guide = Vec::with_capacity(len);
        let mut i = 0usize;
        for j in 0..len {
            let level = j as f64 / len as f64;
            while i + 1 < len && cdf[i] < level {
                i += 1;
            }
            guide.push(u32::try_from(i).unwrap_or(u32::MAX));
        }
        StepTable {
            values: values.into(),
            cdf: cdf.into(),
            sf: sf.into(),
            guide: guide.into(),
            below,
        }
    }

    pub(crate) fn values(&self) -> &[f64] {
        &self.values
    }

    /// Index of the smallest value with `CDF >= p`, for p in (0, 1).
    #[inline]
    pub(crate) fn search(&self, p: f64) -> usize {
        let len = self.values.len();
        let last = len - 1;
        let slot = ((p * len as f64) as usize).min(last);
        let mut i = (self.guide[slot] as usize).min(last);
        if p <= 0.5 {
            while i < last && self.cdf[i] < p {
                i += 1;
            }
            while i > 0 && self.cdf[i - 1] >= p {
                i -= 1;
            }
        } else {
            let q = 1.0 - p;
            while i < last && self.sf[i] > q {
                i += 1;
            }
            while i > 0 && self.sf[i - 1] <= q {
                i -= 1;
            }
        }
        i
    }

    /// Smallest value with `CDF >= p`.
    #[inline]
    pub(crate) fn quantile(&self, p: f64) -> f64 {
        self.values[self.search(p)]
    }

    pub(crate) fn first(&self) -> f64 {
        self.values[0]
    }

    pub(crate) fn last(&self) -> f64 {
        self.values[self.values.len() - 1]
    }

    /// P(X <= x), using the survival table above the median for accuracy there.
    pub(crate) fn cdf(&self, x: f64) -> f64 {
        let count = self.values.partition_point(|&v| v <= x);
        if count == 0 {
            return self.below;
        }
        let i = count - 1;
        if self.cdf[i] <= 0.5 {
            self.cdf[i]
        } else {
            1.0 - self.sf[i]
        }
    }

    fn mass(&self, i: usize) -> f64 {
        if i == 0 {
            self.cdf[0] - self.below
        } else {
            self.cdf[i] - self.cdf[i - 1]
        }
    }

    /// Mean and variance of the tabulated masses (two passes, no cancellation).
    pub(crate) fn moments(&self) -> (f64, f64) {
        let mean: f64 = (0..self.values.len())
            .map(|i| self.mass(i) * self.values[i])
            .sum();
        let variance: f64 = (0..self.values.len())
            .map(|i| self.mass(i) * (self.values[i] - mean).powi(2))
            .sum();
        (mean, variance)
    }
}

/// A log-concave law on the integers `[min, max]` (`max` may be infinite), as needed to
/// tabulate it.
pub(crate) trait LatticeLaw {
    fn support(&self) -> (f64, f64);
    /// An integer mode.
    fn mode(&self) -> f64;
    /// The pmf, evaluated directly (accurately).
    fn pmf(&self, k: f64) -> f64;
    /// `pmf(k + 1) / pmf(k)` for `min <= k < max`.
    fn ratio_up(&self, k: f64) -> f64;
}

/// Tabulates a lattice law when its support that carries all but `NEGLECTED_MASS` at each
/// end has at most `MAX_TABLE` points; `None` otherwise. O(points) work.
pub(crate) fn lattice_table(law: &impl LatticeLaw) -> Option<StepTable> {
    let (min, max) = law.support();
    let mode = law.mode().clamp(min, max);
    let at_mode = law.pmf(mode);
    if at_mode.is_nan() || at_mode <= 0.0 {
        return None;
    }
    // Upwards from the mode.
    let mut up = vec![at_mode];
    let mut k = mode;
    let mut above = 0.0;
    while k < max {
        let r = law.ratio_up(k);
        let v = up[up.len() - 1];
        if r < 1.0 && v * r / (1.0 - r) < NEGLECTED_MASS {
            above = v * r / (1.0 - r);
            break;
        }
        if up.len() > MAX_TABLE {
            return None;
        }
        k += 1.0;
        up.push(if up.len().is_multiple_of(ANCHOR_EVERY) {
            law.pmf(k)
        } else {
            v * r
        });
    }
    // Downwards from the mode (ratio_up(k - 1) = pmf(k) / pmf(k - 1)).
    let mut down: Vec<f64> = Vec::new();
    let mut k = mode;
    let mut below = 0.0;
    while k > min {
        let r = 1.0 / law.ratio_up(k - 1.0);
        let v = down.last().copied().unwrap_or(at_mode);
        if r < 1.0 && v * r / (1.0 - r) < NEGLECTED_MASS {
            below = v * r / (1.0 - r);
            break;
        }
        if up.len() + down.len() > MAX_TABLE {
            return None;
        }
        k -= 1.0;
        down.push(if (down.len() + 1).is_multiple_of(ANCHOR_EVERY) {
            law.pmf(k)
        } else {
            v * r
        });
    }
    let start = mode - down.len() as f64;
    down.reverse();
    down.extend_from_slice(&up);
    let masses = down;
    let values: Vec<f64> = (0..masses.len()).map(|i| start + i as f64).collect();
    Some(StepTable::new(values, &masses, below, above))
}

/// The smallest integer k in `[min, max]` with `holds(k)`, for a predicate that is false
/// then true along the integers; `guess` is where to start. Doubling steps away from the
/// guess bracket the answer, bisection finds it: about `2 log2(|error of guess|) + 2`
/// evaluations. Returns `max` if the predicate never holds.
pub(crate) fn search_integer(guess: f64, min: f64, max: f64, holds: impl Fn(f64) -> bool) -> f64 {
    let start = if guess.is_nan() {
        min
    } else {
        guess.floor().clamp(min, max)
    };
    let (mut low, mut high); // holds(low) false, holds(high) true
    if holds(start) {
        high = start;
        let mut step = 1.0;
        loop {
            if high <= min {
                return min;
            }
            let candidate = (high - step).max(min);
            if holds(candidate) {
                high = candidate;
                step *= 2.0;
            } else {
                low = candidate;
                break;
            }
        }
    } else {
        low = start;
        let mut step = 1.0;
        loop {
            if low >= max {
                return max;
            }
            let candidate = (low + step).min(max);
            if holds(candidate) {
                high = candidate;
                break;
            }
            low = candidate;
            step *= 2.0;
        }
    }
    while high - low > 1.0 {
        let middle = (0.5 * (low + high)).floor();
        if middle <= low || middle >= high {
            break; // beyond 2^53 integers are no longer all representable
        }
        if holds(middle) {
            high = middle;
        } else {
            low = middle;
        }
    }
    high
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_table_search_matches_linear_scan() {
        let values: Vec<f64> = (0..7).map(f64::from).collect();
        let masses = [0.1, 0.0, 0.25, 0.05, 0.3, 0.2, 0.1];
        let table = StepTable::new(values.clone(), &masses, 0.0, 0.0);
        for j in 1..1000 {
            let p = f64::from(j) / 1000.0;
            let mut cumulative = 0.0;
            let mut expected = 6.0;
            for (v, m) in values.iter().zip(masses) {
                cumulative += m;
                if cumulative >= p - 1e-12 {
                    expected = *v;
                    break;
                }
            }
            let got = table.quantile(p);
            // At the exact jumps (p = 0.1, 0.35, ...) rounding may pick either side.
            let at_jump = [0.1, 0.35, 0.4, 0.7, 0.9]
                .iter()
                .any(|c| (p - c).abs() < 1e-12);
            assert!(got == expected || at_jump, "p={p}: {got} vs {expected}");
        }
    }

    #[test]
    fn search_integer_finds_threshold_from_any_guess() {
        for guess in [-5.0, 0.0, 17.0, 1e6, f64::NAN] {
            assert_eq!(
                search_integer(guess, 0.0, f64::INFINITY, |k| k >= 1234.0),
                1234.0
            );
            assert_eq!(search_integer(guess, 0.0, 100.0, |k| k >= 1234.0), 100.0);
            assert_eq!(search_integer(guess, 3.0, 100.0, |_| true), 3.0);
        }
    }
}
