//! Rank correlation between inputs through a Gaussian copula.
//!
//! Users state target Spearman rank correlations, as @RISK users do (pairwise, or a
//! `RiskCorrmat` matrix). Each input is sampled from independent uniforms; for each
//! correlation group the engine then maps, per iteration, `z = Φ⁻¹(u)`, `z' = L z` with
//! `L Lᵀ = R`, `u' = Φ(z')`, and each input's inverse CDF is applied to `u'`. Because the
//! transform acts on uniforms only, every marginal is unchanged, and because it is a pure
//! per-iteration function, it keeps the reproducibility contract (independent of chunking
//! and threads).
//!
//! `R` is the Pearson matrix of the Gaussian copula whose Spearman matrix is the target:
//! `R_ij = 2 sin(π ρs_ij / 6)`, the exact relation for bivariate normals (Pearson 1907;
//! Kruskal 1958). If `R` is not positive semidefinite (inconsistent targets), it is replaced
//! by the nearest correlation matrix in the Frobenius norm (Higham 2002), and the report says
//! so and gives the rank matrix actually used.
//!
//! Overlapping matrices (an input named by two matrices, e.g. pairwise correlations a-b and
//! b-c) are MERGED into one group over the union of their inputs; pairs that no matrix names
//! are given a zero rank correlation; a pair named twice must be given the same value.

mod copula;
pub mod matrix;

pub use copula::Copula;

/// A target Spearman rank-correlation matrix over some of the model's inputs, given by
/// their dimension (input) indices.
#[derive(Debug, Clone, PartialEq)]
pub struct RankCorrelationMatrix {
    pub dimensions: Vec<usize>,
    /// Row-major, `dimensions.len()` rows of `dimensions.len()` entries.
    pub matrix: Vec<Vec<f64>>,
}

/// Why a set of rank-correlation matrices was rejected. `matrix` is the index of the
/// offending matrix in the slice given to [`Copula::new`]; `row`/`col` index into it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CorrelationError {
    #[error("correlation matrix is not square: {rows} rows, row {row} has {len} entries")]
    NotSquare { rows: usize, row: usize, len: usize },
    #[error("correlation matrix {matrix} is empty")]
    Empty { matrix: usize },
    #[error("correlation matrix {matrix} names {dimensions} inputs but has {rows} rows")]
    DimensionCountMismatch {
        matrix: usize,
        dimensions: usize,
        rows: usize,
    },
    #[error("correlation matrix {matrix}: entry ({row}, {col}) is not a finite number")]
    NotFinite {
        matrix: usize,
        row: usize,
        col: usize,
    },
    #[error("correlation matrix {matrix}: entry ({row}, {col}) = {value} is outside [-1, 1]")]
    OutOfRange {
        matrix: usize,
        row: usize,
        col: usize,
        value: f64,
    },
    #[error("correlation matrix {matrix}: diagonal entry {index} is {value}, not 1")]
    DiagonalNotOne {
        matrix: usize,
        index: usize,
        value: f64,
    },
    #[error(
        "correlation matrix {matrix} is not symmetric: ({row}, {col}) = {upper} but ({col}, {row}) = {lower}"
    )]
    NotSymmetric {
        matrix: usize,
        row: usize,
        col: usize,
        upper: f64,
        lower: f64,
    },
    #[error(
        "correlation matrix {matrix} names input {dimension}, but the model has {inputs} inputs"
    )]
    DimensionOutOfRange {
        matrix: usize,
        dimension: usize,
        inputs: usize,
    },
    #[error("correlation matrix {matrix} names input {dimension} twice")]
    DuplicateDimension { matrix: usize, dimension: usize },
    #[error(
        "inputs {first} and {second} are given two different rank correlations: {value_a} and {value_b}"
    )]
    ConflictingEntries {
        first: usize,
        second: usize,
        value_a: f64,
        value_b: f64,
    },
    /// The repaired matrix could not be factorised: an internal numerical failure, not
    /// expected for any valid input.
    #[error("the correlation group over inputs {dimensions:?} could not be factorised")]
    FactorizationFailed { dimensions: Vec<usize> },
}

/// What was done to a requested matrix: whether it had to be repaired to the nearest valid
/// correlation matrix, and the matrix actually used (in Spearman terms).
///
/// One report per correlation group (after merging overlapping matrices), in increasing
/// order of the group's smallest input; `dimensions` is sorted.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CorrelationReport {
    pub dimensions: Vec<usize>,
    pub repaired: bool,
    pub adjusted_rank_matrix: Vec<Vec<f64>>,
}

/// Pearson correlation of the Gaussian copula with Spearman rank correlation `rs`:
/// `2 sin(π rs / 6)` (exact for bivariate normals). Maps [-1, 1] onto [-1, 1].
pub fn spearman_to_pearson(rs: f64) -> f64 {
    2.0 * (std::f64::consts::PI * rs / 6.0).sin()
}

/// Inverse of [`spearman_to_pearson`]: `6/π asin(r / 2)`.
pub fn pearson_to_spearman(r: f64) -> f64 {
    6.0 / std::f64::consts::PI * (r / 2.0).clamp(-0.5, 0.5).asin()
}
