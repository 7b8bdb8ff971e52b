//! Special functions against mpmath (40 significant digits), including far tails.
//! Table: tests/data/continuous_special.csv from scripts/reference/continuous_quantiles.py.
//!
//! Tolerances (relative), from the error analyses in special.rs:
//! - inverse_normal_cdf, ln_beta: 1e-14 (ln_beta with an absolute floor of 1e-14 near 0);
//! - normal_cdf / normal_sf: 1e-16 * (20 + x²) (rounding of x/√2 grows like x²·eps);
//! - incomplete gamma and beta and their complements: 5e-14 + 4e-16 * |ln value|
//!   (the exponent of the prefactor is rounded; values go down to 1e-300), and 5e-13
//!   for beta when a shape is >= 1000 and much larger than the other (documented
//!   cancellation in the continued fraction).

use ultra_engine::dist::special::{
    beta_i, beta_i_complement, gamma_p, gamma_q, inverse_normal_cdf, ln_beta, normal_cdf, normal_sf,
};

const TABLE: &str = include_str!("data/continuous_special.csv");

#[test]
fn special_functions_match_mpmath() {
    let mut worst: Vec<(String, f64)> = Vec::new();
    let mut failures = Vec::new();
    for line in TABLE.lines().skip(1) {
        let cols: Vec<&str> = line.split(',').collect();
        let args: Vec<f64> = cols[1]
            .split(';')
            .map(|s| s.parse().expect("arg"))
            .collect();
        let want: f64 = cols[2].parse().expect("value");
        let tail = 5e-14 + 4e-16 * want.ln().abs();
        let x2 = args[0] * args[0];
        let lopsided = args.len() == 3 && args[0].max(args[1]) >= 1000.0;
        let beta_tol = if lopsided { 5e-13 } else { tail };
        let (got, tol, floor) = match cols[0] {
            "normal_cdf" => (normal_cdf(args[0]), 1e-16 * (20.0 + x2), 0.0),
            "normal_sf" => (normal_sf(args[0]), 1e-16 * (20.0 + x2), 0.0),
            "inverse_normal_cdf" => (inverse_normal_cdf(args[0]), 1e-14, 0.0),
            "ln_beta" => (ln_beta(args[0], args[1]), 1e-14, 1.0),
            "gamma_p" => (gamma_p(args[0], args[1]), tail, 0.0),
            "gamma_q" => (gamma_q(args[0], args[1]), tail, 0.0),
            "beta_i" => (beta_i(args[0], args[1], args[2]), beta_tol, 0.0),
            "beta_i_complement" => (beta_i_complement(args[0], args[1], args[2]), beta_tol, 0.0),
            other => panic!("unknown function {other}"),
        };
        let err = (got - want).abs() / want.abs().max(floor);
        match worst.iter_mut().find(|(n, _)| n == cols[0]) {
            Some(w) => w.1 = w.1.max(err),
            None => worst.push((cols[0].to_string(), err)),
        }
        if err.is_nan() || err > tol {
            failures.push(format!("{line}: got {got:e}, rel err {err:.2e}"));
        }
    }
    for (name, err) in &worst {
        println!("{name}: worst relative error {err:.2e}");
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn complements_sum_to_one_and_edges() {
    for &(a, x) in &[(0.3, 0.01), (2.5, 2.0), (50.0, 60.0), (1e4, 9e3)] {
        let s = gamma_p(a, x) + gamma_q(a, x);
        assert!((s - 1.0).abs() < 1e-15, "gamma {a} {x}: {s}");
    }
    for &(a, b, x) in &[(0.5, 0.5, 0.1), (2.0, 5.0, 0.9), (300.0, 20.0, 0.95)] {
        let s = beta_i(a, b, x) + beta_i_complement(a, b, x);
        assert!((s - 1.0).abs() < 1e-15, "beta {a} {b} {x}: {s}");
    }
    assert_eq!(gamma_p(2.0, 0.0), 0.0);
    assert_eq!(gamma_q(2.0, f64::INFINITY), 0.0);
    assert_eq!(beta_i(2.0, 3.0, 0.0), 0.0);
    assert_eq!(beta_i(2.0, 3.0, 1.0), 1.0);
    assert!(gamma_p(-1.0, 1.0).is_nan());
    assert!(beta_i(0.0, 1.0, 0.5).is_nan());
    assert_eq!(inverse_normal_cdf(0.0), f64::NEG_INFINITY);
    assert_eq!(inverse_normal_cdf(1.0), f64::INFINITY);
    assert!(inverse_normal_cdf(1.5).is_nan());
    assert_eq!(inverse_normal_cdf(0.5), 0.0);
    // Symmetry of the inverse normal: exact because 1 - p is exact for p >= 0.5
    // (p chosen so that 1 - p is representable too).
    for &p in &[0.5f64.powi(40), 0.5f64.powi(10), 0.125, 0.375] {
        assert_eq!(inverse_normal_cdf(1.0 - p), -inverse_normal_cdf(p));
    }
}
