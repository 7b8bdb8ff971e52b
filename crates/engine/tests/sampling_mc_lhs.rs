//! Properties of the Monte Carlo and Latin Hypercube samplers and of the Philox stream
//! layout: open interval, chunking invariance, strata, uniformity (fixed seeds).

use ultra_engine::rng::uniform_open;
use ultra_engine::sampling::{Sampler, SamplingMethod};

const METHODS: [SamplingMethod; 3] = [
    SamplingMethod::MonteCarlo,
    SamplingMethod::LatinHypercube,
    SamplingMethod::Sobol,
];

fn draw(method: SamplingMethod, seed: u64, n: u64, dims: usize, dim: usize) -> Vec<f64> {
    let sampler = Sampler::new(method, seed, n, dims).expect("valid sampler");
    let mut out = vec![0.0; n as usize];
    sampler.fill(dim, 0, &mut out);
    out
}

#[test]
fn uniforms_are_strictly_inside_the_unit_interval() {
    for method in METHODS {
        for (seed, n) in [(0u64, 1u64), (1, 2), (u64::MAX, 3), (42, 4097), (7, 20_000)] {
            for dim in 0..3 {
                for u in draw(method, seed, n, 3, dim) {
                    assert!(u > 0.0 && u < 1.0, "{method:?} seed {seed} n {n}: {u}");
                }
            }
        }
    }
}

#[test]
fn fill_does_not_depend_on_chunking() {
    let n = 10_000u64;
    for method in METHODS {
        let sampler = Sampler::new(method, 12345, n, 5).expect("valid sampler");
        for dim in [0, 4] {
            let mut whole = vec![0.0; n as usize];
            sampler.fill(dim, 0, &mut whole);
            let mut pieces = Vec::with_capacity(n as usize);
            let mut first = 0u64;
            for size in [1usize, 7, 4096, 1, 13, 256, 3000].into_iter().cycle() {
                let size = size.min((n - first) as usize);
                let mut chunk = vec![0.0; size];
                sampler.fill(dim, first, &mut chunk);
                pieces.extend_from_slice(&chunk);
                first += size as u64;
                if first == n {
                    break;
                }
            }
            let same = whole
                .iter()
                .zip(&pieces)
                .all(|(a, b)| a.to_bits() == b.to_bits());
            assert!(same, "{method:?} dimension {dim}");
        }
    }
}

#[test]
fn monte_carlo_is_the_documented_stream() {
    let sampler = Sampler::new(SamplingMethod::MonteCarlo, 99, 1 << 40, 3).expect("valid");
    // Straddle the 2^32 boundary to exercise the high counter word.
    let first = (1u64 << 32) - 5;
    let mut out = vec![0.0; 10];
    sampler.fill(2, first, &mut out);
    for (j, u) in out.iter().enumerate() {
        assert_eq!(*u, uniform_open(99, 2, first + j as u64, 0));
    }
    assert_ne!(
        uniform_open(99, 2, 3, 0),
        uniform_open(99, 2, 3 + (1 << 32), 0)
    );
}

#[test]
fn different_seeds_and_dimensions_give_different_sequences() {
    for method in METHODS {
        let a = draw(method, 1, 1000, 2, 0);
        let b = draw(method, 2, 1000, 2, 0);
        let c = draw(method, 1, 1000, 2, 1);
        let equal_ab = a.iter().zip(&b).filter(|(x, y)| x == y).count();
        let equal_ac = a.iter().zip(&c).filter(|(x, y)| x == y).count();
        assert!(
            equal_ab == 0 && equal_ac == 0,
            "{method:?}: {equal_ab} {equal_ac}"
        );
    }
}

/// Spearman rank correlation of two LHS columns = Pearson correlation of their strata.
fn strata_correlation(a: &[u64], b: &[u64]) -> f64 {
    let n = a.len() as f64;
    let mean = (n - 1.0) / 2.0;
    let var = (n * n - 1.0) / 12.0;
    let cov = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| (x as f64 - mean) * (y as f64 - mean))
        .sum::<f64>();
    cov / n / var
}

#[test]
fn latin_hypercube_hits_every_stratum_exactly_once() {
    for n in [1u64, 2, 3, 1000, 4097, 100_000] {
        let dims = 3;
        let sampler = Sampler::new(SamplingMethod::LatinHypercube, 2024, n, dims).expect("ok");
        let mut columns = Vec::new();
        for dim in 0..dims {
            let mut u = vec![0.0; n as usize];
            sampler.fill(dim, 0, &mut u);
            let mut hits = vec![0u32; n as usize];
            let strata: Vec<u64> = u.iter().map(|&x| (x * n as f64).floor() as u64).collect();
            for &s in &strata {
                hits[s as usize] += 1;
            }
            assert!(hits.iter().all(|&h| h == 1), "n {n} dimension {dim}");
            columns.push(strata);
        }
        if n >= 1000 {
            for (a, b) in [(0, 1), (0, 2), (1, 2)] {
                assert_ne!(
                    columns[a], columns[b],
                    "n {n}: dimensions {a}, {b} identical"
                );
                // Independent permutations: Spearman rho has standard error 1/sqrt(n - 1);
                // 4.5 standard errors fails with probability ~7e-6 per pair.
                let rho = strata_correlation(&columns[a], &columns[b]);
                assert!(
                    rho.abs() < 4.5 / ((n - 1) as f64).sqrt(),
                    "n {n}: rho {rho}"
                );
            }
        }
    }
}

#[test]
fn latin_hypercube_strata_are_not_in_iteration_order() {
    // The permutation must scramble: the first tenth of the iterations is spread over
    // the strata, not concentrated in the lowest tenth (each point falls there w.p. 1/10;
    // the expected 100 of 1000 has sd 9.5, so <= 200 fails with negligible probability).
    let u = draw(SamplingMethod::LatinHypercube, 5, 10_000, 1, 0);
    let low = u[..1000].iter().filter(|&&x| x < 0.1).count();
    assert!(low > 50 && low < 200, "{low}");
}

#[test]
fn monte_carlo_passes_kolmogorov_smirnov() {
    let n = 100_000;
    let mut u = draw(SamplingMethod::MonteCarlo, 20_240_601, n, 2, 1);
    u.sort_by(f64::total_cmp);
    let nf = n as f64;
    let d = u
        .iter()
        .enumerate()
        .map(|(i, &x)| ((i + 1) as f64 / nf - x).max(x - i as f64 / nf))
        .fold(0.0, f64::max);
    // Asymptotic critical value at alpha = 0.001: sqrt(-ln(0.0005) / 2) / sqrt(n) = 1.9495 /
    // sqrt(n) (scipy kstwo.ppf(0.999, 1e5) * sqrt(1e5) = 1.9489).
    assert!(d < 1.9495 / nf.sqrt(), "KS D = {d}");
    // And not suspiciously small either (P(D sqrt(n) < 0.3) = 9.3e-6 under H0, scipy kstwobign).
    assert!(
        d * nf.sqrt() > 0.3,
        "KS D = {d} is too good for pseudo-random draws"
    );
}

#[test]
fn monte_carlo_passes_chi_square_on_100_bins() {
    let n = 100_000;
    let mut bins = [0u32; 100];
    for u in draw(SamplingMethod::MonteCarlo, 77, n, 1, 0) {
        bins[(u * 100.0) as usize] += 1;
    }
    let expected = n as f64 / 100.0;
    let chi2: f64 = bins
        .iter()
        .map(|&c| (c as f64 - expected).powi(2) / expected)
        .sum();
    // chi2(99 df): 0.999 quantile 148.23 (scipy chi2.ppf(0.999, 99)); 0.001 quantile 61.14.
    assert!(chi2 < 148.23 && chi2 > 61.14, "chi2 = {chi2}");
}
