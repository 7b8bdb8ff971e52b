//! Properties of `summarize` and `sensitivity` that need no reference table: bit-identical
//! results across thread counts, degenerate inputs, closed-form values on a large normal
//! sample, and the documented conventions.

mod stats_common;

use stats_common::*;
use ultra_engine::stats::{
    InputSensitivity, OutputStatistics, StatsOptions, sensitivity, summarize,
};

/// Every number of a summary, as bits (NaN-safe exact comparison).
fn summary_bits(s: &OutputStatistics) -> Vec<u64> {
    let mut v = vec![s.count, s.errors];
    v.extend(
        [
            s.mean,
            s.std,
            s.min,
            s.max,
            s.skewness,
            s.kurtosis,
            s.std_error,
        ]
        .map(f64::to_bits),
    );
    v.extend(
        s.percentiles
            .iter()
            .flat_map(|p| [p.p.to_bits(), p.value.to_bits()]),
    );
    v.extend(s.histogram.edges.iter().map(|e| e.to_bits()));
    v.extend(&s.histogram.counts);
    v.extend(
        s.ecdf
            .iter()
            .flat_map(|e| [e.value.to_bits(), e.probability.to_bits()]),
    );
    v.extend(s.convergence.iter().flat_map(|c| {
        [
            c.iterations,
            c.mean.to_bits(),
            c.ci_low.to_bits(),
            c.ci_high.to_bits(),
        ]
    }));
    v
}

fn sensitivity_bits(s: &[Vec<InputSensitivity>]) -> Vec<u64> {
    s.iter()
        .flatten()
        .flat_map(|r| {
            [
                r.input as u64,
                r.spearman.to_bits(),
                r.regression.to_bits(),
                r.contribution_to_variance.to_bits(),
                r.mean_at_low.to_bits(),
                r.mean_at_high.to_bits(),
            ]
        })
        .collect()
}

fn in_pool<T: Send>(threads: usize, f: impl FnOnce() -> T + Send) -> T {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("thread pool")
        .install(f)
}

/// A 10-year-NPV-like model: 4 inputs (two normal, one uniform, one discrete with ties) and
/// 2 outputs, with a few non-finite output iterations.
fn model(n: usize, seed: u64) -> (Vec<Vec<f64>>, Vec<Vec<f64>>) {
    let mut g = SplitMix64::new(seed);
    let mut x = (0..4)
        .map(|_| Vec::with_capacity(n))
        .collect::<Vec<Vec<f64>>>();
    for _ in 0..n {
        x[0].push(0.05 + 0.02 * g.normal());
        x[1].push(100.0 + 10.0 * g.normal());
        x[2].push(0.08 + 0.04 * g.uniform());
        x[3].push((g.uniform() * 4.0).floor());
    }
    let npv: Vec<f64> = (0..n)
        .map(|i| {
            (1..=10)
                .map(|t| x[1][i] * (1.0 + x[0][i]).powi(t) / (1.0 + x[2][i]).powi(t))
                .sum::<f64>()
                - 50.0 * x[3][i]
        })
        .collect();
    let ratio: Vec<f64> = (0..n)
        .map(|i| {
            if i % 5_021 == 9 {
                f64::NAN
            } else {
                npv[i] / x[3][i]
            }
        })
        .collect(); // +-inf where x3 = 0: non-finite iterations of this output only
    (x, vec![npv, ratio])
}

/// 1e6 samples in release builds, 5e5 in debug builds (std's sort runs its debug
/// assertions there).
#[test]
fn summary_is_bit_identical_across_thread_counts() {
    let n = if cfg!(debug_assertions) {
        500_000
    } else {
        1_000_000
    };
    let mut x = standard_normal(n, 11);
    x[123] = f64::NAN;
    x[n - 1] = f64::INFINITY;
    let options = StatsOptions::default();
    let one = in_pool(1, || summarize(&x, &options));
    let four = in_pool(4, || summarize(&x, &options));
    assert_eq!(summary_bits(&one), summary_bits(&four));
    assert_eq!(one.errors, 2);
}

/// 1e6 iterations in release builds; 1e5 in debug builds, where std's sort runs its
/// debug assertions and would take ~20 s (still 25 blocks, so thread splits matter).
#[test]
fn sensitivity_is_bit_identical_across_thread_counts() {
    let n = if cfg!(debug_assertions) {
        100_000
    } else {
        1_000_000
    };
    let (x, y) = model(n, 12);
    let one = in_pool(1, || sensitivity(&slices(&y), &slices(&x)));
    let four = in_pool(4, || sensitivity(&slices(&y), &slices(&x)));
    assert_eq!(sensitivity_bits(&one), sensitivity_bits(&four));
    // The NPV grows with the growth rate and the base cash flow, falls with the discount
    // rate and the discrete cost.
    let npv = &one[0];
    assert!(npv[0].spearman > 0.0 && npv[1].spearman > 0.0);
    assert!(npv[2].spearman < 0.0 && npv[3].spearman < 0.0);
    let total: f64 = npv.iter().map(|r| r.contribution_to_variance.abs()).sum();
    assert!((total - 1.0).abs() < 1e-12);
}

/// Standard-normal sample of 1e6: every estimate within 4 standard errors of its true value
/// (SE of the mean 1/sqrt(n), of the std 1/sqrt(2n), of g1 sqrt(6/n), of g2 sqrt(24/n), of
/// the p-quantile sqrt(p(1-p)) / (phi(z_p) sqrt(n))).
#[test]
fn closed_form_standard_normal() {
    let n = 1_000_000usize;
    let nf = n as f64;
    let x = standard_normal(n, 21);
    let options = StatsOptions {
        percentiles: vec![50.0, 97.5],
        ..StatsOptions::default()
    };
    let s = summarize(&x, &options);
    assert_eq!(s.count, n as u64);
    assert!(s.mean.abs() < 4.0 / nf.sqrt(), "mean {}", s.mean);
    assert!(
        (s.std - 1.0).abs() < 4.0 / (2.0 * nf).sqrt(),
        "std {}",
        s.std
    );
    assert!(
        s.skewness.abs() < 4.0 * (6.0 / nf).sqrt(),
        "skew {}",
        s.skewness
    );
    assert!(
        s.kurtosis.abs() < 4.0 * (24.0 / nf).sqrt(),
        "kurt {}",
        s.kurtosis
    );
    assert_eq!(s.std_error, s.std / nf.sqrt());
    let phi = |z: f64| (-0.5 * z * z).exp() / (2.0 * std::f64::consts::PI).sqrt();
    let se_q = |p: f64, z: f64| (p * (1.0 - p)).sqrt() / (phi(z) * nf.sqrt());
    assert!(s.percentiles[0].value.abs() < 4.0 * se_q(0.5, 0.0));
    assert!((s.percentiles[1].value - 1.959_963_984_540_054).abs() < 4.0 * se_q(0.975, 1.96));
    // Freedman-Diaconis wants about 370 bins here: clamped to the default 200.
    assert_eq!(s.histogram.counts.len(), 200);
    assert_eq!(s.histogram.counts.iter().sum::<u64>(), n as u64);
    assert_eq!(s.histogram.edges[0], s.min);
    assert_eq!(s.histogram.edges[200], s.max);
    assert!(s.ecdf.windows(2).all(|w| w[0].value <= w[1].value));
    assert_eq!((s.ecdf[0].value, s.ecdf[100].value), (s.min, s.max));
    assert_eq!(s.ecdf[50].value, s.percentiles[0].value);
    // 100 convergence points, the last over all samples.
    assert_eq!(s.convergence.len(), 100);
    let last = &s.convergence[99];
    assert_eq!(last.iterations, n as u64);
    assert!((last.mean - s.mean).abs() < 1e-15);
    let half = 1.96 * s.std / nf.sqrt();
    assert!(((last.ci_high - last.mean) - half).abs() < 1e-15);
    assert!(last.ci_low < 0.0 && 0.0 < last.ci_high);
}

#[test]
fn all_equal_samples() {
    let x = vec![2.5; 1000];
    let s = summarize(&x, &StatsOptions::default());
    assert_eq!((s.count, s.errors), (1000, 0));
    assert_eq!(
        (s.mean, s.std, s.min, s.max, s.std_error),
        (2.5, 0.0, 2.5, 2.5, 0.0)
    );
    assert!(s.skewness.is_nan() && s.kurtosis.is_nan());
    assert!(s.percentiles.iter().all(|p| p.value == 2.5));
    assert_eq!(s.histogram.edges, vec![2.5, 2.5]);
    assert_eq!(s.histogram.counts, vec![1000]);
    assert!(s.ecdf.iter().all(|e| e.value == 2.5));
    assert_eq!(
        s.convergence.last().map(|c| (c.mean, c.ci_low, c.ci_high)),
        Some((2.5, 2.5, 2.5))
    );
}

#[test]
fn single_sample() {
    let s = summarize(
        &[f64::NAN, -3.0, f64::NEG_INFINITY],
        &StatsOptions::default(),
    );
    assert_eq!((s.count, s.errors), (1, 2));
    assert_eq!((s.mean, s.min, s.max), (-3.0, -3.0, -3.0));
    assert!(s.std.is_nan() && s.std_error.is_nan() && s.skewness.is_nan());
    assert!(s.percentiles.iter().all(|p| p.value == -3.0));
    assert_eq!(s.histogram.counts, vec![1]);
    assert_eq!(s.ecdf.len(), 101);
    assert_eq!(s.convergence.len(), 1);
    assert_eq!(s.convergence[0].iterations, 3);
    assert_eq!(s.convergence[0].mean, -3.0);
    assert!(s.convergence[0].ci_low.is_nan());
}

#[test]
fn empty_and_all_nan_samples() {
    for x in [vec![], vec![f64::NAN; 5], vec![f64::INFINITY, f64::NAN]] {
        let s = summarize(&x, &StatsOptions::default());
        assert_eq!(s.count, 0);
        assert_eq!(s.errors, x.len() as u64);
        for v in [
            s.mean,
            s.std,
            s.min,
            s.max,
            s.skewness,
            s.kurtosis,
            s.std_error,
        ] {
            assert!(v.is_nan());
        }
        assert!(s.percentiles.iter().all(|p| p.value.is_nan()));
        assert_eq!(s.percentiles.len(), 9);
        assert!(s.histogram.edges.is_empty() && s.histogram.counts.is_empty());
        assert!(s.ecdf.is_empty());
        // One convergence point per started chunk, with no finite sample yet.
        assert_eq!(s.convergence.len(), usize::from(!x.is_empty()));
        assert!(s.convergence.iter().all(|c| c.mean.is_nan()));
    }
}

#[test]
fn options_edge_cases() {
    let x: Vec<f64> = (0..25).map(f64::from).collect();
    let options = StatsOptions {
        percentiles: vec![-1.0, 0.0, 50.0, 100.0, 101.0, f64::NAN],
        max_histogram_bins: 0,
        ecdf_points: 1,
        convergence_every: 10,
    };
    let s = summarize(&x, &options);
    let values: Vec<f64> = s.percentiles.iter().map(|p| p.value).collect();
    assert!(values[0].is_nan() && values[4].is_nan() && values[5].is_nan());
    assert_eq!(&values[1..4], &[0.0, 12.0, 24.0]);
    assert_eq!(s.histogram.counts, vec![25]); // max_histogram_bins 0 acts as 1
    assert_eq!(s.ecdf.len(), 1);
    assert_eq!((s.ecdf[0].value, s.ecdf[0].probability), (24.0, 1.0));
    let its: Vec<u64> = s.convergence.iter().map(|c| c.iterations).collect();
    assert_eq!(its, vec![10, 20, 25]);
    assert_eq!(s.convergence[0].mean, 4.5);
    // Convergence counts finite samples in iteration order: NaNs are skipped, not compacted.
    let mut y = x.clone();
    y[3] = f64::NAN;
    let s = summarize(
        &y,
        &StatsOptions {
            convergence_every: 5,
            ..options
        },
    );
    assert_eq!(s.convergence[0].iterations, 5);
    assert_eq!(s.convergence[0].mean, (0.0 + 1.0 + 2.0 + 4.0) / 4.0);
    // Every == 0: only the end.
    let s = summarize(
        &x,
        &StatsOptions {
            convergence_every: 0,
            ..StatsOptions::default()
        },
    );
    assert_eq!(s.convergence.len(), 1);
    // Half the mass on one value: IQR = 0, Sturges ceil(log2 40) + 1 = 7 bins.
    let z: Vec<f64> = (0..40)
        .map(|i| if i < 32 { 1.0 } else { f64::from(i) })
        .collect();
    let s = summarize(&z, &StatsOptions::default());
    assert_eq!(s.histogram.counts.len(), 7);
    assert_eq!(s.histogram.counts[0], 32);
}

#[test]
fn sensitivity_non_finite_rows_are_dropped_per_output() {
    let (x, y) = model(20_000, 31);
    let both = sensitivity(&slices(&y), &slices(&x));
    // The NPV alone gives the same figures: the shared ranks do not depend on other outputs.
    let alone = sensitivity(&[&y[0]], &slices(&x));
    assert_eq!(sensitivity_bits(&both[..1]), sensitivity_bits(&alone));
    // The ratio output equals the same computation on its finite rows, compacted by hand.
    let keep: Vec<usize> = (0..20_000).filter(|&i| y[1][i].is_finite()).collect();
    assert!(keep.len() < 20_000 && keep.len() > 10_000);
    let xs: Vec<Vec<f64>> = x
        .iter()
        .map(|c| keep.iter().map(|&i| c[i]).collect())
        .collect();
    let ys: Vec<f64> = keep.iter().map(|&i| y[1][i]).collect();
    let compacted = sensitivity(&[&ys], &slices(&xs));
    assert_eq!(sensitivity_bits(&both[1..]), sensitivity_bits(&compacted));
    // A non-finite input drops the row for every output.
    let mut x2 = x.clone();
    x2[0][5] = f64::NAN;
    let dropped = sensitivity(&[&y[0]], &slices(&x2));
    let xs: Vec<Vec<f64>> = x.iter().map(|c| [&c[..5], &c[6..]].concat()).collect();
    let ys = [&y[0][..5], &y[0][6..]].concat();
    assert_eq!(
        sensitivity_bits(&dropped),
        sensitivity_bits(&sensitivity(&[&ys], &slices(&xs)))
    );
}

#[test]
fn sensitivity_degenerate_inputs() {
    let n = 1000;
    let mut g = SplitMix64::new(41);
    let a: Vec<f64> = (0..n).map(|_| g.normal()).collect();
    let b: Vec<f64> = (0..n).map(|_| g.normal()).collect();
    let constant = vec![7.0; n];
    let twice_a: Vec<f64> = a.iter().map(|v| 2.0 * v).collect();
    let y: Vec<f64> = (0..n).map(|i| a[i] + 0.5 * b[i]).collect();
    let r = sensitivity(&[&y, &constant], &[&a, &constant, &twice_a, &b]);
    let (ry, rc) = (&r[0], &r[1]);
    // Constant input: nothing to measure.
    assert_eq!(
        (
            ry[1].spearman,
            ry[1].regression,
            ry[1].contribution_to_variance
        ),
        (0.0, 0.0, 0.0)
    );
    // Collinear input (2a after a): dropped from the regression, which is then exact.
    assert_eq!(ry[2].regression, 0.0);
    assert_eq!(ry[0].spearman, ry[2].spearman);
    let sd = |v: &[f64]| {
        let m = v.iter().sum::<f64>() / n as f64;
        (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n as f64 - 1.0)).sqrt()
    };
    assert!((ry[0].regression - sd(&a) / sd(&y)).abs() < 1e-10);
    assert!((ry[3].regression - 0.5 * sd(&b) / sd(&y)).abs() < 1e-10);
    // Constant output: zeros, tails equal to the constant.
    assert!(rc.iter().all(|s| s.spearman == 0.0 && s.regression == 0.0));
    assert!(
        rc.iter()
            .all(|s| s.mean_at_low == 7.0 && s.mean_at_high == 7.0)
    );
    // Monotone transform: rank correlation exactly 1; tails are the extreme 10%.
    let e: Vec<f64> = a.iter().map(|v| v.exp()).collect();
    let r = sensitivity(&[&a], &[&e]);
    assert_eq!(r[0][0].spearman, 1.0);
    assert_eq!(r[0][0].contribution_to_variance, 1.0);
    let mut sorted = a.clone();
    sorted.sort_by(f64::total_cmp);
    let low = sorted[..100].iter().sum::<f64>() / 100.0;
    assert!((r[0][0].mean_at_low - low).abs() < 1e-14);
}

#[test]
fn sensitivity_ties_use_average_ranks() {
    // x = [0, 0, 1, 1], y = [1, 2, 3, 4]: average ranks 1.5, 1.5, 3.5, 3.5 give
    // rho = 0.894427190999916 (= 2 / sqrt(5)).
    let r = sensitivity(&[&[1.0, 2.0, 3.0, 4.0]], &[&[0.0, -0.0, 1.0, 1.0]]);
    assert!((r[0][0].spearman - 2.0 / 5f64.sqrt()).abs() < 1e-15);
    // One tail iteration (n / 10 = 0, at least 1), ties in iteration order.
    assert_eq!((r[0][0].mean_at_low, r[0][0].mean_at_high), (1.0, 4.0));
}

#[test]
fn sensitivity_empty_shapes() {
    assert!(sensitivity(&[], &[&[1.0]]).is_empty());
    assert_eq!(sensitivity(&[&[1.0, 2.0]], &[]), vec![Vec::new()]);
    let r = sensitivity(&[&[]], &[&[], &[]]);
    assert_eq!(r[0].len(), 2);
    assert!(
        r[0].iter()
            .all(|s| s.spearman == 0.0 && s.mean_at_low.is_nan())
    );
    let r = sensitivity(&[&[f64::NAN, f64::NAN]], &[&[1.0, 2.0]]);
    assert!(r[0][0].mean_at_high.is_nan());
}
