//! Small dense symmetric-matrix kernels for correlation matrices: the cyclic Jacobi
//! eigen-decomposition, a positive-semidefinite Cholesky factorisation, and Higham's
//! nearest correlation matrix.
//!
//! Matrices are square, row-major, flat `&[f64]` of `n * n` entries. They are the matrices
//! users write by hand (up to ~50 inputs), so the O(n^3)-per-sweep Jacobi method is cheap
//! and, unlike QR-based methods, simple and accurate to high relative precision.

/// Absolute tolerance on a Cholesky pivot below which the pivot is treated as zero (the
/// matrix is singular in that direction). Entries of `L Lᵀ` then differ from the input by at
/// most about `sqrt(PIVOT_TOL)` = 1e-6 in the zeroed column, and by at most `PIVOT_TOL` on its
/// diagonal.
const PIVOT_TOL: f64 = 1e-12;

/// Below a zero pivot, the remaining entries of its column must be at most this (about
/// `sqrt(PIVOT_TOL)`, with slack for rounding); a larger one proves the matrix indefinite.
const ZERO_COLUMN_TOL: f64 = 1e-5;

/// Symmetric eigen-decomposition `A = V diag(λ) Vᵀ` by the cyclic Jacobi method with
/// threshold (Golub & Van Loan, "Matrix Computations", 4th ed., §8.5.2-8.5.3; Rutishauser's
/// stable rotation formulas). Returns the eigenvalues and the eigenvectors as the columns of
/// a row-major `n x n` matrix.
///
/// Accuracy: eigenvalues to within a few `n * ε * ‖A‖_F`; the sweeps stop when the
/// off-diagonal mass is below `ε² ‖A‖²_F` (quadratic convergence: typically 6-10 sweeps).
pub fn symmetric_eigen(a: &[f64], n: usize) -> (Vec<f64>, Vec<f64>) {
    assert_eq!(a.len(), n * n, "symmetric_eigen: matrix must be n x n");
    let mut m = a.to_vec();
    let mut v = vec![0.0; n * n];
    for i in 0..n {
        v[i * n + i] = 1.0;
    }
    let norm2: f64 = m.iter().map(|x| x * x).sum();
    let eps = f64::EPSILON;
    for _sweep in 0..100 {
        let mut off = 0.0;
        for p in 0..n {
            for q in p + 1..n {
                off += 2.0 * m[p * n + q] * m[p * n + q];
            }
        }
        if off <= eps * eps * norm2 || off == 0.0 {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                let apq = m[p * n + q];
                if apq == 0.0 {
                    continue;
                }
                let app = m[p * n + p];
                let aqq = m[q * n + q];
                // Rotation angle: t = tan(θ) is the smaller root of t² + 2τt - 1 = 0.
                let tau = (aqq - app) / (2.0 * apq);
                let t = if tau >= 0.0 {
                    1.0 / (tau + (1.0 + tau * tau).sqrt())
                } else {
                    -1.0 / (-tau + (1.0 + tau * tau).sqrt())
                };
                let c = 1.0 / (1.0 + t * t).sqrt();
                let s = t * c;
                // A <- Jᵀ A J, touching rows/columns p and q only.
                for k in 0..n {
                    let akp = m[k * n + p];
                    let akq = m[k * n + q];
                    m[k * n + p] = c * akp - s * akq;
                    m[k * n + q] = s * akp + c * akq;
                }
                for k in 0..n {
                    let apk = m[p * n + k];
                    let aqk = m[q * n + k];
                    m[p * n + k] = c * apk - s * aqk;
                    m[q * n + k] = s * apk + c * aqk;
                }
                m[p * n + q] = 0.0;
                m[q * n + p] = 0.0;
                for k in 0..n {
                    let vkp = v[k * n + p];
                    let vkq = v[k * n + q];
                    v[k * n + p] = c * vkp - s * vkq;
                    v[k * n + q] = s * vkp + c * vkq;
                }
            }
        }
    }
    let values = (0..n).map(|i| m[i * n + i]).collect();
    (values, v)
}

/// `V diag(max(λ, floor)) Vᵀ`: the projection onto the positive semidefinite cone in the
/// Frobenius norm when `floor == 0` (Higham 2002, Theorem 3.2 with W = I), symmetrised.
fn project_psd(a: &[f64], n: usize, floor: f64) -> Vec<f64> {
    let (values, vectors) = symmetric_eigen(a, n);
    let mut out = vec![0.0; n * n];
    for (k, &lambda) in values.iter().enumerate() {
        let lambda = lambda.max(floor);
        if lambda == 0.0 {
            continue;
        }
        for i in 0..n {
            let vik = lambda * vectors[i * n + k];
            for j in 0..=i {
                out[i * n + j] += vik * vectors[j * n + k];
            }
        }
    }
    for i in 0..n {
        for j in 0..i {
            out[j * n + i] = out[i * n + j];
        }
    }
    out
}

/// Result of [`nearest_correlation`].
#[derive(Debug, Clone, PartialEq)]
pub struct NearestCorrelation {
    /// Row-major `n x n`, unit diagonal, positive semidefinite.
    pub matrix: Vec<f64>,
    /// Alternating-projection iterations used.
    pub iterations: usize,
    /// Whether the relative change fell below the tolerance before the iteration cap.
    pub converged: bool,
}

/// Relative change (Frobenius) between successive iterates at which
/// [`nearest_correlation`] stops.
pub const HIGHAM_TOL: f64 = 1e-12;
/// Iteration cap of [`nearest_correlation`]; the result is made a valid correlation matrix
/// even if it is reached.
pub const HIGHAM_MAX_ITER: usize = 2000;

/// The nearest correlation matrix to the symmetric matrix `a` in the Frobenius norm:
/// Higham (2002), "Computing the nearest correlation matrix - a problem from finance",
/// IMA J. Numer. Anal. 22, 329-343, Algorithm 3.3 with W = I: alternating projections onto
/// the PSD cone S and the unit-diagonal set U, with Dykstra's correction on the S step:
///
/// ```text
/// ΔS = 0, Y = A
/// repeat: R = Y - ΔS; X = P_S(R); ΔS = X - R; Y = P_U(X)
/// ```
///
/// It stops when `‖Y_k - Y_{k-1}‖_F / ‖Y_k‖_F <= HIGHAM_TOL` (and the same for X). Linear
/// convergence: the classic 3x3 example takes a few dozen iterations. The final `Y` has a unit
/// diagonal but is PSD only to within the tolerance, so it is polished once: its negative
/// eigenvalues are clipped to zero and it is rescaled to a unit diagonal (`D^-½ X D^-½`, which
/// preserves semidefiniteness). The polish moves entries by about the final residual.
pub fn nearest_correlation(a: &[f64], n: usize) -> NearestCorrelation {
    assert_eq!(a.len(), n * n, "nearest_correlation: matrix must be n x n");
    let mut y = a.to_vec();
    let mut ds = vec![0.0; n * n];
    let mut x_prev = vec![0.0; n * n];
    let mut r = vec![0.0; n * n];
    let mut iterations = 0;
    let mut converged = false;
    while iterations < HIGHAM_MAX_ITER {
        iterations += 1;
        for k in 0..n * n {
            r[k] = y[k] - ds[k];
        }
        let x = project_psd(&r, n, 0.0);
        for k in 0..n * n {
            ds[k] = x[k] - r[k];
        }
        let mut y_new = x.clone();
        for i in 0..n {
            y_new[i * n + i] = 1.0;
        }
        let dy = frobenius_diff(&y_new, &y) / frobenius(&y_new);
        let dx = frobenius_diff(&x, &x_prev) / frobenius(&x);
        let dxy = frobenius_diff(&y_new, &x) / frobenius(&y_new);
        y = y_new;
        x_prev = x;
        if dy.max(dx).max(dxy) <= HIGHAM_TOL {
            converged = true;
            break;
        }
    }
    // Polish: exact PSD, then exact unit diagonal by congruence scaling.
    let mut m = project_psd(&y, n, 0.0);
    let scale: Vec<f64> = (0..n)
        .map(|i| {
            let d = m[i * n + i];
            if d > 0.0 { 1.0 / d.sqrt() } else { 0.0 }
        })
        .collect();
    for i in 0..n {
        for j in 0..n {
            m[i * n + j] *= scale[i] * scale[j];
        }
        m[i * n + i] = 1.0;
    }
    NearestCorrelation {
        matrix: m,
        iterations,
        converged,
    }
}

fn frobenius(a: &[f64]) -> f64 {
    a.iter()
        .map(|x| x * x)
        .sum::<f64>()
        .sqrt()
        .max(f64::MIN_POSITIVE)
}

fn frobenius_diff(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y) * (x - y))
        .sum::<f64>()
        .sqrt()
}

/// Cholesky factor `L` (row-major, lower triangular) with `L Lᵀ = A` of a symmetric positive
/// semidefinite matrix, or `None` if `A` is not PSD (to the tolerances below).
///
/// Column-by-column (Cholesky-Crout) factorisation (Golub & Van Loan, §4.2.5), extended
/// to singular PSD matrices: a pivot `d` with `|d| <= PIVOT_TOL` (1e-12) is taken as zero and
/// its column of `L` is zeroed, which is exact for a PSD matrix in exact arithmetic (the rest
/// of the column must then vanish: if an entry below exceeds `ZERO_COLUMN_TOL` the matrix is
/// indefinite and `None` is returned). A pivot below `-PIVOT_TOL` also means "not PSD".
/// Accuracy: entries of `L Lᵀ` match `A` to a few ulps for well-conditioned `A`, and to about
/// 1e-6 in a column whose pivot was zeroed.
pub fn cholesky_psd(a: &[f64], n: usize) -> Option<Vec<f64>> {
    assert_eq!(a.len(), n * n, "cholesky_psd: matrix must be n x n");
    let mut l = vec![0.0; n * n];
    for j in 0..n {
        let mut d = a[j * n + j];
        for k in 0..j {
            d -= l[j * n + k] * l[j * n + k];
        }
        if d < -PIVOT_TOL || d.is_nan() {
            return None;
        }
        if d <= PIVOT_TOL {
            for i in j + 1..n {
                let mut s = a[i * n + j];
                for k in 0..j {
                    s -= l[i * n + k] * l[j * n + k];
                }
                if s.abs() > ZERO_COLUMN_TOL {
                    return None;
                }
            }
            continue;
        }
        let ljj = d.sqrt();
        l[j * n + j] = ljj;
        for i in j + 1..n {
            let mut s = a[i * n + j];
            for k in 0..j {
                s -= l[i * n + k] * l[j * n + k];
            }
            l[i * n + j] = s / ljj;
        }
    }
    Some(l)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matmul_t(l: &[f64], n: usize) -> Vec<f64> {
        let mut out = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..n {
                out[i * n + j] = (0..n).map(|k| l[i * n + k] * l[j * n + k]).sum();
            }
        }
        out
    }

    #[test]
    fn eigen_reconstructs_matrix() {
        let n = 4;
        let a = [
            4.0, 1.0, -2.0, 0.5, 1.0, 3.0, 0.0, 1.5, -2.0, 0.0, 2.0, -1.0, 0.5, 1.5, -1.0, 1.0,
        ];
        let (values, v) = symmetric_eigen(&a, n);
        for i in 0..n {
            for j in 0..n {
                let r: f64 = (0..n)
                    .map(|k| v[i * n + k] * values[k] * v[j * n + k])
                    .sum();
                assert!((r - a[i * n + j]).abs() < 1e-13, "({i},{j}): {r}");
            }
        }
        // Trace is preserved.
        let trace: f64 = values.iter().sum();
        assert!((trace - 10.0).abs() < 1e-13);
    }

    #[test]
    fn cholesky_of_pd_and_singular_matrices() {
        let a = [1.0, 0.5, 0.2, 0.5, 1.0, 0.3, 0.2, 0.3, 1.0];
        let l = cholesky_psd(&a, 3).expect("PD");
        for (x, y) in matmul_t(&l, 3).iter().zip(&a) {
            assert!((x - y).abs() < 1e-15);
        }
        // Rank one: all ones.
        let ones = [1.0; 9];
        let l = cholesky_psd(&ones, 3).expect("PSD");
        for x in matmul_t(&l, 3) {
            assert!((x - 1.0).abs() < 1e-15);
        }
        // Indefinite (Higham's example).
        assert!(cholesky_psd(&[1.0, 1.0, 0.0, 1.0, 1.0, 1.0, 0.0, 1.0, 1.0], 3).is_none());
        assert!(cholesky_psd(&[1.0, 0.9, 0.9, 1.0], 2).is_some());
        assert!(cholesky_psd(&[1.0, 1.1, 1.1, 1.0], 2).is_none());
    }
}
