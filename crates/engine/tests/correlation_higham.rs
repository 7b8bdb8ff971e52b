//! Nearest correlation matrix (Higham 2002) and the repair path of `Copula::new`, checked
//! against the paper's published values and against an independent numpy implementation
//! (`scripts/reference/correlation_reference.py`, output committed in
//! `tests/data/correlation_higham_reference.json`).

use serde_json::Value;
use ultra_engine::correlation::matrix::{nearest_correlation, symmetric_eigen};
use ultra_engine::correlation::{Copula, RankCorrelationMatrix, pearson_to_spearman};

fn reference() -> Value {
    serde_json::from_str(include_str!("data/correlation_higham_reference.json"))
        .expect("reference JSON parses")
}

fn case(name: &str) -> Value {
    reference()["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .find(|c| c["name"] == name)
        .cloned()
        .expect("case present")
}

fn matrix(v: &Value) -> Vec<Vec<f64>> {
    v.as_array()
        .expect("rows")
        .iter()
        .map(|r| {
            r.as_array()
                .expect("row")
                .iter()
                .map(|x| x.as_f64().expect("number"))
                .collect()
        })
        .collect()
}

fn flat(m: &[Vec<f64>]) -> Vec<f64> {
    m.iter().flatten().copied().collect()
}

/// Unit diagonal (to 1e-15) and PSD (smallest eigenvalue >= -1e-13, i.e. zero up to the
/// rounding of an eigen-decomposition of an O(1) matrix).
fn assert_correlation_matrix(x: &[f64], n: usize) {
    for i in 0..n {
        assert!(
            (x[i * n + i] - 1.0).abs() < 1e-15,
            "diagonal {i}: {}",
            x[i * n + i]
        );
        for j in 0..n {
            assert!((x[i * n + j] - x[j * n + i]).abs() < 1e-15, "asymmetric");
        }
    }
    let (values, _) = symmetric_eigen(x, n);
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    assert!(min >= -1e-13, "min eigenvalue {min}");
}

#[test]
fn higham_classic_example() {
    let a = [1.0, 1.0, 0.0, 1.0, 1.0, 1.0, 0.0, 1.0, 1.0];
    let result = nearest_correlation(&a, 3);
    assert!(result.converged, "{} iterations", result.iterations);
    let x = &result.matrix;
    // Higham (2002), section 4: off-diagonals 0.7607 and 0.1573 (4 digits printed).
    for (idx, expected) in [
        (1, 0.7607),
        (5, 0.7607),
        (2, 0.1573),
        (3, 0.7607),
        (6, 0.1573),
    ] {
        assert!((x[idx] - expected).abs() < 1e-4, "entry {idx}: {}", x[idx]);
    }
    assert_correlation_matrix(x, 3);
    // Independent numpy implementation iterated to 1e-15: agree to 1e-9 (our stopping
    // tolerance is 1e-12 relative change; linear convergence leaves an error of that order
    // times the contraction factor's 1/(1-c), far below 1e-9).
    let reference = flat(&matrix(&case("higham2002_classic")["nearest_pearson"]));
    for (k, (ours, theirs)) in x.iter().zip(&reference).enumerate() {
        assert!(
            (ours - theirs).abs() < 1e-9,
            "entry {k}: {ours} vs {theirs}"
        );
    }
}

#[test]
fn nearest_correlation_of_a_valid_matrix_is_itself() {
    let a = [1.0, 0.3, -0.2, 0.3, 1.0, 0.5, -0.2, 0.5, 1.0];
    let result = nearest_correlation(&a, 3);
    for (x, y) in result.matrix.iter().zip(&a) {
        assert!((x - y).abs() < 1e-12);
    }
}

#[test]
fn copula_repairs_an_inconsistent_rank_matrix() {
    let c = case("inconsistent_rank_4x4");
    let rank = matrix(&c["input_rank"]);
    let (copula, reports) = Copula::new(
        6,
        &[RankCorrelationMatrix {
            dimensions: vec![5, 1, 2, 3],
            matrix: rank,
        }],
    )
    .expect("repairable");
    assert!(!copula.is_identity());
    assert_eq!(reports.len(), 1);
    let report = &reports[0];
    assert!(report.repaired);
    // The group is reported in sorted input order: [1, 2, 3, 5]; the reference is in the
    // matrix's own order [5, 1, 2, 3]. Map reference position -> report position.
    assert_eq!(report.dimensions, vec![1, 2, 3, 5]);
    let to_report = [3, 0, 1, 2];
    let expected = matrix(&c["adjusted_rank"]);
    for i in 0..4 {
        for j in 0..4 {
            let ours = report.adjusted_rank_matrix[to_report[i]][to_report[j]];
            assert!(
                (ours - expected[i][j]).abs() < 1e-9,
                "({i},{j}): {ours} vs {}",
                expected[i][j]
            );
        }
    }
    // The adjusted rank matrix maps to a valid Pearson correlation matrix.
    let pearson: Vec<f64> = report
        .adjusted_rank_matrix
        .iter()
        .flatten()
        .map(|&r| 2.0 * (std::f64::consts::PI * r / 6.0).sin())
        .collect();
    let mut pearson = pearson;
    for i in 0..4 {
        pearson[i * 4 + i] = 1.0;
    }
    assert_correlation_matrix(&pearson, 4);
}

#[test]
fn repaired_random_indefinite_matrices_are_correlation_matrices() {
    // Deterministic pseudo-random symmetric matrices with unit diagonal and entries in
    // [-1, 1]: almost all are indefinite for n >= 6.
    let mut state = 0x1234_5678_9abc_def0_u64;
    let mut next = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((state >> 11) as f64) * 2f64.powi(-53) * 2.0 - 1.0
    };
    let mut indefinite = 0;
    for n in [2, 3, 6, 10, 20] {
        let mut a = vec![0.0; n * n];
        for i in 0..n {
            a[i * n + i] = 1.0;
            for j in 0..i {
                let v = next();
                a[i * n + j] = v;
                a[j * n + i] = v;
            }
        }
        let (values, _) = symmetric_eigen(&a, n);
        if values.iter().any(|&v| v < 0.0) {
            indefinite += 1;
        }
        let x = nearest_correlation(&a, n).matrix;
        assert_correlation_matrix(&x, n);
    }
    assert!(indefinite >= 3, "test matrices should mostly be indefinite");
}

#[test]
fn spearman_pearson_round_trip() {
    for rs in [-1.0, -0.7, 0.0, 0.3, 0.95, 1.0] {
        let r = ultra_engine::correlation::spearman_to_pearson(rs);
        assert!(r.abs() <= 1.0);
        assert!((pearson_to_spearman(r) - rs).abs() < 1e-14);
    }
    assert_eq!(ultra_engine::correlation::spearman_to_pearson(0.0), 0.0);
}

/// Repair time for a 50-input indefinite matrix (the largest users write by hand). Run with
/// `cargo test --release -p ultra-engine --test correlation_higham -- --ignored --nocapture`.
#[test]
#[ignore = "timing; run in release"]
fn repair_timing_50() {
    let n = 50;
    let mut state = 0x0bad_5eed_u64;
    let mut a = vec![0.0; n * n];
    for i in 0..n {
        a[i * n + i] = 1.0;
        for j in 0..i {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let v = ((state >> 11) as f64) * 2f64.powi(-53) * 1.6 - 0.8;
            a[i * n + j] = v;
            a[j * n + i] = v;
        }
    }
    let start = std::time::Instant::now();
    let result = nearest_correlation(&a, n);
    println!(
        "50x50 repair: {} iterations, converged {}, {:.1} ms",
        result.iterations,
        result.converged,
        start.elapsed().as_secs_f64() * 1e3
    );
    assert_correlation_matrix(&result.matrix, n);
}
