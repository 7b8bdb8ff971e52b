//! Standardised regression coefficients by an LDL^T solve of the normal equations.

/// Pivot below which an input counts as a linear combination of the inputs before it.
/// Pivots are 1 - R^2 of regressing the input on the previous ones (the matrix has a unit
/// diagonal), so 1e-10 means a multiple correlation above 1 - 5e-11.
const PIVOT_TOL: f64 = 1e-10;

/// Standardised coefficients beta_j = b_j sd(x_j) / sd(y) of the multiple linear regression
/// of y on all inputs, from centred cross-products: `sxx` (k x k, row-major),
/// `sxy` (k) and `syy`.
///
/// Solves R beta = c, R the input correlation matrix and c the input-output correlations,
/// with an LDL^T factorisation (Golub & Van Loan, "Matrix Computations", 4th ed., 4.1.2),
/// which is the least-squares solution on standardised data. Inputs flagged `constant`, and
/// inputs whose pivot falls below [`PIVOT_TOL`] (collinear with earlier inputs), get 0 and
/// the others are the regression without them; a constant output gives all zeros. Backward
/// error O(k eps) relative, so coefficients are accurate to about cond(R) * 1e-16.
pub(crate) fn standardized_coefficients(
    sxx: &[f64],
    sxy: &[f64],
    syy: f64,
    constant: &[bool],
) -> Vec<f64> {
    let k = sxy.len();
    let mut beta = vec![0.0; k];
    if syy <= 0.0 || syy.is_nan() {
        return beta;
    }
    let sd: Vec<f64> = (0..k).map(|j| sxx[j * k + j].sqrt()).collect();
    let mut active: Vec<bool> = (0..k)
        .map(|j| !constant[j] && sd[j] > 0.0 && sd[j].is_finite())
        .collect();
    let r = |i: usize, j: usize| sxx[i * k + j] / (sd[i] * sd[j]);
    let c: Vec<f64> = (0..k)
        .map(|j| {
            if active[j] {
                sxy[j] / (sd[j] * syy.sqrt())
            } else {
                0.0
            }
        })
        .collect();

    // L unit lower triangular (row-major), D diagonal; inactive columns stay zero.
    let mut l = vec![0.0; k * k];
    let mut d = vec![0.0; k];
    for j in 0..k {
        if !active[j] {
            continue;
        }
        let dj = r(j, j)
            - (0..j)
                .map(|p| l[j * k + p] * l[j * k + p] * d[p])
                .sum::<f64>();
        if dj.is_nan() || dj <= PIVOT_TOL {
            active[j] = false;
            continue;
        }
        d[j] = dj;
        l[j * k + j] = 1.0;
        for i in j + 1..k {
            if active[i] {
                let s = (0..j)
                    .map(|p| l[i * k + p] * l[j * k + p] * d[p])
                    .sum::<f64>();
                l[i * k + j] = (r(i, j) - s) / dj;
            }
        }
    }
    // L z = c, then D w = z, then L^T beta = w.
    let mut z = vec![0.0; k];
    for i in 0..k {
        if active[i] {
            z[i] = c[i] - (0..i).map(|p| l[i * k + p] * z[p]).sum::<f64>();
        }
    }
    for i in (0..k).rev() {
        if active[i] {
            let s = (i + 1..k).map(|p| l[p * k + i] * beta[p]).sum::<f64>();
            beta[i] = z[i] / d[i] - s;
        }
    }
    beta
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orthogonal_inputs_give_correlations() {
        // Two uncorrelated unit-variance inputs: beta = correlations.
        let sxx = [4.0, 0.0, 0.0, 4.0];
        let sxy = [2.0, -1.0];
        let beta = standardized_coefficients(&sxx, &sxy, 4.0, &[false, false]);
        assert!((beta[0] - 0.5).abs() < 1e-15 && (beta[1] + 0.25).abs() < 1e-15);
    }

    #[test]
    fn collinear_and_constant_inputs_get_zero() {
        // x1 = 2 x0, x2 constant: y = x0 regressed on x0 alone gives beta0 = 1.
        let sxx = [1.0, 2.0, 0.0, 2.0, 4.0, 0.0, 0.0, 0.0, 0.0];
        let sxy = [1.0, 2.0, 0.0];
        let beta = standardized_coefficients(&sxx, &sxy, 1.0, &[false, false, true]);
        assert!((beta[0] - 1.0).abs() < 1e-12, "{beta:?}");
        assert_eq!(beta[1], 0.0);
        assert_eq!(beta[2], 0.0);
        assert_eq!(
            standardized_coefficients(&sxx, &sxy, 0.0, &[false; 3]),
            vec![0.0; 3]
        );
    }
}
