use super::*;

fn grid() -> Vec<f64> {
    let mut ps: Vec<f64> = (1..100).map(|j| f64::from(j) / 100.0).collect();
    for e in 2..=12 {
        let t = 10f64.powi(-e);
        ps.push(t);
        ps.push(1.0 - t);
    }
    ps
}

/// `cdf(inverse_cdf(p)) = p` to rounding, and quantiles increase with p.
fn round_trip(law: &impl Univariate, scale: f64) {
    let mut ps = grid();
    ps.sort_by(f64::total_cmp);
    let mut previous = f64::NEG_INFINITY;
    for p in ps {
        let x = law.inverse_cdf(p);
        assert!(x >= previous, "p={p}: not monotone");
        previous = x;
        let back = law.cdf(x);
        assert!(
            (back - p).abs() <= 1e-14 + 1e-12 * p.min(1.0 - p) * scale,
            "p={p}: cdf({x}) = {back}"
        );
    }
}

#[test]
fn cumulative_is_linear_between_points() {
    let c = Cumulative::new(0.0, 10.0, &[2.0, 5.0], &[0.2, 0.2]).unwrap();
    assert_eq!(c.inverse_cdf(0.1), 1.0);
    // Flat between 2 and 5: the smallest x with CDF >= 0.2 is 2.
    assert_eq!(c.inverse_cdf(0.2), 2.0);
    assert!((c.inverse_cdf(0.6) - 7.5).abs() < 1e-14);
    assert!((c.cdf(3.0) - 0.2).abs() < 1e-15);
    // Mean: 0.2 * 1 + 0.8 * 7.5.
    assert!((c.mean() - 6.2).abs() < 1e-14);
    let var =
        0.2 * ((1.0f64 - 6.2).powi(2) + 4.0 / 12.0) + 0.8 * ((7.5f64 - 6.2).powi(2) + 25.0 / 12.0);
    assert!((c.variance() - var).abs() < 1e-13);
    round_trip(&c, 1.0);
}

#[test]
fn histogram_is_uniform_within_bins() {
    let h = Histogram::new(0.0, 3.0, &[1.0, 0.0, 3.0]).unwrap();
    assert!((h.inverse_cdf(0.125) - 0.5).abs() < 1e-15);
    assert_eq!(h.inverse_cdf(0.25), 1.0);
    assert!((h.inverse_cdf(0.625) - 2.5).abs() < 1e-15);
    assert!((h.mean() - (0.25 * 0.5 + 0.75 * 2.5)).abs() < 1e-15);
    round_trip(&h, 1.0);
}

#[test]
fn general_solves_the_quadratic() {
    // Triangular density on [0, 2] with mode 1: CDF x^2 / 2 below 1.
    let g = General::new(0.0, 2.0, &[1.0], &[5.0]).unwrap();
    for p in [1e-12, 0.01, 0.3, 0.5] {
        assert!((g.inverse_cdf(p) - (2.0 * p).sqrt()).abs() < 1e-15, "p={p}");
        // 1 - (1 - p) is the upper tail mass that the f64 argument really leaves.
        let q = 1.0 - (1.0 - p);
        assert!(
            (g.inverse_cdf(1.0 - p) - (2.0 - (2.0 * q).sqrt())).abs() < 1e-15,
            "p={p}"
        );
    }
    assert!((g.mean() - 1.0).abs() < 1e-15);
    assert!((g.variance() - 1.0 / 6.0).abs() < 1e-15);
    // Flat top (zero slope): uniform between the two middle points.
    let flat = General::new(0.0, 4.0, &[1.0, 3.0], &[2.0, 2.0]).unwrap();
    // Mass 1/6 in each triangle, 2/3 in the middle.
    assert!((flat.inverse_cdf(0.5) - 2.0).abs() < 1e-15);
    assert!((flat.inverse_cdf(1.0 / 6.0 + 1.0 / 3.0 * 0.5) - 1.5).abs() < 1e-14);
    round_trip(&g, 1.0);
    round_trip(&flat, 1.0);
    round_trip(
        &General::new(-5.0, 5.0, &[-4.0, 0.0, 0.1, 3.0], &[1.0, 0.0, 7.0, 0.5]).unwrap(),
        10.0,
    );
}

#[test]
fn invalid_tables_are_errors() {
    let is_table_error =
        |r: Result<(), DistributionError>| matches!(r, Err(DistributionError::InvalidTable { .. }));
    assert!(is_table_error(
        Cumulative::new(0.0, 1.0, &[0.5], &[0.2, 0.3]).map(|_| ())
    ));
    assert!(is_table_error(
        Cumulative::new(0.0, 1.0, &[0.5, 0.4], &[0.2, 0.3]).map(|_| ())
    ));
    assert!(is_table_error(
        Cumulative::new(0.0, 1.0, &[0.5, 1.0], &[0.2, 0.3]).map(|_| ())
    ));
    assert!(is_table_error(
        Cumulative::new(0.0, 1.0, &[0.2, 0.5], &[0.3, 0.2]).map(|_| ())
    ));
    assert!(is_table_error(
        Cumulative::new(0.0, 1.0, &[0.2], &[1.5]).map(|_| ())
    ));
    assert!(is_table_error(
        Cumulative::new(1.0, 1.0, &[], &[]).map(|_| ())
    ));
    assert!(is_table_error(
        Cumulative::new(0.0, 1.0, &[f64::NAN], &[0.5]).map(|_| ())
    ));
    assert!(is_table_error(
        General::new(0.0, 1.0, &[0.5], &[0.0]).map(|_| ())
    ));
    assert!(is_table_error(
        General::new(0.0, 1.0, &[0.5], &[-1.0]).map(|_| ())
    ));
    assert!(is_table_error(General::new(0.0, 1.0, &[], &[]).map(|_| ())));
    assert!(is_table_error(Histogram::new(0.0, 1.0, &[]).map(|_| ())));
    assert!(is_table_error(
        Histogram::new(0.0, 1.0, &[0.0, 0.0]).map(|_| ())
    ));
    assert!(is_table_error(Histogram::new(2.0, 1.0, &[1.0]).map(|_| ())));
    assert!(is_table_error(
        Histogram::new(0.0, 1.0, &[1.0, f64::INFINITY]).map(|_| ())
    ));
}
