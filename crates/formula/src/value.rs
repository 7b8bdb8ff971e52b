//! Excel values: what a cell holds after evaluation, and what constant folding computes.
//!
//! The evaluator and the lowering share these types so that a formula folded at compile
//! time gives exactly what `ultra eval` shows for it.

use std::fmt;

/// Excel's error values. In the IR every error is NaN; here they keep their kind so that
/// the evaluator can show `#DIV/0!` where Excel does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExcelError {
    Div0,
    NA,
    Value,
    Ref,
    Name,
    Num,
    Null,
}

impl ExcelError {
    pub const ALL: [ExcelError; 7] = [
        ExcelError::Div0,
        ExcelError::NA,
        ExcelError::Value,
        ExcelError::Ref,
        ExcelError::Name,
        ExcelError::Num,
        ExcelError::Null,
    ];

    /// The literal as Excel writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            ExcelError::Div0 => "#DIV/0!",
            ExcelError::NA => "#N/A",
            ExcelError::Value => "#VALUE!",
            ExcelError::Ref => "#REF!",
            ExcelError::Name => "#NAME?",
            ExcelError::Num => "#NUM!",
            ExcelError::Null => "#NULL!",
        }
    }
}

impl fmt::Display for ExcelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A scalar Excel value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Number(f64),
    Text(String),
    Bool(bool),
    Error(ExcelError),
    /// An empty cell or a missing argument (`IF(c,,1)`): 0, "" or FALSE as the context needs.
    Empty,
}

impl Value {
    /// A number result; non-finite numbers (overflow, invalid operations) are `#NUM!`, as
    /// Excel never shows infinities or NaN.
    pub fn number(x: f64) -> Value {
        if x.is_finite() {
            Value::Number(x)
        } else {
            Value::Error(ExcelError::Num)
        }
    }

    /// Coerces for arithmetic: booleans are 0/1, numeric text is its number, empty is 0.
    pub fn to_number(&self) -> Result<f64, ExcelError> {
        match self {
            Value::Number(x) => Ok(*x),
            Value::Bool(b) => Ok(if *b { 1.0 } else { 0.0 }),
            Value::Empty => Ok(0.0),
            Value::Error(e) => Err(*e),
            Value::Text(text) => parse_number_text(text).ok_or(ExcelError::Value),
        }
    }

    /// Coerces for `&` and text functions.
    pub fn to_text(&self) -> Result<String, ExcelError> {
        match self {
            Value::Number(x) => Ok(format_number(*x)),
            Value::Text(text) => Ok(text.clone()),
            Value::Bool(b) => Ok(if *b { "TRUE" } else { "FALSE" }.to_string()),
            Value::Empty => Ok(String::new()),
            Value::Error(e) => Err(*e),
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Number(x) => f.write_str(&format_number(*x)),
            Value::Text(text) => f.write_str(text),
            Value::Bool(b) => f.write_str(if *b { "TRUE" } else { "FALSE" }),
            Value::Error(e) => e.fmt(f),
            Value::Empty => Ok(()),
        }
    }
}

/// Excel's general format, close enough for text conversion: integers without a decimal
/// point, other numbers with up to 15 significant digits.
pub fn format_number(x: f64) -> String {
    if x == x.trunc() && x.abs() < 1e15 {
        return format!("{x:.0}");
    }
    let text = format!("{x:.15}");
    let precise: f64 = format!("{x:.14e}").parse().unwrap_or(x);
    let shortest = format!("{precise}");
    if shortest.len() < text.len() {
        shortest
    } else {
        text
    }
}

/// Text that Excel would read as a number in arithmetic (`"3" + 1` is 4).
pub fn parse_number_text(text: &str) -> Option<f64> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return None;
    }
    let (body, scale) = match trimmed.strip_suffix('%') {
        Some(body) => (body.trim_end(), 0.01),
        None => (trimmed, 1.0),
    };
    let ok = body
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-'));
    if !ok {
        return None;
    }
    body.parse::<f64>()
        .ok()
        .filter(|x| x.is_finite())
        .map(|x| x * scale)
}

/// A rectangular block of values (array constants, later ranges), row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Grid<T> {
    pub rows: usize,
    pub cols: usize,
    pub items: Vec<T>,
}

impl<T> Grid<T> {
    pub fn get(&self, row: usize, col: usize) -> Option<&T> {
        if row < self.rows && col < self.cols {
            self.items.get(row * self.cols + col)
        } else {
            None
        }
    }

    /// Row `row` (0-based) as a vector of references.
    pub fn row(&self, row: usize) -> Vec<&T> {
        (0..self.cols)
            .filter_map(|col| self.get(row, col))
            .collect()
    }

    pub fn column(&self, col: usize) -> Vec<&T> {
        (0..self.rows)
            .filter_map(|row| self.get(row, col))
            .collect()
    }

    /// A one-row or one-column grid as a vector; `None` for a 2-D block.
    pub fn vector(&self) -> Option<Vec<&T>> {
        if self.rows == 1 || self.cols == 1 {
            Some(self.items.iter().collect())
        } else {
            None
        }
    }
}
