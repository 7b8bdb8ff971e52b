//! Validation and grouping of the requested matrices, and the per-iteration copula transform.

use super::matrix::{cholesky_psd, nearest_correlation};
use super::{
    CorrelationError, CorrelationReport, RankCorrelationMatrix, pearson_to_spearman,
    spearman_to_pearson,
};
use crate::dist::special::{inverse_normal_cdf, normal_cdf, normal_sf};

/// Tolerance on `|r_ii - 1|` and `|r_ij - r_ji|` in a requested matrix, and on two values
/// given for the same pair by two matrices.
const ENTRY_TOL: f64 = 1e-12;

/// Smallest and largest uniform the transform produces (and feeds to `Φ⁻¹`): strictly
/// inside (0, 1), so every inverse CDF downstream gets a finite argument. `1 - 2⁻⁵³` is
/// the largest f64 below 1.
const U_MIN: f64 = f64::MIN_POSITIVE;
const U_MAX: f64 = 1.0 - f64::EPSILON / 2.0;

/// Groups up to this size use stack scratch in [`Copula::apply`]; larger ones allocate one
/// small buffer per call.
const STACK_DIMS: usize = 32;

/// One correlation group: its inputs (sorted) and the Cholesky factor of its Pearson matrix.
#[derive(Debug, Clone)]
struct Group {
    dims: Vec<usize>,
    /// Row-major `k x k` lower-triangular factor.
    l: Vec<f64>,
    /// Row j of `L` is the unit vector e_j: `u'_j = u_j`, left untouched (always row 0).
    passthrough: Vec<bool>,
}

/// The copula transform for all correlation groups of a model.
#[derive(Debug, Clone)]
pub struct Copula {
    dimensions: usize,
    groups: Vec<Group>,
    max_group: usize,
}

impl Copula {
    /// Validates the requested rank matrices, merges overlapping ones into groups, converts
    /// each group to its Pearson matrix, repairs it (Higham 2002) if it is not positive
    /// semidefinite, and factorises it. `dimensions` is the number of model inputs.
    ///
    /// Groups whose target is the identity (no non-zero correlation) are reported but not
    /// transformed, so uniforms of uncorrelated inputs pass through bit for bit.
    pub fn new(
        dimensions: usize,
        matrices: &[RankCorrelationMatrix],
    ) -> Result<(Self, Vec<CorrelationReport>), CorrelationError> {
        for (index, m) in matrices.iter().enumerate() {
            validate(index, m, dimensions)?;
        }
        let mut groups = Vec::new();
        let mut reports = Vec::new();
        for members in group_members(dimensions, matrices) {
            let (dims, rank) = merged_rank_matrix(&members, matrices)?;
            let k = dims.len();
            let identity = (0..k).all(|i| (0..k).all(|j| i == j || rank[i * k + j] == 0.0));
            if identity {
                reports.push(report(&dims, false, &rank));
                continue;
            }
            let pearson: Vec<f64> = (0..k * k)
                .map(|idx| {
                    if idx / k == idx % k {
                        1.0
                    } else {
                        spearman_to_pearson(rank[idx])
                    }
                })
                .collect();
            let (l, repaired, used_rank) = match cholesky_psd(&pearson, k) {
                Some(l) => (l, false, rank),
                None => {
                    let nearest = nearest_correlation(&pearson, k).matrix;
                    let l = cholesky_psd(&nearest, k).ok_or_else(|| {
                        CorrelationError::FactorizationFailed {
                            dimensions: dims.clone(),
                        }
                    })?;
                    let used = (0..k * k)
                        .map(|idx| {
                            if idx / k == idx % k {
                                1.0
                            } else {
                                pearson_to_spearman(nearest[idx])
                            }
                        })
                        .collect();
                    (l, true, used)
                }
            };
            reports.push(report(&dims, repaired, &used_rank));
            let passthrough = (0..k)
                .map(|j| (0..k).all(|c| l[j * k + c] == if c == j { 1.0 } else { 0.0 }))
                .collect();
            groups.push(Group {
                dims,
                l,
                passthrough,
            });
        }
        let max_group = groups.iter().map(|g| g.dims.len()).max().unwrap_or(0);
        Ok((
            Copula {
                dimensions,
                groups,
                max_group,
            },
            reports,
        ))
    }

    /// The groups `apply` transforms: each group's input dimensions, its row-major
    /// lower-triangular factor `L`, and which rows are passed through untouched. For engines
    /// that evaluate the transform elsewhere (the GPU shader).
    pub fn groups(&self) -> impl Iterator<Item = (&[usize], &[f64], &[bool])> {
        self.groups
            .iter()
            .map(|g| (g.dims.as_slice(), g.l.as_slice(), g.passthrough.as_slice()))
    }

    /// Whether `apply` changes anything.
    pub fn is_identity(&self) -> bool {
        self.groups.is_empty()
    }

    /// Correlates a chunk of uniforms in place. `uniforms` is column-major:
    /// dimension d occupies `uniforms[d * len .. (d + 1) * len]`.
    ///
    /// Per iteration and group: `z = Φ⁻¹(u)`, `z' = L z`, `u' = Φ(z')` computed as
    /// `Φ(z')` for `z' <= 0` and `1 - Φ̄(z')` for `z' > 0` (the survival function is
    /// accurate in the upper tail, so `u'` is correct to about an ulp of 1 there instead of
    /// inheriting the cancellation inside `Φ`), clamped to `[2.2e-308, 1 - 2⁻⁵³]`. The
    /// first input of each group (row e₀ of `L`) is left untouched. A pure function of each
    /// iteration's uniforms: the result does not depend on how iterations are chunked.
    /// Allocation-free for groups of up to 32 inputs.
    ///
    /// # Panics
    /// If `uniforms` is shorter than `dimensions * len` (a caller bug, not user input).
    pub fn apply(&self, uniforms: &mut [f64], len: usize) {
        if self.groups.is_empty() || len == 0 {
            return;
        }
        assert!(
            uniforms.len() >= self.dimensions * len,
            "Copula::apply: {} uniforms for {} dimensions x {len} iterations",
            uniforms.len(),
            self.dimensions
        );
        let mut stack = [0.0_f64; STACK_DIMS];
        let mut heap = Vec::new();
        let scratch: &mut [f64] = if self.max_group <= STACK_DIMS {
            &mut stack[..self.max_group]
        } else {
            heap.resize(self.max_group, 0.0);
            &mut heap
        };
        for group in &self.groups {
            let k = group.dims.len();
            let z = &mut scratch[..k];
            for i in 0..len {
                for (zj, &d) in z.iter_mut().zip(&group.dims) {
                    *zj = inverse_normal_cdf(uniforms[d * len + i].clamp(U_MIN, U_MAX));
                }
                // z' = L z in place, bottom row first: row j reads z[..=j] only.
                for j in (0..k).rev() {
                    if group.passthrough[j] {
                        continue;
                    }
                    let row = &group.l[j * k..j * k + j + 1];
                    let zp: f64 = row.iter().zip(&z[..=j]).map(|(a, b)| a * b).sum();
                    z[j] = zp;
                    uniforms[group.dims[j] * len + i] = to_uniform(zp);
                }
            }
        }
    }
}

/// `Φ(z)`, computed from the side where it is accurate, clamped strictly inside (0, 1).
#[inline]
fn to_uniform(z: f64) -> f64 {
    let u = if z <= 0.0 {
        normal_cdf(z)
    } else {
        1.0 - normal_sf(z)
    };
    u.clamp(U_MIN, U_MAX)
}

fn report(dims: &[usize], repaired: bool, rank: &[f64]) -> CorrelationReport {
    let k = dims.len();
    CorrelationReport {
        dimensions: dims.to_vec(),
        repaired,
        adjusted_rank_matrix: rank.chunks(k).map(<[f64]>::to_vec).collect(),
    }
}

/// Checks one requested matrix on its own (shape, values, inputs).
fn validate(
    matrix: usize,
    m: &RankCorrelationMatrix,
    inputs: usize,
) -> Result<(), CorrelationError> {
    let rows = m.matrix.len();
    if rows == 0 {
        return Err(CorrelationError::Empty { matrix });
    }
    if m.dimensions.len() != rows {
        return Err(CorrelationError::DimensionCountMismatch {
            matrix,
            dimensions: m.dimensions.len(),
            rows,
        });
    }
    for (row, r) in m.matrix.iter().enumerate() {
        if r.len() != rows {
            return Err(CorrelationError::NotSquare {
                rows,
                row,
                len: r.len(),
            });
        }
    }
    for (row, r) in m.matrix.iter().enumerate() {
        for (col, &value) in r.iter().enumerate() {
            if !value.is_finite() {
                return Err(CorrelationError::NotFinite { matrix, row, col });
            }
            if value.abs() > 1.0 {
                return Err(CorrelationError::OutOfRange {
                    matrix,
                    row,
                    col,
                    value,
                });
            }
        }
    }
    for (index, r) in m.matrix.iter().enumerate() {
        if (r[index] - 1.0).abs() > ENTRY_TOL {
            return Err(CorrelationError::DiagonalNotOne {
                matrix,
                index,
                value: r[index],
            });
        }
    }
    for row in 0..rows {
        for col in row + 1..rows {
            let (upper, lower) = (m.matrix[row][col], m.matrix[col][row]);
            if (upper - lower).abs() > ENTRY_TOL {
                return Err(CorrelationError::NotSymmetric {
                    matrix,
                    row,
                    col,
                    upper,
                    lower,
                });
            }
        }
    }
    for (position, &dimension) in m.dimensions.iter().enumerate() {
        if dimension >= inputs {
            return Err(CorrelationError::DimensionOutOfRange {
                matrix,
                dimension,
                inputs,
            });
        }
        if m.dimensions[..position].contains(&dimension) {
            return Err(CorrelationError::DuplicateDimension { matrix, dimension });
        }
    }
    Ok(())
}

/// Partitions the matrices into groups of matrices that share inputs (transitively), by
/// union-find over inputs. Returns the matrix indices of each group, ordered by the group's
/// smallest input. Assumes every matrix has been validated.
fn group_members(inputs: usize, matrices: &[RankCorrelationMatrix]) -> Vec<Vec<usize>> {
    fn find(parent: &mut [usize], mut x: usize) -> usize {
        while parent[x] != x {
            parent[x] = parent[parent[x]];
            x = parent[x];
        }
        x
    }
    let mut parent: Vec<usize> = (0..inputs).collect();
    for m in matrices {
        let first = m.dimensions[0];
        for &d in &m.dimensions[1..] {
            let (a, b) = (find(&mut parent, first), find(&mut parent, d));
            // Union towards the smaller root, so a root is its group's smallest input.
            parent[a.max(b)] = a.min(b);
        }
    }
    let mut by_root: Vec<(usize, Vec<usize>)> = Vec::new();
    for (index, m) in matrices.iter().enumerate() {
        let root = find(&mut parent, m.dimensions[0]);
        match by_root.iter_mut().find(|(r, _)| *r == root) {
            Some((_, members)) => members.push(index),
            None => by_root.push((root, vec![index])),
        }
    }
    by_root.sort_by_key(|(root, _)| *root);
    by_root.into_iter().map(|(_, members)| members).collect()
}

/// The group's sorted inputs and its merged rank matrix (row-major): entries from every
/// member matrix, zero for pairs no matrix names, and an error for a pair given two
/// different values.
fn merged_rank_matrix(
    members: &[usize],
    matrices: &[RankCorrelationMatrix],
) -> Result<(Vec<usize>, Vec<f64>), CorrelationError> {
    let mut dims: Vec<usize> = members
        .iter()
        .flat_map(|&m| matrices[m].dimensions.iter().copied())
        .collect();
    dims.sort_unstable();
    dims.dedup();
    let k = dims.len();
    let mut rank = vec![0.0; k * k];
    let mut set = vec![false; k * k];
    for i in 0..k {
        rank[i * k + i] = 1.0;
        set[i * k + i] = true;
    }
    for &m in members {
        let m = &matrices[m];
        // Position of each of the matrix's inputs in the group (dims is sorted).
        let pos: Vec<usize> = m
            .dimensions
            .iter()
            .map(|d| dims.partition_point(|x| x < d))
            .collect();
        for (a, &pa) in pos.iter().enumerate() {
            for (b, &pb) in pos.iter().enumerate().skip(a + 1) {
                // Symmetric to 1e-12: use the mean of the two triangles.
                let value = 0.5 * (m.matrix[a][b] + m.matrix[b][a]);
                let idx = pa * k + pb;
                if set[idx] && (rank[idx] - value).abs() > ENTRY_TOL {
                    return Err(CorrelationError::ConflictingEntries {
                        first: dims[pa.min(pb)],
                        second: dims[pa.max(pb)],
                        value_a: rank[idx],
                        value_b: value,
                    });
                }
                for idx in [pa * k + pb, pb * k + pa] {
                    rank[idx] = value;
                    set[idx] = true;
                }
            }
        }
    }
    Ok((dims, rank))
}
