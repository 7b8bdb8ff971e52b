//! Workbook import (`.xlsx`, `.xlsm`): cells, formulas, defined names and the values the
//! last recalculation cached, read with calamine, then compiled or evaluated by the same
//! code as JSON models (`crate::model`).
//!
//! - Labels are `Sheet!A1` addresses; defined names that hold a constant or a formula are
//!   cells of their own, labelled with the name.
//! - Outputs are cells marked with `RiskOutput`, plus those the caller chooses
//!   ([`WorkbookOptions::outputs`]); inputs are the Risk distribution functions, plus the
//!   cells the caller turns into distributions ([`WorkbookOptions::inputs`]), for
//!   workbooks written without @RISK.
//! - Macros (`.xlsm`) are ignored: `vbaProject.bin` is never read; formulas still are.
//! - Limits against hostile files: [`limits`].

mod archive;
mod grid;
pub mod limits;
mod load;

use std::path::Path;

use ultra_engine::dist::Family;

use crate::error::{CellLocation, FormulaError};
use crate::evaluate::{self, Evaluation};
use crate::model::{self, Compiled, Content};
use crate::parser::parse_formula;
use crate::value::Value;

use grid::WorkbookGrid;
use limits::MAX_WORKBOOK_BYTES;
use load::{a1, load, parse_address};

/// What the caller adds to the workbook's own Risk functions.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WorkbookOptions {
    /// Cells to report as outputs, in addition to those marked with `RiskOutput`.
    pub outputs: Vec<OutputChoice>,
    /// Cells whose content is replaced by a distribution.
    pub inputs: Vec<InputChoice>,
}

/// An output chosen by the caller.
#[derive(Debug, Clone, PartialEq)]
pub struct OutputChoice {
    /// `Sheet1!B12`, or `B12` on the first sheet.
    pub cell: String,
    /// The output's name; the cell address when `None`.
    pub name: Option<String>,
}

/// An input chosen by the caller: the cell becomes the distribution.
#[derive(Debug, Clone, PartialEq)]
pub struct InputChoice {
    /// `Sheet1!B3`, or `B3` on the first sheet.
    pub cell: String,
    /// A Risk distribution call in the formula language, e.g. `RiskNormal(0.05, 0.02)`;
    /// it may hold property functions (`RiskName("growth")`) and refer to other cells.
    pub distribution: String,
}

fn write_list(values: &[f64]) -> String {
    let items: Vec<String> = values.iter().map(|v| format!("{v:?}")).collect();
    format!("{{{}}}", items.join(","))
}

impl InputChoice {
    /// The input `family(params)` at `cell`, with the name `name` when given. For the
    /// table families `params` are `[min, max]` (none for `Discrete`), as in @RISK.
    pub fn from_family(cell: &str, family: &Family, params: &[f64], name: Option<&str>) -> Self {
        let mut args: Vec<String> = params.iter().map(|p| format!("{p:?}")).collect();
        match family {
            Family::Discrete { values, weights } => {
                args = vec![write_list(values), write_list(weights)];
            }
            Family::Cumul { xs, ps: second }
            | Family::General {
                xs,
                densities: second,
            } => {
                args.push(write_list(xs));
                args.push(write_list(second));
            }
            Family::Histogram { probabilities } => args.push(write_list(probabilities)),
            _ => {}
        }
        if let Some(name) = name {
            args.push(format!("RiskName(\"{}\")", name.replace('"', "\"\"")));
        }
        InputChoice {
            cell: cell.to_string(),
            distribution: format!("{}({})", family.risk_name(), args.join(",")),
        }
    }
}

/// Reads a workbook file, refusing one larger than [`limits::MAX_WORKBOOK_BYTES`] before
/// reading it.
pub fn read_workbook_file(path: &Path) -> Result<Vec<u8>, FormulaError> {
    let io = |e: std::io::Error| FormulaError::Workbook(format!("{}: {e}", path.display()));
    let size = std::fs::metadata(path).map_err(io)?.len();
    if size > MAX_WORKBOOK_BYTES as u64 {
        return Err(FormulaError::Limit(format!(
            "the file is {size} bytes; the limit is {MAX_WORKBOOK_BYTES}"
        )));
    }
    std::fs::read(path).map_err(io)
}

/// Finds the cell at `text` (`Sheet1!B3`), creating an empty one when the sheet has
/// nothing there.
fn cell_at(grid: &mut WorkbookGrid, text: &str) -> Result<usize, FormulaError> {
    let (sheet, address) = parse_address(grid, text)?;
    if let Some(&cell) = grid.sheets[sheet].cells.get(&(address.row, address.col)) {
        return Ok(cell);
    }
    let index = grid.cells.len();
    grid.cells.push(model::Cell {
        location: CellLocation {
            sheet: Some(grid.sheets[sheet].name.clone()),
            cell: a1(address.row, address.col),
        },
        content: Content::Value(Value::Empty),
    });
    grid.sheet_of.push(sheet);
    let info = &mut grid.sheets[sheet];
    info.cells.insert((address.row, address.col), index);
    info.rows = info.rows.max(address.row + 1);
    info.cols = info.cols.max(address.col + 1);
    Ok(index)
}

/// Applies the caller's inputs; returns the caller's outputs as (cell, name).
fn apply_options(
    grid: &mut WorkbookGrid,
    options: &WorkbookOptions,
) -> Result<Vec<(usize, String)>, FormulaError> {
    for input in &options.inputs {
        let cell = cell_at(grid, &input.cell)?;
        let location = grid.cells[cell].location.clone();
        let expr = parse_formula(&input.distribution).map_err(|e| FormulaError::Parse {
            location: location.clone(),
            column: e.column,
            message: e.message,
        })?;
        let is_risk = matches!(&expr, crate::Expr::Call { name, .. }
            if name.len() > 4 && name[..4].eq_ignore_ascii_case("risk"));
        if !is_risk {
            return Err(FormulaError::InvalidModel(format!(
                "input {location}: {:?} is not a Risk distribution function",
                input.distribution
            )));
        }
        grid.cells[cell].content = Content::Formula(expr);
        grid.broken.remove(&cell);
    }
    let mut outputs = Vec::with_capacity(options.outputs.len());
    for output in &options.outputs {
        let cell = cell_at(grid, &output.cell)?;
        let name = output
            .name
            .clone()
            .unwrap_or_else(|| grid.cells[cell].location.to_string());
        outputs.push((cell, name));
    }
    Ok(outputs)
}

/// Compiles a workbook (the bytes of an `.xlsx`/`.xlsm` file) into a validated engine IR
/// model. Only the cells the outputs (and correlated inputs) depend on are lowered;
/// constant sub-graphs are folded at compile time.
pub fn compile_workbook(
    name: &str,
    bytes: &[u8],
    options: &WorkbookOptions,
) -> Result<Compiled, FormulaError> {
    let mut loaded = load(bytes)?;
    let outputs = apply_options(&mut loaded.grid, options)?;
    let mut compiled = model::compile_with(name, &loaded.grid, &[], &outputs)?;
    // The synthetic cells (empty, #REF!, #NAME?) are not the author's.
    compiled.cell_count = loaded.grid.cells.len().saturating_sub(3);
    Ok(compiled)
}

/// [`compile_workbook`] on a file; the model is named after the file.
pub fn compile_workbook_file(
    path: &Path,
    options: &WorkbookOptions,
) -> Result<Compiled, FormulaError> {
    let bytes = read_workbook_file(path)?;
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    compile_workbook(&name, &bytes, options)
}

/// Evaluates every formula cell of a workbook once, deterministically (Risk functions at
/// their `RiskStatic` value, else their mean). `cells` lists the worksheets' formula
/// cells only, in sheet and row order; cells whose formula does not parse show `#NAME?`
/// and are listed in `unsupported`.
pub fn evaluate_workbook(bytes: &[u8]) -> Result<Evaluation, FormulaError> {
    let loaded = load(bytes)?;
    let mut evaluation = evaluate::evaluate(&loaded.grid)?;
    let mut is_formula = vec![false; evaluation.cells.len()];
    for &cell in &loaded.formula_cells {
        is_formula[cell] = true;
    }
    let mut index = 0;
    evaluation.cells.retain(|_| {
        index += 1;
        is_formula[index - 1]
    });
    Ok(evaluation)
}

/// The values the workbook's last recalculation (Excel, LibreOffice) cached in its formula
/// cells, in the order of [`evaluate_workbook`]: what conformance tests compare with.
pub fn workbook_cached_values(bytes: &[u8]) -> Result<Vec<(CellLocation, Value)>, FormulaError> {
    let loaded = load(bytes)?;
    Ok(loaded
        .formula_cells
        .iter()
        .map(|&cell| {
            let value = loaded.cached.get(&cell).cloned().unwrap_or(Value::Empty);
            (loaded.grid.cells[cell].location.clone(), value)
        })
        .collect())
}
