//! `RiskCorrmat(range, position[, instance])`: inputs correlated through a rank matrix held
//! in the workbook. Every distribution that names the same range (and instance) belongs
//! to one matrix, at its 1-based position; the matrix may be filled in full or in one
//! triangle only (as @RISK accepts), and an empty diagonal is 1.

use ultra_engine::ir::{Correlation, NodeId};

use crate::error::FormulaError;
use crate::lower::NewInput;
use crate::value::Grid;

/// One input's place in a correlation matrix.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CorrmatRef {
    /// The range as written, qualified by the sheet of the cell, plus the instance.
    pub key: String,
    /// The matrix cells; `None` where empty.
    pub matrix: Grid<Option<f64>>,
    /// 1-based.
    pub position: usize,
}

fn error(key: &str, message: String) -> FormulaError {
    FormulaError::Correlation {
        a: key.to_string(),
        b: String::new(),
        message,
    }
}

/// The symmetric matrix of `grid`, each off-diagonal pair taken from whichever triangle
/// holds it.
fn symmetric(key: &str, grid: &Grid<Option<f64>>) -> Result<Vec<Vec<f64>>, FormulaError> {
    if grid.rows != grid.cols || grid.rows == 0 {
        return Err(error(
            key,
            format!("the matrix is {}x{}, not square", grid.rows, grid.cols),
        ));
    }
    let n = grid.rows;
    let at = |i: usize, j: usize| grid.get(i, j).copied().flatten();
    let mut matrix = vec![vec![0.0; n]; n];
    for (i, row) in matrix.iter_mut().enumerate() {
        for (j, entry) in row.iter_mut().enumerate() {
            *entry = if i == j {
                at(i, i).unwrap_or(1.0)
            } else {
                match (at(i, j), at(j, i)) {
                    (Some(a), Some(b)) if a != b && a != 0.0 && b != 0.0 => {
                        return Err(error(
                            key,
                            format!(
                                "entries ({},{}) and ({},{}) differ",
                                i + 1,
                                j + 1,
                                j + 1,
                                i + 1
                            ),
                        ));
                    }
                    (Some(a), Some(b)) => {
                        if a != 0.0 {
                            a
                        } else {
                            b
                        }
                    }
                    (Some(a), None) | (None, Some(a)) => a,
                    (None, None) => 0.0,
                }
            };
        }
    }
    Ok(matrix)
}

/// The correlation matrices of the inputs created, grouped by range, in order of first
/// use. Positions with no input are dropped from their matrix.
pub(crate) fn matrices(cell_inputs: &[Vec<NewInput>]) -> Result<Vec<Correlation>, FormulaError> {
    let mut groups: Vec<(&CorrmatRef, Vec<(usize, NodeId)>)> = Vec::new();
    for input in cell_inputs.iter().flatten() {
        let Some(corrmat) = &input.corrmat else {
            continue;
        };
        match groups
            .iter_mut()
            .find(|(first, _)| first.key == corrmat.key)
        {
            Some((_, members)) => members.push((corrmat.position, input.node)),
            None => groups.push((corrmat, vec![(corrmat.position, input.node)])),
        }
    }
    let mut result = Vec::with_capacity(groups.len());
    for (first, mut members) in groups {
        let full = symmetric(&first.key, &first.matrix)?;
        members.sort_unstable();
        for pair in members.windows(2) {
            if pair[0].0 == pair[1].0 {
                return Err(error(
                    &first.key,
                    format!("two inputs take position {}", pair[0].0),
                ));
            }
        }
        if let Some((position, _)) = members.iter().find(|(p, _)| *p == 0 || *p > full.len()) {
            return Err(error(
                &first.key,
                format!(
                    "position {position} is outside the {}x{0} matrix",
                    full.len()
                ),
            ));
        }
        let indices: Vec<usize> = members.iter().map(|(p, _)| p - 1).collect();
        let matrix = indices
            .iter()
            .map(|&i| indices.iter().map(|&j| full[i][j]).collect())
            .collect();
        result.push(Correlation::Matrix {
            inputs: members.iter().map(|(_, node)| *node).collect(),
            matrix,
        });
    }
    Ok(result)
}
