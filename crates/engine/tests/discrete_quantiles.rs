//! Discrete and table distributions, trigen, truncation and shift against the references
//! of `scripts/reference/discrete_quantiles.py` (scipy, exact fractions and mpmath).
//!
//! Tolerances:
//! * discrete families: exact equality of the quantile, except where p lies within 1e-12
//!   (relative; the `jump_gap` column, computed with scipy) of a CDF value adjacent to the
//!   answer: there f64 rounding of the CDF legitimately decides, and a neighbour (±1) is
//!   accepted.
//! * `RiskDiscrete`: the same rule, with the gap computed exactly from fractions.
//! * continuous (tables, trigen, truncated): `|x - ref| <= 1e-10 * max(|ref|, scale)`;
//!   truncated means and variances: relative 1e-9 (quadrature, see `bounded.rs`).
//!   Truncated continuous laws are inverted through the base CDF at `t = F(lo) + p mass`,
//!   a number close to 1 when the window reaches into the upper tail: t then carries only
//!   `2^-53` absolute resolution, and a quantile error of about `scale * 2^-52 / (1 - t)`
//!   is the conditioning of the problem, not of the method (`1 - t` is the third number
//!   of each reference row). The trait lacks an inverse survival function to avoid this.
//!   Truncated continuous laws are inverted through the base CDF at `t = F(lo) + p mass`,
//!   a number close to 1 when the window reaches into the upper tail: t then carries only
//!   `2^-53` absolute resolution, and a quantile error of about `scale * 2^-52 / (1 - t)`
//!   is the conditioning of the problem, not of the method (`1 - t` is the third number
//!   of each reference row). The trait lacks an inverse survival function to avoid this.

use serde_json::Value;
use ultra_engine::dist::{Distribution, Family, InputDistribution, Univariate};

fn family(name: &str) -> Family {
    serde_json::from_str(&format!(r#"{{"family":"{name}"}}"#)).expect("known family")
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number"))
        .collect()
}

fn optional(v: &Value) -> Option<f64> {
    v.as_f64()
}

#[test]
fn discrete_families_match_scipy() {
    let text = include_str!("data/discrete_quantiles.csv");
    let (mut rows, mut tolerated) = (0, 0);
    for line in text.lines().skip(1) {
        let fields: Vec<&str> = line.split(',').collect();
        let params: Vec<f64> = fields[1].split(';').map(|x| x.parse().unwrap()).collect();
        let p: f64 = fields[2].parse().unwrap();
        let expected: f64 = fields[3].parse().unwrap();
        let gap: f64 = fields[4].parse().unwrap();
        let law = Distribution::new(&family(fields[0]), &params).unwrap();
        assert!(law.is_discrete());
        let got = law.inverse_cdf(p);
        rows += 1;
        if got != expected {
            assert!(
                (got - expected).abs() == 1.0 && gap < 1e-12,
                "{} {:?} p={p:e}: got {got}, scipy {expected} (gap {gap:e})",
                fields[0],
                params
            );
            tolerated += 1;
            println!(
                "tolerated: {} {:?} p={p:e}: {got} vs {expected}, gap {gap:e}",
                fields[0], params
            );
        }
    }
    println!("{rows} discrete quantiles, {tolerated} off by one at a CDF jump");
    assert!(rows > 1500);
}

fn check_quantiles(law: &impl Univariate, quantiles: &Value, scale: f64, what: &str) -> f64 {
    let mut worst = 0.0_f64;
    for pair in quantiles.as_array().unwrap() {
        let pair = floats(pair);
        let (p, expected) = (pair[0], pair[1]);
        // Resolution limit of the probability inverted (see the module comment).
        let resolution = pair.get(2).map_or(0.0, |tail| 2.3e-16 / tail);
        let got = law.inverse_cdf(p);
        let error = (got - expected).abs() / expected.abs().max(scale);
        assert!(
            error <= 1e-10 + resolution,
            "{what} p={p:e}: got {got}, reference {expected}"
        );
        worst = worst.max(error);
    }
    worst
}

#[test]
fn tables_and_trigen_match_exact_references() {
    let cases: Value = serde_json::from_str(include_str!("data/discrete_tables.json")).unwrap();
    let mut worst = 0.0_f64;
    for case in cases.as_array().unwrap() {
        let name = case["family"].as_str().unwrap();
        let what = format!("{case}");
        let (law, scale) = match name {
            "discrete" => {
                let f = Family::Discrete {
                    values: floats(&case["values"]),
                    weights: floats(&case["weights"]),
                };
                let law = Distribution::new(&f, &[]).unwrap();
                for q in case["quantiles"].as_array().unwrap() {
                    let q = floats(q);
                    let got = law.inverse_cdf(q[0]);
                    // Exact, except within 1e-12 of a jump (then the neighbouring value).
                    assert!(got == q[1] || q[2] < 1e-12, "{what} p={}: got {got}", q[0]);
                }
                continue;
            }
            "cumul" => (
                Family::Cumul {
                    xs: floats(&case["xs"]),
                    ps: floats(&case["ps"]),
                },
                None,
            ),
            "general" => (
                Family::General {
                    xs: floats(&case["xs"]),
                    densities: floats(&case["densities"]),
                },
                None,
            ),
            "histogram" => (
                Family::Histogram {
                    probabilities: floats(&case["probabilities"]),
                },
                None,
            ),
            "trigen" => (Family::Trigen, Some(floats(&case["params"]))),
            other => panic!("unknown case {other}"),
        };
        let (params, span) = match scale {
            Some(params) => {
                let span = case["max"].as_f64().unwrap() - case["min"].as_f64().unwrap();
                (params, span)
            }
            None => {
                let (lo, hi) = (case["min"].as_f64().unwrap(), case["max"].as_f64().unwrap());
                (vec![lo, hi], hi - lo)
            }
        };
        let law = Distribution::new(&law, &params).unwrap();
        worst = worst.max(check_quantiles(&law, &case["quantiles"], span, &what));
    }
    println!("tables and trigen: worst scaled quantile error {worst:.2e}");
}

#[test]
fn truncated_and_shifted_match_references() {
    let cases: Value = serde_json::from_str(include_str!("data/discrete_truncated.json")).unwrap();
    let (mut worst, mut worst_moment) = (0.0_f64, 0.0_f64);
    for case in cases.as_array().unwrap() {
        let what = format!("{}", case["base"]);
        let base: Family = serde_json::from_value(case["base"].clone()).unwrap();
        let base = Distribution::new(&base, &floats(&case["params"])).unwrap();
        let input = InputDistribution::new(
            base,
            optional(&case["lower"]),
            optional(&case["upper"]),
            optional(&case["shift"]).filter(|s| *s != 0.0),
        )
        .unwrap();
        let scale = case["scale"].as_f64().unwrap();
        if input.is_discrete() {
            for q in case["quantiles"].as_array().unwrap() {
                let q = floats(q);
                assert_eq!(input.inverse_cdf(q[0]), q[1], "{what} p={}", q[0]);
            }
        } else {
            worst = worst.max(check_quantiles(&input, &case["quantiles"], scale, &what));
        }
        let (mean, variance) = (
            case["mean"].as_f64().unwrap(),
            case["variance"].as_f64().unwrap(),
        );
        let mean_error = (input.mean() - mean).abs() / mean.abs().max(scale);
        let variance_error = (input.variance() - variance).abs() / variance;
        assert!(mean_error < 1e-9, "{what}: mean {} vs {mean}", input.mean());
        assert!(
            variance_error < 1e-9,
            "{what}: variance {} vs {variance}",
            input.variance()
        );
        worst_moment = worst_moment.max(mean_error).max(variance_error);
    }
    println!("truncated: worst quantile error {worst:.2e}, worst moment error {worst_moment:.2e}");
}
