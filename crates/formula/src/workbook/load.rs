//! Reads a workbook with calamine into a [`WorkbookGrid`]: cell values, formulas (shared
//! formulas arrive expanded), cached results and defined names.
//!
//! Cells are streamed (`worksheet_cells_reader`), never materialised as calamine's dense
//! `Range`, whose size is the bounding box: a sheet with cells in A1 and XFD1048576 would
//! allocate 17 billion slots. Macros (`vbaProject.bin` of an `.xlsm`) are never read.

use std::collections::HashMap;
use std::io::Cursor;

use calamine::{CellErrorType, DataRef, Reader, Xlsx};

use crate::ast::{CellAddress, Expr, column_letters};
use crate::error::{CellLocation, FormulaError};
use crate::model::{Cell, Content};
use crate::parser::parse_formula;
use crate::value::{ExcelError, Value};

use super::archive::{NameScope, inspect};
use super::grid::{NameTarget, SheetInfo, WorkbookGrid};
use super::limits::{MAX_DEFINED_NAMES, MAX_WORKBOOK_CELLS};

/// A workbook read into cells, with the values its last calculation cached.
pub(crate) struct Loaded {
    pub grid: WorkbookGrid,
    /// Formula cells of the worksheets (not names), in sheet and row order.
    pub formula_cells: Vec<usize>,
    /// The cached value of each formula cell, where the file has one.
    pub cached: HashMap<usize, Value>,
}

fn error_value(error: &CellErrorType) -> ExcelError {
    match error {
        CellErrorType::Div0 => ExcelError::Div0,
        CellErrorType::NA | CellErrorType::GettingData => ExcelError::NA,
        CellErrorType::Name => ExcelError::Name,
        CellErrorType::Null => ExcelError::Null,
        CellErrorType::Num => ExcelError::Num,
        CellErrorType::Ref => ExcelError::Ref,
        CellErrorType::Value => ExcelError::Value,
    }
}

fn value_of(data: &DataRef<'_>) -> Value {
    match data {
        DataRef::Int(i) => Value::Number(*i as f64),
        DataRef::Float(x) => Value::Number(*x),
        DataRef::String(s) => Value::Text(s.clone()),
        DataRef::SharedString(s) => Value::Text((*s).to_string()),
        DataRef::Bool(b) => Value::Bool(*b),
        // Dates are serial numbers in formulas.
        DataRef::DateTime(d) => Value::Number(d.as_f64()),
        DataRef::DateTimeIso(s) | DataRef::DurationIso(s) => Value::Text(s.clone()),
        DataRef::Error(e) => Value::Error(error_value(e)),
        DataRef::Empty => Value::Empty,
    }
}

/// `B3` for 0-based (row, column).
pub(crate) fn a1(row: u32, col: u32) -> String {
    format!("{}{}", column_letters(col), row + 1)
}

struct Builder {
    cells: Vec<Cell>,
    sheet_of: Vec<usize>,
    broken: HashMap<usize, FormulaError>,
}

impl Builder {
    fn push(&mut self, location: CellLocation, sheet: usize, formula: Option<&str>, value: Value) {
        let index = self.cells.len();
        let content = match formula {
            None => Content::Value(value),
            Some(text) => match parse_formula(text) {
                Ok(expr) => Content::Formula(expr),
                Err(e) => {
                    self.broken.insert(
                        index,
                        FormulaError::Parse {
                            location: location.clone(),
                            column: e.column,
                            message: e.message,
                        },
                    );
                    Content::Value(Value::Error(ExcelError::Name))
                }
            },
        };
        self.cells.push(Cell { location, content });
        self.sheet_of.push(sheet);
    }
}

fn read_error(e: impl std::fmt::Display) -> FormulaError {
    FormulaError::Workbook(e.to_string())
}

/// Reads the worksheets and defined names of an `.xlsx`/`.xlsm` file.
pub(crate) fn load(bytes: &[u8]) -> Result<Loaded, FormulaError> {
    let scopes = inspect(bytes)?;
    let mut workbook: Xlsx<_> = Xlsx::new(Cursor::new(bytes)).map_err(read_error)?;
    let sheet_names = workbook.sheet_names();
    let mut builder = Builder {
        cells: Vec::new(),
        sheet_of: Vec::new(),
        broken: HashMap::new(),
    };
    let mut sheets = Vec::with_capacity(sheet_names.len());
    let mut formula_cells = Vec::new();
    let mut cached = HashMap::new();
    for (sheet_index, name) in sheet_names.iter().enumerate() {
        let mut info = SheetInfo {
            name: name.clone(),
            ..SheetInfo::default()
        };
        // Chart sheets and dialogs have no cells.
        let Ok(mut reader) = workbook.worksheet_cells_reader(name) else {
            sheets.push(info);
            continue;
        };
        let mut records = Vec::new();
        while let Some(record) = reader.next_cell_with_formula().map_err(read_error)? {
            let formula = record.formula.filter(|f| !f.trim().is_empty());
            if formula.is_none() && record.value == DataRef::Empty {
                continue;
            }
            if builder.cells.len() + records.len() >= MAX_WORKBOOK_CELLS {
                return Err(FormulaError::Limit(format!(
                    "more than {MAX_WORKBOOK_CELLS} non-empty cells"
                )));
            }
            records.push((record.pos, formula, value_of(&record.value)));
        }
        // Row-major order, so evaluation order (and input order) follows the layout.
        records.sort_by_key(|(pos, _, _)| *pos);
        records.dedup_by_key(|(pos, _, _)| *pos);
        for ((row, col), formula, value) in records {
            let index = builder.cells.len();
            info.cells.insert((row, col), index);
            info.rows = info.rows.max(row + 1);
            info.cols = info.cols.max(col + 1);
            let location = CellLocation {
                sheet: Some(name.clone()),
                cell: a1(row, col),
            };
            if formula.is_some() {
                formula_cells.push(index);
                if value != Value::Empty {
                    cached.insert(index, value.clone());
                }
            }
            builder.push(location, sheet_index, formula.as_deref(), value);
        }
        sheets.push(info);
    }
    let names = defined_names(workbook.defined_names(), &scopes, &sheets, &mut builder)?;
    let fixed = |builder: &mut Builder, cell: &str, value: Value| {
        builder.push(CellLocation::named(cell), 0, None, value);
        builder.cells.len() - 1
    };
    let empty = fixed(&mut builder, "(empty)", Value::Empty);
    let bad_ref = fixed(&mut builder, "(#REF!)", Value::Error(ExcelError::Ref));
    let bad_name = fixed(&mut builder, "(#NAME?)", Value::Error(ExcelError::Name));
    Ok(Loaded {
        grid: WorkbookGrid {
            cells: builder.cells,
            sheet_of: builder.sheet_of,
            sheets,
            names,
            empty,
            bad_ref,
            bad_name,
            broken: builder.broken,
            referenced: Default::default(),
        },
        formula_cells,
        cached,
    })
}

/// Defined names: a plain reference resolves like the reference; anything else
/// (a constant, a formula) becomes a cell named after the name. Built-in names
/// (`_xlnm.Print_Area`, ...) are skipped.
fn defined_names(
    raw: &[(String, String)],
    scopes: &[NameScope],
    sheets: &[SheetInfo],
    builder: &mut Builder,
) -> Result<HashMap<(Option<usize>, String), NameTarget>, FormulaError> {
    if raw.len() > MAX_DEFINED_NAMES {
        return Err(FormulaError::Limit(format!(
            "{} defined names; the limit is {MAX_DEFINED_NAMES}",
            raw.len()
        )));
    }
    let mut names = HashMap::new();
    for (position, (name, text)) in raw.iter().enumerate() {
        if name.starts_with("_xlnm.") || name.starts_with("_xlfn.") {
            continue;
        }
        // calamine lists names in document order, as the scan does.
        let scope = scopes
            .get(position)
            .filter(|s| s.name == *name)
            .and_then(|s| s.sheet)
            .filter(|&s| s < sheets.len());
        let key = (scope, name.to_lowercase());
        let target = match parse_formula(text) {
            Ok(Expr::Ref { reference, .. })
                if !matches!(reference.target, crate::ast::Target::Name(_)) =>
            {
                NameTarget::Reference(reference)
            }
            _ => {
                let location = CellLocation {
                    sheet: scope.map(|s| sheets[s].name.clone()),
                    cell: name.clone(),
                };
                builder.push(location, scope.unwrap_or(0), Some(text), Value::Empty);
                NameTarget::Cell(builder.cells.len() - 1)
            }
        };
        names.insert(key, target);
    }
    Ok(names)
}

/// Parses `Sheet1!B3` (or `B3`, on the first sheet) into a sheet index and a cell.
pub(crate) fn parse_address(
    grid: &WorkbookGrid,
    text: &str,
) -> Result<(usize, CellAddress), FormulaError> {
    let fail = |message: &str| FormulaError::InvalidModel(format!("cell {text:?}: {message}"));
    match parse_formula(text) {
        Ok(Expr::Ref { reference, .. }) => {
            let sheet = match &reference.sheet {
                None => 0,
                Some(name) => grid
                    .sheet_index(name)
                    .ok_or_else(|| fail("no such sheet"))?,
            };
            match reference.target {
                crate::ast::Target::Cell(address) if sheet < grid.sheets.len() => {
                    Ok((sheet, address))
                }
                _ => Err(fail("expected a cell address like Sheet1!B3")),
            }
        }
        _ => Err(fail("expected a cell address like Sheet1!B3")),
    }
}
