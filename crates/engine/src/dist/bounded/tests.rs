use super::*;
use crate::dist::{Binomial, Discrete, Histogram, Poisson};

fn poisson(lambda: f64) -> Distribution {
    Distribution::Poisson(Poisson::new(lambda).unwrap())
}

#[test]
fn no_bounds_no_shift_is_the_base() {
    let input = InputDistribution::new(poisson(3.0), None, None, None).unwrap();
    assert!(input.plain);
    for p in [1e-9, 0.3, 0.9] {
        assert_eq!(input.inverse_cdf(p), poisson(3.0).inverse_cdf(p));
    }
    assert_eq!(input.mean(), 3.0);
}

#[test]
fn shift_moves_values_and_mean() {
    let base = Distribution::Binomial(Binomial::new(10.0, 0.3).unwrap());
    let input = InputDistribution::new(base.clone(), None, None, Some(5.0)).unwrap();
    for p in [0.01, 0.5, 0.99] {
        assert_eq!(input.inverse_cdf(p), base.inverse_cdf(p) + 5.0);
    }
    assert_eq!(input.mean(), 8.0);
    assert!((input.variance() - 2.1).abs() < 1e-15);
    assert_eq!(input.cdf(8.0), base.cdf(3.0));
}

#[test]
fn discrete_truncation_keeps_both_bounds_and_exact_moments() {
    // Poisson(4) on [2, 6] in the shifted scale with shift 10: base window [2 - 10, 6 - 10]
    // would be empty, so bounds are [12, 16].
    let input = InputDistribution::new(poisson(4.0), Some(12.0), Some(16.0), Some(10.0)).unwrap();
    assert_eq!(input.inverse_cdf(1e-12), 12.0);
    assert_eq!(input.inverse_cdf(1.0 - 1e-12), 16.0);
    for j in 1..1000 {
        let x = input.inverse_cdf(f64::from(j) / 1000.0);
        assert!((12.0..=16.0).contains(&x) && x.fract() == 0.0, "{x}");
    }
    // Exact moments from the pmf, written out independently.
    let mut pmf = vec![(-4.0f64).exp()];
    for k in 1..=6 {
        let last = pmf[k - 1];
        pmf.push(last * 4.0 / k as f64);
    }
    let window = &pmf[2..=6];
    let mass: f64 = window.iter().sum();
    let mean: f64 = window
        .iter()
        .enumerate()
        .map(|(i, p)| p * (i + 2) as f64)
        .sum::<f64>()
        / mass;
    let var: f64 = window
        .iter()
        .enumerate()
        .map(|(i, p)| p * ((i + 2) as f64 - mean).powi(2))
        .sum::<f64>()
        / mass;
    assert!(
        (input.mean() - (mean + 10.0)).abs() < 1e-13,
        "{} vs {}",
        input.mean(),
        mean + 10.0
    );
    assert!((input.variance() - var).abs() < 1e-13);
    // CDF: mass of {12, 13} over the window.
    assert!((input.cdf(13.5) - (pmf[2] + pmf[3]) / mass).abs() < 1e-15);
    assert_eq!(input.cdf(11.9), 0.0);
    assert_eq!(input.cdf(16.0), 1.0);
}

#[test]
fn table_discrete_truncation_uses_listed_values() {
    let base = Distribution::Discrete(
        Discrete::new(&[0.5, 1.5, 2.5, 9.0], &[1.0, 2.0, 3.0, 4.0]).unwrap(),
    );
    let input = InputDistribution::new(base, Some(1.5), Some(2.5), None).unwrap();
    assert_eq!(input.inverse_cdf(0.4), 1.5);
    assert_eq!(input.inverse_cdf(0.41), 2.5);
    assert!((input.mean() - (2.0 * 1.5 + 3.0 * 2.5) / 5.0).abs() < 1e-15);
}

/// Quadrature on a quantile function with kinks: histogram on [0, 3], weights 1, 2, 1,
/// truncated to [0.5, 2.25]: a piecewise-uniform law with known moments. Measured error
/// printed for the report.
#[test]
fn truncated_table_moments() {
    let base = Distribution::Histogram(Histogram::new(0.0, 3.0, &[1.0, 2.0, 1.0]).unwrap());
    let input = InputDistribution::new(base, Some(0.5), Some(2.25), None).unwrap();
    // Pieces (a, b, density): [0.5,1] 1/4, [1,2] 1/2, [2,2.25] 1/4.
    let pieces = [(0.5, 1.0, 0.25), (1.0, 2.0, 0.5), (2.0, 2.25, 0.25)];
    let mass: f64 = pieces.iter().map(|(a, b, d)| (b - a) * d).sum();
    let mean: f64 = pieces
        .iter()
        .map(|(a, b, d)| (b - a) * d * 0.5 * (a + b))
        .sum::<f64>()
        / mass;
    let second: f64 = pieces
        .iter()
        .map(|(a, b, d)| d * (b * b * b - a * a * a) / 3.0)
        .sum::<f64>()
        / mass;
    let var = second - mean * mean;
    let (mean_error, var_error) = ((input.mean() - mean).abs(), (input.variance() - var).abs());
    println!("truncated histogram: mean error {mean_error:.2e}, variance error {var_error:.2e}");
    assert!(mean_error < 1e-6 && var_error < 1e-6);
    for p in [1e-12, 0.5, 1.0 - 1e-12] {
        let x = input.inverse_cdf(p);
        assert!((0.5..=2.25).contains(&x));
        assert!((input.cdf(x) - p).abs() < 1e-12);
    }
}

#[test]
fn empty_or_invalid_windows_are_errors() {
    let empty = |r: Result<InputDistribution, DistributionError>| {
        matches!(r, Err(DistributionError::EmptyTruncation { .. }))
    };
    assert!(empty(InputDistribution::new(
        poisson(3.0),
        Some(2.2),
        Some(2.8),
        None
    )));
    assert!(empty(InputDistribution::new(
        poisson(3.0),
        Some(5.0),
        Some(4.0),
        None
    )));
    assert!(empty(InputDistribution::new(
        poisson(3.0),
        Some(f64::NAN),
        None,
        None
    )));
    assert!(empty(InputDistribution::new(
        poisson(3.0),
        None,
        Some(-1.0),
        None
    )));
    let histogram = Distribution::Histogram(Histogram::new(0.0, 3.0, &[1.0]).unwrap());
    assert!(empty(InputDistribution::new(
        histogram.clone(),
        Some(5.0),
        Some(6.0),
        None
    )));
    assert!(empty(InputDistribution::new(
        histogram.clone(),
        Some(1.0),
        Some(1.0),
        None
    )));
    assert!(matches!(
        InputDistribution::new(histogram, None, None, Some(f64::INFINITY)),
        Err(DistributionError::InvalidParameter { .. })
    ));
    // A discrete point window is fine.
    assert!(InputDistribution::new(poisson(3.0), Some(2.0), Some(2.0), None).is_ok());
}
