//! Errors of the formula compiler. Each names the cell (and sheet, for workbooks) at
//! fault, and where it applies the column in the formula and the function.

use std::fmt;

use ultra_engine::ir::ModelError;

/// A cell: `Sheet!A1` in workbooks, a cell name in JSON models.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CellLocation {
    pub sheet: Option<String>,
    pub cell: String,
}

impl CellLocation {
    pub fn named(cell: impl Into<String>) -> Self {
        CellLocation {
            sheet: None,
            cell: cell.into(),
        }
    }
}

impl fmt::Display for CellLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.sheet {
            Some(sheet) => write!(f, "{sheet}!{}", self.cell),
            None => f.write_str(&self.cell),
        }
    }
}

/// One call the compiler cannot lower, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsupportedCall {
    pub location: CellLocation,
    pub function: String,
    pub column: usize,
    pub reason: String,
}

impl fmt::Display for UnsupportedCall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (column {}): {}: {}",
            self.location, self.column, self.function, self.reason
        )
    }
}

fn list<T: fmt::Display>(items: &[T], separator: &str) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(separator)
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FormulaError {
    #[error("the model is not valid JSON: {0}")]
    Json(String),
    #[error("invalid model: {0}")]
    InvalidModel(String),
    #[error("{location}: column {column}: {message}")]
    Parse {
        location: CellLocation,
        column: usize,
        message: String,
    },
    #[error("{location}: column {column}: unknown name `{name}`")]
    UnknownName {
        location: CellLocation,
        column: usize,
        name: String,
    },
    #[error("{location}: column {column}: reference {reference}: {message}")]
    Reference {
        location: CellLocation,
        column: usize,
        reference: String,
        message: String,
    },
    #[error("circular reference: {}", list(cells, " -> "))]
    Cycle { cells: Vec<CellLocation> },
    #[error("{location}: column {column}: {function}: {message}")]
    Function {
        location: CellLocation,
        column: usize,
        function: String,
        message: String,
    },
    /// Every call that could not be lowered, across the whole model, in one error.
    #[error("{} unsupported function call(s):\n  {}", calls.len(), list(calls, "\n  "))]
    Unsupported { calls: Vec<UnsupportedCall> },
    #[error("{location}: {message}")]
    Output {
        location: CellLocation,
        message: String,
    },
    #[error("two outputs are named {name:?}: {first} and {second}")]
    DuplicateOutput {
        name: String,
        first: CellLocation,
        second: CellLocation,
    },
    #[error("the model has no outputs: mark a cell with RiskOutput()")]
    NoOutputs,
    #[error("correlation {a} / {b}: {message}")]
    Correlation {
        a: String,
        b: String,
        message: String,
    },
    /// The file is not a workbook calamine can read (not a zip, no workbook part, bad XML).
    #[error("cannot read the workbook: {0}")]
    Workbook(String),
    /// A limit against hostile input was exceeded (see `workbook::limits`).
    #[error("the workbook exceeds a limit: {0}")]
    Limit(String),
    #[error("the compiled model is not valid: {0}")]
    Model(#[from] ModelError),
}
