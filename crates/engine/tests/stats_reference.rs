//! Statistics and sensitivity against numpy/scipy values committed in
//! tests/data/stats_reference.json (scripts/reference/stats_reference.py), on datasets both
//! sides generate bit for bit (tests/stats_common).
//!
//! Tolerances (|got - want| <= tol * scale):
//! - count, errors, min, max, percentiles, ECDF values, histogram edges and counts: exact
//!   (same order statistics, same interpolation formula as numpy's `_lerp`);
//! - mean, convergence means and CI bounds: 1e-13 x (|mean| + std), both sides are pairwise
//!   sums with error ~ eps log2(n) relative to the sum of |x|;
//! - std, std_error: 1e-12 relative; skewness, excess kurtosis: 1e-12 absolute (they are
//!   O(1) and their central sums have absolute error ~ 1e-15);
//! - Spearman and contribution to variance: 1e-12 absolute (exact integer rank sums here,
//!   np.corrcoef there);
//! - standardised regression: 1e-10 absolute (normal equations vs QR, cond(R) < 10 here);
//! - tornado means: 1e-12 relative to the output's scale.

mod stats_common;

use serde_json::Value;
use stats_common::*;
use ultra_engine::stats::{StatsOptions, sensitivity, summarize};

fn reference() -> Value {
    serde_json::from_str(include_str!("data/stats_reference.json")).expect("valid reference JSON")
}

/// Floats are stored as strings (see the script): parse them with the correctly rounded
/// `str::parse`.
fn f(v: &Value) -> f64 {
    v.as_str()
        .and_then(|s| s.parse().ok())
        .expect("float as a string")
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array().expect("array").iter().map(f).collect()
}

fn close(got: f64, want: f64, tol: f64, what: &str) {
    assert!(
        (got - want).abs() <= tol || (got.is_nan() && want.is_nan()),
        "{what}: got {got:e}, want {want:e}, diff {:e} > {tol:e}",
        (got - want).abs()
    );
}

#[test]
fn generators_match_python() {
    let r = reference();
    let x = normal_nan();
    let check = &r["generator_check"];
    assert_eq!(&x[..4], floats(&check["first"]).as_slice());
    let xor = x
        .iter()
        .filter(|v| v.is_finite())
        .fold(0u64, |a, v| a ^ v.to_bits());
    assert_eq!(xor, check["bits_xor"].as_u64().expect("u64"));
}

#[test]
fn summaries_match_numpy_scipy() {
    let r = reference();
    let datasets: [(&str, Vec<f64>); 4] = [
        ("normal_nan", normal_nan()),
        ("skewed_ties", skewed_ties()),
        ("discrete", discrete()),
        ("spike", spike()),
    ];
    for (name, data) in &datasets {
        let want = &r["summaries"][name];
        let o = &want["options"];
        let options = StatsOptions {
            percentiles: floats(&o["percentiles"]),
            max_histogram_bins: o["max_histogram_bins"].as_u64().expect("u64") as usize,
            ecdf_points: o["ecdf_points"].as_u64().expect("u64") as usize,
            convergence_every: o["convergence_every"].as_u64().expect("u64"),
        };
        let s = summarize(data, &options);
        let ctx = |field: &str| format!("{name}.{field}");
        assert_eq!(
            s.count,
            want["count"].as_u64().expect("u64"),
            "{}",
            ctx("count")
        );
        assert_eq!(
            s.errors,
            want["errors"].as_u64().expect("u64"),
            "{}",
            ctx("errors")
        );
        assert_eq!(s.min, f(&want["min"]), "{}", ctx("min"));
        assert_eq!(s.max, f(&want["max"]), "{}", ctx("max"));
        let scale = f(&want["mean"]).abs() + f(&want["std"]);
        close(s.mean, f(&want["mean"]), 1e-13 * scale, &ctx("mean"));
        close(s.std, f(&want["std"]), 1e-12 * f(&want["std"]), &ctx("std"));
        close(
            s.std_error,
            f(&want["std_error"]),
            1e-12 * f(&want["std_error"]),
            &ctx("std_error"),
        );
        close(s.skewness, f(&want["skewness"]), 1e-12, &ctx("skewness"));
        close(s.kurtosis, f(&want["kurtosis"]), 1e-12, &ctx("kurtosis"));

        let wp = floats(&want["percentiles"]);
        assert_eq!(s.percentiles.len(), wp.len());
        for (p, w) in s.percentiles.iter().zip(&wp) {
            assert_eq!(p.value, *w, "{} p{}", ctx("percentile"), p.p);
        }
        assert_eq!(
            s.histogram.edges,
            floats(&want["histogram"]["edges"]),
            "{}",
            ctx("edges")
        );
        let wc: Vec<u64> = want["histogram"]["counts"]
            .as_array()
            .expect("array")
            .iter()
            .map(|c| c.as_u64().expect("u64"))
            .collect();
        assert_eq!(s.histogram.counts, wc, "{}", ctx("counts"));
        assert_eq!(s.histogram.counts.iter().sum::<u64>(), s.count);

        let we = want["ecdf"].as_array().expect("array");
        assert_eq!(s.ecdf.len(), we.len());
        for (e, w) in s.ecdf.iter().zip(we) {
            assert_eq!(e.value, f(&w[0]), "{} at {}", ctx("ecdf"), e.probability);
            assert_eq!(e.probability, f(&w[1]));
        }

        let wconv = want["convergence"].as_array().expect("array");
        assert_eq!(s.convergence.len(), wconv.len(), "{}", ctx("convergence"));
        for (c, w) in s.convergence.iter().zip(wconv) {
            assert_eq!(c.iterations, w["iterations"].as_u64().expect("u64"));
            let what = format!("{name}.convergence@{}", c.iterations);
            close(c.mean, f(&w["mean"]), 1e-13 * scale, &what);
            close(c.ci_low, f(&w["ci_low"]), 1e-13 * scale, &what);
            close(c.ci_high, f(&w["ci_high"]), 1e-13 * scale, &what);
        }
    }
}

#[test]
fn sensitivity_matches_scipy() {
    let r = reference();
    let (x, y) = sensitivity_data();
    let got = sensitivity(&slices(&y), &slices(&x));
    let want = r["sensitivity"].as_array().expect("array");
    assert_eq!(got.len(), want.len());
    for (o, (g, w)) in got.iter().zip(want).enumerate() {
        let rows = w["inputs"].as_array().expect("array");
        assert_eq!(g.len(), rows.len());
        let finite: Vec<f64> = y[o].iter().copied().filter(|v| v.is_finite()).collect();
        let scale = finite.iter().map(|v| v.abs()).fold(0.0, f64::max);
        for (j, (s, w)) in g.iter().zip(rows).enumerate() {
            let what = |field: &str| format!("y{o} x{j} {field}");
            assert_eq!(s.input, j);
            close(s.spearman, f(&w["spearman"]), 1e-12, &what("spearman"));
            close(
                s.regression,
                f(&w["regression"]),
                1e-10,
                &what("regression"),
            );
            close(
                s.contribution_to_variance,
                f(&w["contribution_to_variance"]),
                1e-12,
                &what("contribution"),
            );
            close(
                s.mean_at_low,
                f(&w["mean_at_low"]),
                1e-12 * scale,
                &what("mean_at_low"),
            );
            close(
                s.mean_at_high,
                f(&w["mean_at_high"]),
                1e-12 * scale,
                &what("mean_at_high"),
            );
        }
    }
}
