//! The syntax tree of one formula, and its printing back to formula text.
//!
//! Printing inserts only the parentheses that precedence needs, so that
//! `parse(print(e)) == e` holds (the round-trip test relies on it).

use std::fmt;

use crate::value::ExcelError;

/// One formula expression. `column` fields are 1-based character offsets into the formula
/// text, reported in errors.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Number(f64),
    Text(String),
    Bool(bool),
    Error(ExcelError),
    /// An omitted argument: `IF(c,,1)`, `RiskTruncate(0,)`.
    Missing,
    /// `{1,2;3,4}`: rows of constants.
    Array(Vec<Vec<Expr>>),
    Ref {
        reference: Reference,
        column: usize,
    },
    Unary {
        op: UnaryOp,
        operand: Box<Expr>,
    },
    Binary {
        op: BinaryOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
    /// A function call; `name` as written, without Excel's `_xlfn.` prefix.
    Call {
        name: String,
        args: Vec<Expr>,
        column: usize,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnaryOp {
    Neg,
    Plus,
    /// Postfix `%`.
    Percent,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    Pow,
    Mul,
    Div,
    Add,
    Sub,
    Concat,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl BinaryOp {
    /// Left binding power: higher binds tighter. Every binary operator is left-associative
    /// in Excel, `^` included (`2^3^2` is 64).
    pub fn precedence(self) -> u8 {
        match self {
            BinaryOp::Eq
            | BinaryOp::Ne
            | BinaryOp::Lt
            | BinaryOp::Le
            | BinaryOp::Gt
            | BinaryOp::Ge => 1,
            BinaryOp::Concat => 2,
            BinaryOp::Add | BinaryOp::Sub => 3,
            BinaryOp::Mul | BinaryOp::Div => 4,
            BinaryOp::Pow => 5,
        }
    }

    pub fn symbol(self) -> &'static str {
        match self {
            BinaryOp::Pow => "^",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Concat => "&",
            BinaryOp::Eq => "=",
            BinaryOp::Ne => "<>",
            BinaryOp::Lt => "<",
            BinaryOp::Le => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::Ge => ">=",
        }
    }
}

/// Binding power of postfix `%` and of prefix `-`/`+`: above every binary operator, with
/// prefix operators above `%` (Excel: `-2^2` is 4).
pub const PERCENT_PRECEDENCE: u8 = 6;
pub const PREFIX_PRECEDENCE: u8 = 7;

/// A reference, optionally qualified by a sheet.
#[derive(Debug, Clone, PartialEq)]
pub struct Reference {
    pub sheet: Option<String>,
    pub target: Target,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    Cell(CellAddress),
    Range(CellAddress, CellAddress),
    /// `A:C` (0-based column indices and absolute flags).
    Columns((u32, bool), (u32, bool)),
    /// `3:5` (0-based row indices and absolute flags).
    Rows((u32, bool), (u32, bool)),
    /// A defined name or, in JSON models, a cell name.
    Name(String),
}

/// An A1 cell address, 0-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CellAddress {
    pub col: u32,
    pub row: u32,
    pub col_absolute: bool,
    pub row_absolute: bool,
}

impl CellAddress {
    /// The address as a name would read it (`cf1` parses as cell CF1; a JSON model with a
    /// cell named `cf1` reads it as that name). `None` when `$` makes it a pure address.
    pub fn as_name(&self) -> Option<String> {
        if self.col_absolute || self.row_absolute {
            None
        } else {
            Some(format!("{}{}", column_letters(self.col), self.row + 1))
        }
    }
}

/// `0 -> A`, `25 -> Z`, `26 -> AA`.
pub fn column_letters(mut col: u32) -> String {
    let mut letters = Vec::new();
    loop {
        letters.push((b'A' + (col % 26) as u8) as char);
        if col < 26 {
            break;
        }
        col = col / 26 - 1;
    }
    letters.iter().rev().collect()
}

impl fmt::Display for CellAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let col_dollar = if self.col_absolute { "$" } else { "" };
        let row_dollar = if self.row_absolute { "$" } else { "" };
        write!(
            f,
            "{col_dollar}{}{row_dollar}{}",
            column_letters(self.col),
            self.row + 1
        )
    }
}

/// Writes a sheet name, quoted when it is not a plain identifier.
pub fn write_sheet(f: &mut fmt::Formatter<'_>, sheet: &str) -> fmt::Result {
    let plain = sheet
        .chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_')
        && sheet
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '.');
    if plain {
        write!(f, "{sheet}!")
    } else {
        write!(f, "'{}'!", sheet.replace('\'', "''"))
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(sheet) = &self.sheet {
            write_sheet(f, sheet)?;
        }
        let dollar = |absolute: bool| if absolute { "$" } else { "" };
        match &self.target {
            Target::Cell(cell) => write!(f, "{cell}"),
            Target::Range(from, to) => write!(f, "{from}:{to}"),
            Target::Columns(from, to) => write!(
                f,
                "{}{}:{}{}",
                dollar(from.1),
                column_letters(from.0),
                dollar(to.1),
                column_letters(to.0)
            ),
            Target::Rows(from, to) => {
                write!(
                    f,
                    "{}{}:{}{}",
                    dollar(from.1),
                    from.0 + 1,
                    dollar(to.1),
                    to.0 + 1
                )
            }
            Target::Name(name) => f.write_str(name),
        }
    }
}

fn write_number(f: &mut fmt::Formatter<'_>, x: f64) -> fmt::Result {
    // `{:?}` prints the shortest text that reads back as the same f64.
    let text = format!("{x:?}");
    f.write_str(text.strip_suffix(".0").unwrap_or(&text))
}

impl Expr {
    /// The binding power of this expression's top operator (atoms bind tightest).
    fn precedence(&self) -> u8 {
        match self {
            Expr::Binary { op, .. } => op.precedence(),
            Expr::Unary {
                op: UnaryOp::Percent,
                ..
            } => PERCENT_PRECEDENCE,
            Expr::Unary { .. } => PREFIX_PRECEDENCE,
            // Negative literals print with a sign and bind like a prefix minus.
            Expr::Number(x) if x.is_sign_negative() => PREFIX_PRECEDENCE,
            _ => u8::MAX,
        }
    }

    fn write_operand(&self, f: &mut fmt::Formatter<'_>, min: u8) -> fmt::Result {
        if self.precedence() < min {
            write!(f, "({self})")
        } else {
            write!(f, "{self}")
        }
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Number(x) => write_number(f, *x),
            Expr::Text(text) => write!(f, "\"{}\"", text.replace('"', "\"\"")),
            Expr::Bool(b) => f.write_str(if *b { "TRUE" } else { "FALSE" }),
            Expr::Error(e) => f.write_str(e.as_str()),
            Expr::Missing => Ok(()),
            Expr::Array(rows) => {
                f.write_str("{")?;
                for (r, row) in rows.iter().enumerate() {
                    if r > 0 {
                        f.write_str(";")?;
                    }
                    for (c, item) in row.iter().enumerate() {
                        if c > 0 {
                            f.write_str(",")?;
                        }
                        write!(f, "{item}")?;
                    }
                }
                f.write_str("}")
            }
            Expr::Ref { reference, .. } => write!(f, "{reference}"),
            Expr::Unary {
                op: UnaryOp::Percent,
                operand,
            } => {
                operand.write_operand(f, PERCENT_PRECEDENCE)?;
                f.write_str("%")
            }
            Expr::Unary { op, operand } => {
                f.write_str(if *op == UnaryOp::Neg { "-" } else { "+" })?;
                operand.write_operand(f, PREFIX_PRECEDENCE)
            }
            Expr::Binary { op, lhs, rhs } => {
                let precedence = op.precedence();
                lhs.write_operand(f, precedence)?;
                f.write_str(op.symbol())?;
                // Left-associative: an equal-precedence right operand needs parentheses.
                rhs.write_operand(f, precedence + 1)
            }
            Expr::Call { name, args, .. } => {
                write!(f, "{name}(")?;
                for (i, arg) in args.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{arg}")?;
                }
                f.write_str(")")
            }
        }
    }
}
