//! Summary of one output: moments, percentiles, histogram, ECDF and convergence.

use super::reduce::{BLOCK, add_arrays, block_reduce, lane_sums, sum_by};
use super::sort::{key, sort_keys, unkey};
use super::{ConvergencePoint, EcdfPoint, Histogram, OutputStatistics, Percentile, StatsOptions};
use rayon::prelude::*;

/// z-value of a two-sided 95% normal confidence interval.
const Z95: f64 = 1.96;

pub(crate) fn summarize(samples: &[f64], options: &StatsOptions) -> OutputStatistics {
    let (sorted, convergence) = rayon::join(
        || sorted_finite(samples),
        || convergence(samples, options.convergence_every),
    );
    let n = sorted.len();
    let m = moments(&sorted);
    let percentiles = options
        .percentiles
        .iter()
        .map(|&p| Percentile {
            p,
            value: quantile(&sorted, p / 100.0),
        })
        .collect();
    OutputStatistics {
        count: n as u64,
        errors: (samples.len() - n) as u64,
        mean: m.mean,
        std: m.std,
        min: sorted.first().copied().unwrap_or(f64::NAN),
        max: sorted.last().copied().unwrap_or(f64::NAN),
        skewness: m.skewness,
        kurtosis: m.kurtosis,
        std_error: m.std / (n as f64).sqrt(),
        percentiles,
        histogram: histogram(&sorted, options.max_histogram_bins),
        ecdf: ecdf(&sorted, options.ecdf_points),
        convergence,
    }
}

/// The finite samples, sorted ascending (integer sort of order-preserving keys).
fn sorted_finite(samples: &[f64]) -> Vec<f64> {
    let mut keys = Vec::with_capacity(samples.len());
    keys.extend(samples.iter().filter(|x| x.is_finite()).map(|&x| key(x)));
    // In-place collect: the key buffer is reused for the values.
    sort_keys(keys).into_iter().map(unkey).collect()
}

pub(crate) struct Moments {
    pub mean: f64,
    pub std: f64,
    pub skewness: f64,
    pub kurtosis: f64,
}

/// Two-pass moments (Chan, Golub & LeVeque, "Algorithms for computing the sample variance",
/// 1983): the mean by a blocked pairwise sum, then the central sums of d^2, d^3, d^4 with
/// d = x - mean. Relative error O(eps * (BLOCK/8 + log n)) on each sum.
///
/// - `std`: sample standard deviation sqrt(sum d^2 / (n-1)) (NaN for n < 2);
/// - `skewness`: g1 = m3 / m2^1.5 and `kurtosis`: excess g2 = m4 / m2^2 - 3, with
///   m_k = sum d^k / n (scipy.stats.skew / kurtosis with bias=True). Like scipy, both are
///   NaN when the variance is zero to rounding (m2 <= (eps * mean)^2).
///
/// All-equal samples give mean = that value and std = 0 exactly.
pub(crate) fn moments(x: &[f64]) -> Moments {
    let n = x.len();
    let nan = Moments {
        mean: f64::NAN,
        std: f64::NAN,
        skewness: f64::NAN,
        kurtosis: f64::NAN,
    };
    if n == 0 {
        return nan;
    }
    let nf = n as f64;
    let mut mean = sum_by(n, |i| x[i]) / nf;
    // `x` is sorted: all-equal samples are detected exactly.
    if x[0] == x[n - 1] {
        mean = x[0];
    }
    let [s2, s3, s4] = block_reduce(
        n,
        |r| {
            lane_sums(r, |i| {
                let d = x[i] - mean;
                let d2 = d * d;
                [d2, d2 * d, d2 * d2]
            })
        },
        add_arrays,
    )
    .unwrap_or([0.0; 3]);
    let std = if n > 1 {
        (s2 / (nf - 1.0)).sqrt()
    } else {
        f64::NAN
    };
    let (m2, m3, m4) = (s2 / nf, s3 / nf, s4 / nf);
    let degenerate = m2 <= (f64::EPSILON * mean).powi(2);
    let (skewness, kurtosis) = if degenerate {
        (f64::NAN, f64::NAN)
    } else {
        (m3 / m2.powf(1.5), m4 / (m2 * m2) - 3.0)
    };
    Moments {
        mean,
        std,
        skewness,
        kurtosis,
    }
}

/// Quantile `q` in [0, 1] of sorted data by linear interpolation between order statistics
/// (Hyndman & Fan type 7: numpy's default 'linear', Excel PERCENTILE.INC):
/// h = (n-1) q, value = x[floor h] + (h - floor h) (x[floor h + 1] - x[floor h]).
/// The interpolation is evaluated exactly like numpy's `_lerp` (from the upper point when
/// the fraction is >= 0.5), so results match `np.percentile` bit for bit.
/// NaN for empty data or q outside [0, 1].
pub(crate) fn quantile(sorted: &[f64], q: f64) -> f64 {
    let n = sorted.len();
    if n == 0 || !(0.0..=1.0).contains(&q) {
        return f64::NAN;
    }
    let h = (n - 1) as f64 * q;
    let lo = h.floor();
    let t = h - lo;
    let i = (lo as usize).min(n - 1);
    let a = sorted[i];
    let b = sorted[(i + 1).min(n - 1)];
    let d = b - a;
    if t >= 0.5 {
        b - d * (1.0 - t)
    } else {
        a + d * t
    }
}

/// Equal-width histogram from min to max (each bin [e_i, e_i+1), the last one closed, like
/// `np.histogram`).
///
/// Bin count: Freedman-Diaconis, width 2 IQR / n^(1/3) and ceil((max - min) / width) bins;
/// when IQR = 0 (a spike holding half the mass), Sturges' ceil(log2 n) + 1 bins; clamped to
/// [1, max_bins]. Edges: e_i = min + i (max - min) / bins, e_bins = max (np.linspace).
/// All-equal data gives one bin [x, x]; empty data gives no edges and no counts.
pub(crate) fn histogram(sorted: &[f64], max_bins: usize) -> Histogram {
    let n = sorted.len();
    if n == 0 {
        return Histogram {
            edges: Vec::new(),
            counts: Vec::new(),
        };
    }
    let (min, max) = (sorted[0], sorted[n - 1]);
    if min == max {
        return Histogram {
            edges: vec![min, max],
            counts: vec![n as u64],
        };
    }
    let max_bins = max_bins.max(1);
    let nf = n as f64;
    let iqr = quantile(sorted, 0.75) - quantile(sorted, 0.25);
    let span = max - min;
    let bins_f = if iqr > 0.0 {
        let width = 2.0 * iqr / nf.powf(1.0 / 3.0);
        (span / width).ceil()
    } else {
        nf.log2().ceil() + 1.0
    };
    // NaN (inf / inf) or huge counts fall back to the cap.
    let bins = if bins_f.is_nan() || bins_f >= max_bins as f64 {
        max_bins
    } else {
        (bins_f as usize).max(1)
    };
    let edges: Vec<f64> = if span.is_finite() {
        let step = span / bins as f64;
        (0..bins)
            .map(|i| i as f64 * step + min)
            .chain([max])
            .collect()
    } else {
        // max - min overflows: step from the halves.
        let step = max / bins as f64 - min / bins as f64;
        (0..bins)
            .map(|i| i as f64 * step + min)
            .chain([max])
            .collect()
    };
    // Number of samples below each lower edge; the last bin takes everything up to max.
    let below: Vec<usize> = edges[..bins]
        .iter()
        .map(|&e| sorted.partition_point(|&x| x < e))
        .chain([n])
        .collect();
    let counts = below.windows(2).map(|w| (w[1] - w[0]) as u64).collect();
    Histogram { edges, counts }
}

/// `points` points of the empirical CDF: the quantile (as [`quantile`]) at probability
/// k / (points - 1), k = 0..points. One point is (max, 1); none for empty data.
pub(crate) fn ecdf(sorted: &[f64], points: usize) -> Vec<EcdfPoint> {
    if sorted.is_empty() || points == 0 {
        return Vec::new();
    }
    if points == 1 {
        return vec![EcdfPoint {
            value: sorted[sorted.len() - 1],
            probability: 1.0,
        }];
    }
    let last = (points - 1) as f64;
    (0..points)
        .map(|k| {
            let probability = k as f64 / last;
            EcdfPoint {
                value: quantile(sorted, probability),
                probability,
            }
        })
        .collect()
}

/// Running mean and its 95% confidence interval mean +- 1.96 s / sqrt(count) (s the sample
/// standard deviation), after every `every` iterations in iteration order and at the end;
/// `count` is the number of finite samples so far (non-finite ones are skipped, not
/// compacted). `every == 0` reports only the end. Empty samples report nothing.
///
/// Each segment of `every` iterations is summarised by (count, mean, M2) in two passes,
/// then segments are merged left to right with Chan et al.'s update
/// (M2 = M2a + M2b + delta^2 na nb / n), which is stable and independent of threads.
/// Mean and CI are NaN while count is 0, the CI while count < 2.
pub(crate) fn convergence(samples: &[f64], every: u64) -> Vec<ConvergencePoint> {
    let len = samples.len();
    if len == 0 {
        return Vec::new();
    }
    let every = usize::try_from(every).unwrap_or(usize::MAX);
    let seg = if every == 0 { len } else { every.min(len) };
    let segments: Vec<(f64, f64, f64)> = samples
        .par_chunks(seg)
        .with_min_len(BLOCK.div_ceil(seg).max(1))
        .map(segment_stats)
        .collect();
    let mut out = Vec::with_capacity(segments.len());
    let (mut n, mut mean, mut m2) = (0.0f64, f64::NAN, 0.0f64);
    for (k, &(nb, mb, m2b)) in segments.iter().enumerate() {
        if nb > 0.0 {
            if n == 0.0 {
                (n, mean, m2) = (nb, mb, m2b);
            } else {
                let total = n + nb;
                let delta = mb - mean;
                mean += delta * (nb / total);
                m2 += m2b + delta * delta * (n * nb / total);
                n = total;
            }
        }
        let half = if n > 1.0 {
            Z95 * (m2 / (n - 1.0)).sqrt() / n.sqrt()
        } else {
            f64::NAN
        };
        out.push(ConvergencePoint {
            iterations: ((k + 1) * seg).min(len) as u64,
            mean,
            ci_low: mean - half,
            ci_high: mean + half,
        });
    }
    out
}

/// (count, mean, M2) of the finite values of one segment, in two blocked passes.
fn segment_stats(seg: &[f64]) -> (f64, f64, f64) {
    let [n, s] = block_reduce(
        seg.len(),
        |r| {
            lane_sums(r, |i| {
                if seg[i].is_finite() {
                    [1.0, seg[i]]
                } else {
                    [0.0; 2]
                }
            })
        },
        add_arrays,
    )
    .unwrap_or([0.0; 2]);
    if n == 0.0 {
        return (0.0, f64::NAN, 0.0);
    }
    let mean = s / n;
    let m2 = sum_by(seg.len(), |i| {
        let d = seg[i] - mean;
        if seg[i].is_finite() { d * d } else { 0.0 }
    });
    (n, mean, m2)
}
