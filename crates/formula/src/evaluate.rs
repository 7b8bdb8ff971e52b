//! Deterministic evaluation of every cell: what `ultra eval` prints and what the
//! conformance tests compare with cached workbook values.

use crate::builder::Builder;
use crate::error::{CellLocation, FormulaError, UnsupportedCall};
use crate::functions::Item;
use crate::lower::Mode;
use crate::model::{Sheet, analyse, lower_cell, order};
use crate::value::{ExcelError, Value};

/// Cell values from one deterministic recalculation.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    /// Every cell with its value, in the model's order.
    pub cells: Vec<(CellLocation, Value)>,
    /// Calls that could not be evaluated (their cells show an error value).
    pub unsupported: Vec<UnsupportedCall>,
}

impl Evaluation {
    /// The value of the cell called `name` (case-insensitive).
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.cells
            .iter()
            .find(|(location, _)| location.cell.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }
}

pub(crate) fn evaluate(sheet: &dyn Sheet) -> Result<Evaluation, FormulaError> {
    let cells = sheet.cells();
    let analysis = analyse(sheet)?;
    let order = order(sheet, &analysis.deps)?;
    let mut builder = Builder::new();
    let mut values: Vec<Option<Item>> = vec![None; cells.len()];
    let mut unsupported = Vec::new();
    for (cell, location) in cells.iter().enumerate().map(|(i, c)| (i, &c.location)) {
        if let Some(error) = sheet.broken(cell) {
            unsupported.push(UnsupportedCall {
                location: location.clone(),
                function: "(formula)".into(),
                column: 0,
                reason: error.to_string(),
            });
        }
    }
    for index in order {
        let (item, _) = lower_cell(
            sheet,
            index,
            &values,
            &mut builder,
            Mode::Evaluate,
            &mut unsupported,
        )?;
        values[index] = Some(item);
    }
    let cells = cells
        .iter()
        .zip(values)
        .map(|(cell, item)| {
            let value = match item {
                Some(Item::Value(value)) => value,
                // Evaluation has no random inputs, so no nodes; defensive all the same.
                _ => Value::Error(ExcelError::Value),
            };
            (cell.location.clone(), value)
        })
        .collect();
    Ok(Evaluation { cells, unsupported })
}
