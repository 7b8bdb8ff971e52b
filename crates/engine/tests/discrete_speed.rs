//! Timing of the discrete and table inverse CDFs (the sampling hot path). Ignored by
//! default; run once in release:
//! `cargo test -p ultra-engine --release --test discrete_speed -- --ignored --nocapture`.
//! Each case also checks that the sample mean of stratified uniforms `(i + 1/2) / n` is
//! within 1e-3 standard deviations of the distribution mean (stratification makes the
//! error O(sd / n), far below that for n = 2e5), so the timed code is the right code.

use std::hint::black_box;
use std::time::Instant;
use ultra_engine::dist::{Distribution, Family, InputDistribution, Univariate};

fn time(name: &str, law: &impl Univariate) {
    let n = 200_000;
    let start = Instant::now();
    let mut sum = 0.0;
    for i in 0..n {
        sum += black_box(law.inverse_cdf((f64::from(i) + 0.5) / f64::from(n)));
    }
    let elapsed = start.elapsed().as_secs_f64();
    println!("{name:32} {:8.1} ns/sample", elapsed * 1e9 / f64::from(n));
    let mean = sum / f64::from(n);
    let sd = law.variance().sqrt();
    assert!(
        (mean - law.mean()).abs() <= 1e-3 * sd + 1e-12,
        "{name}: {mean} vs {}",
        law.mean()
    );
}

#[test]
#[ignore = "timing; run in release"]
fn inverse_cdf_speed() {
    let cases: Vec<(&str, Family, Vec<f64>)> = vec![
        ("poisson(0.5) table", Family::Poisson, vec![0.5]),
        ("poisson(2500) table", Family::Poisson, vec![2500.0]),
        ("poisson(1e7) search", Family::Poisson, vec![1e7]),
        (
            "binomial(1000, 0.3) table",
            Family::Binomial,
            vec![1000.0, 0.3],
        ),
        (
            "binomial(1e8, 0.3) search",
            Family::Binomial,
            vec![1e8, 0.3],
        ),
        ("neg_bin(5, 0.02) table", Family::NegBin, vec![5.0, 0.02]),
        ("geometric(0.01)", Family::Geometric, vec![0.01]),
        ("int_uniform(1, 100)", Family::IntUniform, vec![1.0, 100.0]),
        (
            "discrete(10 values)",
            Family::Discrete {
                values: (0..10).map(f64::from).collect(),
                weights: vec![1.0; 10],
            },
            vec![],
        ),
        (
            "general(5 points)",
            Family::General {
                xs: vec![1.0, 2.0, 3.0, 4.0, 5.0],
                densities: vec![1.0, 3.0, 2.0, 2.0, 1.0],
            },
            vec![0.0, 6.0],
        ),
    ];
    for (name, family, params) in &cases {
        time(name, &Distribution::new(family, params).unwrap());
    }
    let poisson = Distribution::new(&Family::Poisson, &[7.0]).unwrap();
    time("poisson(7)", &poisson);
    time(
        "poisson(7) plain input",
        &InputDistribution::new(poisson.clone(), None, None, None).unwrap(),
    );
    time(
        "poisson(7) truncated [3, 12]",
        &InputDistribution::new(poisson, Some(3.0), Some(12.0), None).unwrap(),
    );
}
