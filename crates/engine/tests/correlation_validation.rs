//! Validation of requested rank-correlation matrices: every malformed input is a typed
//! error (never a panic), overlapping matrices are merged, identity targets are no-ops.

use ultra_engine::correlation::{Copula, CorrelationError, RankCorrelationMatrix};

fn m(dimensions: &[usize], rows: &[&[f64]]) -> RankCorrelationMatrix {
    RankCorrelationMatrix {
        dimensions: dimensions.to_vec(),
        matrix: rows.iter().map(|r| r.to_vec()).collect(),
    }
}

fn err(dimensions: usize, matrices: &[RankCorrelationMatrix]) -> CorrelationError {
    match Copula::new(dimensions, matrices) {
        Ok(_) => panic!("expected an error for {matrices:?}"),
        Err(e) => e,
    }
}

#[test]
fn empty_matrix_is_rejected() {
    assert_eq!(
        err(3, &[m(&[], &[])]),
        CorrelationError::Empty { matrix: 0 }
    );
    // Dimensions but no rows.
    assert_eq!(
        err(3, &[m(&[0, 1], &[])]),
        CorrelationError::Empty { matrix: 0 }
    );
}

#[test]
fn shape_errors() {
    assert_eq!(
        err(3, &[m(&[0, 1], &[&[1.0, 0.5], &[0.5]])]),
        CorrelationError::NotSquare {
            rows: 2,
            row: 1,
            len: 1
        }
    );
    assert_eq!(
        err(3, &[m(&[0, 1], &[&[1.0, 0.5, 0.0], &[0.5, 1.0, 0.0]])]),
        CorrelationError::NotSquare {
            rows: 2,
            row: 0,
            len: 3
        }
    );
    assert_eq!(
        err(3, &[m(&[0, 1, 2], &[&[1.0, 0.5], &[0.5, 1.0]])]),
        CorrelationError::DimensionCountMismatch {
            matrix: 0,
            dimensions: 3,
            rows: 2
        }
    );
}

#[test]
fn non_finite_and_out_of_range_entries() {
    for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        assert_eq!(
            err(2, &[m(&[0, 1], &[&[1.0, bad], &[bad, 1.0]])]),
            CorrelationError::NotFinite {
                matrix: 0,
                row: 0,
                col: 1
            }
        );
    }
    assert_eq!(
        err(2, &[m(&[0, 1], &[&[1.0, 1.5], &[1.5, 1.0]])]),
        CorrelationError::OutOfRange {
            matrix: 0,
            row: 0,
            col: 1,
            value: 1.5
        }
    );
    assert_eq!(
        err(
            2,
            &[m(&[0, 1], &[&[1.0, -1.0 - 1e-9], &[-1.0 - 1e-9, 1.0]])]
        ),
        CorrelationError::OutOfRange {
            matrix: 0,
            row: 0,
            col: 1,
            value: -1.0 - 1e-9
        }
    );
    // Exactly +-1 is allowed.
    assert!(Copula::new(2, &[m(&[0, 1], &[&[1.0, -1.0], &[-1.0, 1.0]])]).is_ok());
}

#[test]
fn diagonal_must_be_one() {
    assert_eq!(
        err(2, &[m(&[0, 1], &[&[1.0, 0.2], &[0.2, 0.9]])]),
        CorrelationError::DiagonalNotOne {
            matrix: 0,
            index: 1,
            value: 0.9
        }
    );
    // 1x1: [[1]] is valid (and a no-op), [[0.5]] is not.
    assert_eq!(
        err(1, &[m(&[0], &[&[0.5]])]),
        CorrelationError::DiagonalNotOne {
            matrix: 0,
            index: 0,
            value: 0.5
        }
    );
    let (copula, reports) = Copula::new(1, &[m(&[0], &[&[1.0]])]).expect("valid 1x1");
    assert!(copula.is_identity());
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].adjusted_rank_matrix, vec![vec![1.0]]);
}

#[test]
fn asymmetry_is_rejected_beyond_1e_12() {
    assert_eq!(
        err(3, &[m(&[0, 1], &[&[1.0, 0.3], &[0.3 + 1e-9, 1.0]])]),
        CorrelationError::NotSymmetric {
            matrix: 0,
            row: 0,
            col: 1,
            upper: 0.3,
            lower: 0.3 + 1e-9
        }
    );
    assert!(Copula::new(3, &[m(&[0, 1], &[&[1.0, 0.3], &[0.3 + 1e-14, 1.0]])]).is_ok());
}

#[test]
fn input_indices_are_checked() {
    let ok = m(&[0, 1], &[&[1.0, 0.3], &[0.3, 1.0]]);
    assert_eq!(
        err(4, &[ok.clone(), m(&[2, 4], &[&[1.0, 0.3], &[0.3, 1.0]])]),
        CorrelationError::DimensionOutOfRange {
            matrix: 1,
            dimension: 4,
            inputs: 4
        }
    );
    assert_eq!(
        err(4, &[m(&[2, 2], &[&[1.0, 0.3], &[0.3, 1.0]])]),
        CorrelationError::DuplicateDimension {
            matrix: 0,
            dimension: 2
        }
    );
    // No inputs at all.
    assert!(matches!(
        err(0, &[ok]),
        CorrelationError::DimensionOutOfRange { dimension: 0, .. }
    ));
}

#[test]
fn overlapping_matrices_merge_and_conflicts_are_errors() {
    // Pairwise a-b and b-c (the way pairwise correlations arrive) form one group {1, 2, 4};
    // the unnamed pair (1, 4) is uncorrelated.
    let (copula, reports) = Copula::new(
        5,
        &[
            m(&[2, 1], &[&[1.0, 0.5], &[0.5, 1.0]]),
            m(&[4, 2], &[&[1.0, -0.3], &[-0.3, 1.0]]),
        ],
    )
    .expect("valid");
    assert!(!copula.is_identity());
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].dimensions, vec![1, 2, 4]);
    assert!(!reports[0].repaired);
    assert_eq!(
        reports[0].adjusted_rank_matrix,
        vec![
            vec![1.0, 0.5, 0.0],
            vec![0.5, 1.0, -0.3],
            vec![0.0, -0.3, 1.0]
        ]
    );
    // The same pair twice with the same value is fine; with another value it is an error.
    let same = m(&[1, 2], &[&[1.0, 0.5], &[0.5, 1.0]]);
    let three = m(
        &[0, 1, 2],
        &[&[1.0, 0.0, 0.0], &[0.0, 1.0, 0.5], &[0.0, 0.5, 1.0]],
    );
    assert!(Copula::new(3, &[three.clone(), same]).is_ok());
    assert_eq!(
        err(3, &[three, m(&[2, 1], &[&[1.0, 0.4], &[0.4, 1.0]])]),
        CorrelationError::ConflictingEntries {
            first: 1,
            second: 2,
            value_a: 0.5,
            value_b: 0.4
        }
    );
}

#[test]
fn disjoint_matrices_are_separate_groups_in_input_order() {
    let (_, reports) = Copula::new(
        6,
        &[
            m(&[5, 3], &[&[1.0, 0.2], &[0.2, 1.0]]),
            m(&[0, 1], &[&[1.0, 0.7], &[0.7, 1.0]]),
        ],
    )
    .expect("valid");
    let dims: Vec<_> = reports.iter().map(|r| r.dimensions.clone()).collect();
    assert_eq!(dims, vec![vec![0, 1], vec![3, 5]]);
}

#[test]
fn no_matrices_or_identity_targets_are_identity() {
    let (copula, reports) = Copula::new(3, &[]).expect("valid");
    assert!(copula.is_identity());
    assert!(reports.is_empty());
    let (copula, reports) =
        Copula::new(3, &[m(&[0, 2], &[&[1.0, 0.0], &[0.0, 1.0]])]).expect("valid");
    assert!(copula.is_identity());
    assert_eq!(reports.len(), 1);
    assert!(!reports[0].repaired);
}
