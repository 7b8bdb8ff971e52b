use super::*;

/// p values over (0, 1), log-spaced in both tails.
fn grid() -> Vec<f64> {
    let mut ps = Vec::new();
    for e in 1..=60 {
        let t = 10f64.powf(-f64::from(e) / 4.0);
        ps.push(t);
        ps.push(1.0 - t);
    }
    for j in 1..100 {
        ps.push(f64::from(j) / 100.0);
    }
    ps
}

/// The table path and the accurate-CDF search agree everywhere on the grid except at
/// p within 1e-12 (relative) of a CDF value, where both answers are acceptable.
fn table_agrees_with_search(law: &impl CountLaw) {
    let table = law.table().expect("tabulated");
    for p in grid() {
        let fast = table.quantile(p);
        let slow = law.search(p);
        if fast != slow {
            let k = fast.min(slow);
            let gap = if p <= 0.5 {
                (law.cdf_accurate(k) - p).abs() / p
            } else {
                (law.sf_accurate(k) - (1.0 - p)).abs() / (1.0 - p)
            };
            assert!(
                (fast - slow).abs() == 1.0 && gap < 1e-12,
                "p={p}: table {fast}, search {slow}"
            );
        }
    }
}

#[test]
fn binomial_table_matches_search() {
    for (n, p) in [(10.0, 0.3), (1000.0, 0.3), (200.0, 0.999), (50.0, 1e-4)] {
        table_agrees_with_search(&Binomial::new(n, p).unwrap());
    }
}

#[test]
fn poisson_table_matches_search() {
    for lambda in [0.5, 7.0, 2500.0] {
        table_agrees_with_search(&Poisson::new(lambda).unwrap());
    }
}

#[test]
fn neg_binomial_table_matches_search() {
    for (s, p) in [(1.0, 0.5), (5.0, 0.3), (3.0, 0.05)] {
        table_agrees_with_search(&NegativeBinomial::new(s, p).unwrap());
    }
}

#[test]
fn large_laws_are_not_tabulated() {
    assert!(Poisson::new(1e7).unwrap().table.is_none());
    assert!(Binomial::new(1e9, 0.5).unwrap().table.is_none());
    assert!(Poisson::new(2500.0).unwrap().table.is_some());
    assert!(NegativeBinomial::new(5.0, 0.02).unwrap().table.is_some());
}

#[test]
fn degenerate_parameters_are_point_masses() {
    let cases: [(Box<dyn Univariate>, f64); 5] = [
        (Box::new(Binomial::new(0.0, 0.4).unwrap()), 0.0),
        (Box::new(Binomial::new(7.0, 1.0).unwrap()), 7.0),
        (Box::new(Binomial::new(7.0, 0.0).unwrap()), 0.0),
        (Box::new(Poisson::new(0.0).unwrap()), 0.0),
        (Box::new(NegativeBinomial::new(4.0, 1.0).unwrap()), 0.0),
    ];
    for (law, x) in &cases {
        for p in [1e-9, 0.5, 1.0 - 1e-9] {
            assert_eq!(law.inverse_cdf(p), *x);
        }
        assert_eq!(law.cdf(*x), 1.0);
        assert_eq!(law.cdf(*x - 0.5), 0.0);
    }
}

#[test]
fn bad_parameters_are_errors() {
    assert!(Binomial::new(2.5, 0.5).is_err());
    assert!(Binomial::new(-1.0, 0.5).is_err());
    assert!(Binomial::new(10.0, 1.5).is_err());
    assert!(Binomial::new(10.0, f64::NAN).is_err());
    assert!(Poisson::new(-1.0).is_err());
    assert!(Poisson::new(f64::INFINITY).is_err());
    assert!(NegativeBinomial::new(0.0, 0.5).is_err());
    assert!(NegativeBinomial::new(2.0, 0.0).is_err());
    assert!(Geometric::new(0.0).is_err());
    assert!(Bernoulli::new(-0.1).is_err());
    assert!(IntUniform::new(3.0, 2.0).is_err());
    assert!(IntUniform::new(0.5, 2.0).is_err());
    assert!(Discrete::new(&[1.0, 2.0], &[1.0]).is_err());
    assert!(Discrete::new(&[1.0, 2.0], &[0.0, 0.0]).is_err());
    assert!(Discrete::new(&[1.0, f64::NAN], &[1.0, 1.0]).is_err());
    assert!(Discrete::new(&[1.0, 2.0], &[1.0, -1.0]).is_err());
}

#[test]
fn discrete_sorts_and_merges() {
    let d = Discrete::new(&[3.0, 1.0, 3.0, 2.0, 5.0], &[1.0, 2.0, 1.0, 0.0, 4.0]).unwrap();
    assert_eq!(d.values(), &[1.0, 3.0, 5.0]);
    assert!((d.cdf(1.0) - 0.25).abs() < 1e-15);
    assert!((d.cdf(4.9) - 0.5).abs() < 1e-15);
    assert_eq!(d.inverse_cdf(0.25), 1.0);
    assert_eq!(d.inverse_cdf(0.2500001), 3.0);
    assert_eq!(d.inverse_cdf(0.75), 5.0);
    assert!((d.mean() - (2.0 + 6.0 + 20.0) / 8.0).abs() < 1e-15);
    let m = 3.5;
    let var =
        (2.0 * (1.0f64 - m).powi(2) + 2.0 * (3.0f64 - m).powi(2) + 4.0 * (5.0f64 - m).powi(2))
            / 8.0;
    assert!((d.variance() - var).abs() < 1e-14);
}

#[test]
fn closed_form_families_invert_their_cdf() {
    let laws: Vec<Box<dyn Univariate>> = vec![
        Box::new(Geometric::new(0.3).unwrap()),
        Box::new(Geometric::new(1e-7).unwrap()),
        Box::new(IntUniform::new(-3.0, 7.0).unwrap()),
        Box::new(Bernoulli::new(0.3).unwrap()),
    ];
    for law in &laws {
        for p in grid() {
            let k = law.inverse_cdf(p);
            // Smallest k with CDF(k) >= p: CDF(k) >= p > CDF(k - 1), up to rounding at jumps
            // (relative 1e-12) and the rounding of a CDF value near 1 (2 ulps of 1).
            let slack = 1e-12 * p.min(1.0 - p) + 2.3e-16;
            assert!(law.cdf(k) >= p - slack, "p={p} k={k}");
            assert!(law.cdf(k - 1.0) < p + slack, "p={p} k={k}");
        }
    }
}
