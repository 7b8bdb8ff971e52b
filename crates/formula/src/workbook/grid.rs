//! The workbook as cells plus the rule that maps references to them ([`Sheet`]).

use std::cell::Cell as Counter;
use std::collections::HashMap;

use crate::ast::{Reference, Target};
use crate::error::FormulaError;
use crate::model::{Cell, Sheet};
use crate::value::Grid;

use super::limits::MAX_REFERENCED_CELLS;

/// One worksheet: where its cells are, and its used range (for `A:A` and `3:3`).
#[derive(Debug, Default)]
pub(crate) struct SheetInfo {
    pub name: String,
    /// (row, column), 0-based, to cell index.
    pub cells: HashMap<(u32, u32), usize>,
    /// One past the last used row and column.
    pub rows: u32,
    pub cols: u32,
}

/// What a defined name stands for.
#[derive(Debug, Clone)]
pub(crate) enum NameTarget {
    /// `Sheet1!$B$2`, `Sheet1!$A$1:$C$3`: resolved like the reference itself.
    Reference(Reference),
    /// A constant or formula (`0.05`, `=Sheet1!$B$2*2`): a cell of its own.
    Cell(usize),
}

#[derive(Debug)]
pub(crate) struct WorkbookGrid {
    pub cells: Vec<Cell>,
    /// The sheet each cell's unqualified references point into.
    pub sheet_of: Vec<usize>,
    pub sheets: Vec<SheetInfo>,
    /// (scope sheet or `None` for the workbook, lower-case name).
    pub names: HashMap<(Option<usize>, String), NameTarget>,
    /// A cell holding nothing, for the empty cells of ranges.
    pub empty: usize,
    /// A cell holding `#REF!`, for references to sheets that do not exist.
    pub bad_ref: usize,
    /// A cell holding `#NAME?`, for names that are not defined.
    pub bad_name: usize,
    /// Cells whose formula does not parse, with why.
    pub broken: HashMap<usize, FormulaError>,
    /// Cells covered by references so far, against [`MAX_REFERENCED_CELLS`].
    pub referenced: Counter<u64>,
}

impl WorkbookGrid {
    pub fn sheet_index(&self, name: &str) -> Option<usize> {
        self.sheets
            .iter()
            .position(|s| s.name.eq_ignore_ascii_case(name))
    }

    fn charge(&self, count: u64) -> Result<(), FormulaError> {
        let total = self.referenced.get().saturating_add(count);
        self.referenced.set(total);
        if total > MAX_REFERENCED_CELLS {
            return Err(FormulaError::Limit(format!(
                "references cover more than {MAX_REFERENCED_CELLS} cells in total"
            )));
        }
        Ok(())
    }

    fn one(cell: usize) -> Grid<usize> {
        Grid {
            rows: 1,
            cols: 1,
            items: vec![cell],
        }
    }

    /// The block rows `r0..=r1`, columns `c0..=c1` of `sheet`; empty cells map to `empty`.
    fn block(
        &self,
        sheet: usize,
        (r0, r1): (u32, u32),
        (c0, c1): (u32, u32),
    ) -> Result<Grid<usize>, FormulaError> {
        let (r0, r1) = (r0.min(r1), r0.max(r1));
        let (c0, c1) = (c0.min(c1), c0.max(c1));
        let rows = u64::from(r1 - r0) + 1;
        let cols = u64::from(c1 - c0) + 1;
        self.charge(rows * cols)?;
        let info = &self.sheets[sheet];
        let mut items = Vec::with_capacity((rows * cols) as usize);
        for row in r0..=r1 {
            for col in c0..=c1 {
                items.push(info.cells.get(&(row, col)).copied().unwrap_or(self.empty));
            }
        }
        Ok(Grid {
            rows: rows as usize,
            cols: cols as usize,
            items,
        })
    }

    fn resolve_in(
        &self,
        sheet: usize,
        reference: &Reference,
        depth: usize,
    ) -> Result<Grid<usize>, FormulaError> {
        let sheet = match &reference.sheet {
            None => sheet,
            Some(name) => match self.sheet_index(name) {
                Some(index) => index,
                None => return Ok(Self::one(self.bad_ref)),
            },
        };
        let info = &self.sheets[sheet];
        match &reference.target {
            Target::Cell(a) => Ok(Self::one(
                info.cells
                    .get(&(a.row, a.col))
                    .copied()
                    .unwrap_or(self.empty),
            )),
            Target::Range(a, b) => self.block(sheet, (a.row, b.row), (a.col, b.col)),
            // Whole columns and rows are bounded by the used range.
            Target::Columns(a, b) => {
                if info.rows == 0 {
                    return Ok(Self::one(self.empty));
                }
                self.block(sheet, (0, info.rows - 1), (a.0, b.0))
            }
            Target::Rows(a, b) => {
                if info.cols == 0 {
                    return Ok(Self::one(self.empty));
                }
                self.block(sheet, (a.0, b.0), (0, info.cols - 1))
            }
            Target::Name(name) => {
                let lower = name.to_lowercase();
                let scoped = if reference.sheet.is_some() {
                    self.names.get(&(Some(sheet), lower.clone()))
                } else {
                    self.names
                        .get(&(Some(sheet), lower.clone()))
                        .or_else(|| self.names.get(&(None, lower.clone())))
                };
                match scoped {
                    None => Ok(Self::one(self.bad_name)),
                    Some(NameTarget::Cell(cell)) => Ok(Self::one(*cell)),
                    // Names to names are cells (load), so this recursion is one level deep.
                    Some(NameTarget::Reference(target)) if depth == 0 => {
                        self.resolve_in(sheet, target, depth + 1)
                    }
                    Some(NameTarget::Reference(_)) => Ok(Self::one(self.bad_name)),
                }
            }
        }
    }
}

impl Sheet for WorkbookGrid {
    fn cells(&self) -> &[Cell] {
        &self.cells
    }

    fn resolve(
        &self,
        from: usize,
        reference: &Reference,
        _column: usize,
    ) -> Result<Grid<usize>, FormulaError> {
        let sheet = self.sheet_of.get(from).copied().unwrap_or(0);
        if self.sheets.is_empty() {
            return Ok(Self::one(self.bad_ref));
        }
        self.resolve_in(sheet, reference, 0)
    }

    fn broken(&self, cell: usize) -> Option<&FormulaError> {
        self.broken.get(&cell)
    }
}
