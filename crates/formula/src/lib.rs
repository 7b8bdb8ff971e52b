//! The Excel formula language: parse formulas, resolve cells into one dependency graph and
//! lower it to the engine IR. Reads JSON models (named cells) and workbooks (`.xlsx`, `.xlsm`).
//!
//! - [`compile_json_model`]: a JSON model to a validated [`ultra_engine::ir::Model`] with
//!   the names reports need ([`Compiled`]).
//! - [`evaluate_json_model`]: every cell once, deterministically ([`Evaluation`]).
//! - [`compile_workbook`], [`evaluate_workbook`]: the same for workbooks ([`workbook`]).
//! - [`parse_formula`]: one formula to its syntax tree ([`Expr`]).
//!
//! The evaluator and the compiler share one function library (`functions`): a call with
//! constant arguments is computed (that is the evaluator, and constant folding), a call
//! with random arguments is lowered to IR nodes, with the same formulas.

mod address;
pub mod ast;
mod builder;
mod corrmat;
pub mod error;
mod evaluate;
mod functions;
mod graph;
mod json;
mod lexer;
mod lower;
mod model;
pub mod parser;
mod risk;
pub mod value;
pub mod workbook;

pub use ast::Expr;
pub use error::{CellLocation, FormulaError, UnsupportedCall};
pub use evaluate::Evaluation;
pub use json::{MAX_CELLS, compile_json_model, evaluate_json_model};
pub use model::{Compiled, InputInfo, OutputInfo};
pub use parser::{MAX_EXPRESSION_DEPTH, MAX_FORMULA_BYTES, MAX_NESTING, ParseError, parse_formula};
pub use value::{ExcelError, Value};
pub use workbook::{
    InputChoice, OutputChoice, WorkbookOptions, compile_workbook, compile_workbook_file,
    evaluate_workbook, read_workbook_file, workbook_cached_values,
};
