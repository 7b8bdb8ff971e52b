#![allow(unused_variables, dead_code)]
//! Rank correlation between inputs through a Gaussian copula.

/// A target Spearman rank-correlation matrix over some of the model's inputs, given by
/// their dimension (input) indices.
#[derive(Debug, Clone, PartialEq)]
pub struct RankCorrelationMatrix {
    pub dimensions: Vec<usize>,
    /// Row-major, `dimensions.len()` rows of `dimensions.len()` entries.
    pub matrix: Vec<Vec<f64>>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CorrelationError {
    #[error("correlation matrix is not square: {rows} rows, row {row} has {len} entries")]
    NotSquare { rows: usize, row: usize, len: usize },
}

/// What was done to a requested matrix: whether it had to be repaired to the nearest valid
/// correlation matrix, and the matrix actually used (in Spearman terms).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CorrelationReport {
    pub dimensions: Vec<usize>,
    pub repaired: bool,
    pub adjusted_rank_matrix: Vec<Vec<f64>>,
}

/// The copula transform for all correlation groups of a model.
#[derive(Debug, Clone)]
pub struct Copula {}

impl Copula {
    pub fn new(
        dimensions: usize,
        matrices: &[RankCorrelationMatrix],
    ) -> Result<(Self, Vec<CorrelationReport>), CorrelationError> {
        todo!()
    }

    /// Whether `apply` changes anything.
    pub fn is_identity(&self) -> bool {
        todo!()
    }

    /// Correlates a chunk of uniforms in place. `uniforms` is column-major:
    /// dimension d occupies `uniforms[d * len .. (d + 1) * len]`.
    pub fn apply(&self, uniforms: &mut [f64], len: usize) {
        todo!()
    }
}
