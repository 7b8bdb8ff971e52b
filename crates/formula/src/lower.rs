//! Walks one formula's tree and lowers it through the function library.
//!
//! The same walk serves the compiler ([`Mode::Simulate`]: Risk functions become IR inputs)
//! and the evaluator ([`Mode::Evaluate`]: Risk functions take their static value), so a
//! formula means the same in both. Chains of binary operators are walked iteratively along
//! their left spine; every other recursion is bounded by the parser's nesting limit.

use ultra_engine::ir::NodeId;

use crate::ast::{Expr, Reference};
use crate::builder::Builder;
use crate::error::{CellLocation, FormulaError, UnsupportedCall};
use crate::functions::{self, CallError, Item, Lowered};
use crate::risk;
use crate::value::{ExcelError, Grid, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Risk functions become random inputs of the IR.
    Simulate,
    /// Risk functions take their `RiskStatic` value, else their mean.
    Evaluate,
}

/// An input created while lowering a cell.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct NewInput {
    pub node: NodeId,
    /// `RiskName("...")`, when given.
    pub name: Option<String>,
    /// The distribution call as written, e.g. `RiskTriang(80,100,130)`.
    pub distribution: String,
    /// Its place in a `RiskCorrmat` matrix, when given.
    pub corrmat: Option<crate::corrmat::CorrmatRef>,
}

pub(crate) type Resolve<'a> = &'a dyn Fn(&Reference, usize) -> Result<Lowered, FormulaError>;

pub(crate) struct Lowerer<'a> {
    pub builder: &'a mut Builder,
    pub mode: Mode,
    pub location: &'a CellLocation,
    pub resolve: Resolve<'a>,
    pub unsupported: &'a mut Vec<UnsupportedCall>,
    pub inputs: Vec<NewInput>,
}

impl Lowerer<'_> {
    pub fn lower(&mut self, expr: &Expr) -> Result<Lowered, FormulaError> {
        Ok(match expr {
            Expr::Number(x) => Lowered::value(Value::Number(*x)),
            Expr::Text(text) => Lowered::value(Value::Text(text.clone())),
            Expr::Bool(b) => Lowered::value(Value::Bool(*b)),
            Expr::Error(e) => Lowered::error(*e),
            Expr::Missing => Lowered::value(Value::Empty),
            Expr::Array(rows) => self.array(rows),
            Expr::Ref { reference, column } => (self.resolve)(reference, *column)?,
            Expr::Unary { op, operand } => {
                let operand = self.lower(operand)?;
                let result = functions::unary(self.builder, *op, &operand);
                self.operator(result, "operator", 0)
            }
            Expr::Binary { .. } => self.binary_chain(expr)?,
            Expr::Call { name, args, column } => self.call(name, args, *column)?,
        })
    }

    /// `a + b - c * d ...`: the left spine iteratively, so long chains use no stack.
    fn binary_chain(&mut self, expr: &Expr) -> Result<Lowered, FormulaError> {
        let mut spine = Vec::new();
        let mut current = expr;
        while let Expr::Binary { op, lhs, rhs } = current {
            spine.push((*op, rhs.as_ref()));
            current = lhs;
        }
        let mut accumulated = self.lower(current)?;
        for (op, rhs) in spine.into_iter().rev() {
            let rhs = self.lower(rhs)?;
            let result = functions::binary(self.builder, op, &accumulated, &rhs);
            accumulated = self.operator(result, op.symbol(), 0);
        }
        Ok(accumulated)
    }

    fn array(&mut self, rows: &[Vec<Expr>]) -> Lowered {
        let cols = rows.first().map_or(0, Vec::len);
        let items = rows
            .iter()
            .flatten()
            .map(|item| match item {
                Expr::Number(x) => Item::Value(Value::Number(*x)),
                Expr::Text(text) => Item::Value(Value::Text(text.clone())),
                Expr::Bool(b) => Item::Value(Value::Bool(*b)),
                Expr::Error(e) => Item::Value(Value::Error(*e)),
                _ => Item::Value(Value::Error(ExcelError::Value)),
            })
            .collect();
        Lowered::Grid(Grid {
            rows: rows.len(),
            cols,
            items,
        })
    }

    /// An operator result: an unsupported operand combination is recorded, and the
    /// formula goes on with an error value so that every problem is found in one pass.
    fn operator(&mut self, result: functions::CallResult, symbol: &str, column: usize) -> Lowered {
        match result {
            Ok(lowered) => lowered,
            Err(error) => {
                self.record(symbol, column, describe(error));
                Lowered::error(ExcelError::Value)
            }
        }
    }

    pub(crate) fn record(&mut self, function: &str, column: usize, reason: String) {
        self.unsupported.push(UnsupportedCall {
            location: self.location.clone(),
            function: function.to_string(),
            column,
            reason,
        });
    }

    pub(crate) fn function_error(
        &self,
        function: &str,
        column: usize,
        message: String,
    ) -> FormulaError {
        FormulaError::Function {
            location: self.location.clone(),
            column,
            function: function.to_string(),
            message,
        }
    }

    fn call(&mut self, name: &str, args: &[Expr], column: usize) -> Result<Lowered, FormulaError> {
        let upper = name.to_ascii_uppercase();
        if upper.starts_with("RISK") {
            return risk::lower_risk_call(self, name, &upper, args, column);
        }
        let mut lowered = Vec::with_capacity(args.len());
        for arg in args {
            lowered.push(self.lower(arg)?);
        }
        match functions::call(self.builder, &upper, &lowered) {
            Ok(result) => Ok(result),
            Err(CallError::Arity { expected, got }) => Err(self.function_error(
                name,
                column,
                format!("takes {expected} argument(s), got {got}"),
            )),
            Err(CallError::Unknown) => {
                let reason = functions::unsupported_reason(&upper).unwrap_or("unknown function");
                self.record(name, column, reason.to_string());
                let error = if reason == "unknown function" {
                    ExcelError::Name
                } else {
                    ExcelError::Value
                };
                Ok(Lowered::error(error))
            }
            Err(CallError::Unsupported(reason)) => {
                self.record(name, column, reason);
                Ok(Lowered::error(ExcelError::Value))
            }
        }
    }
}

fn describe(error: CallError) -> String {
    match error {
        CallError::Unsupported(reason) => reason,
        CallError::Unknown => "unknown".into(),
        CallError::Arity { expected, got } => format!("takes {expected} operand(s), got {got}"),
    }
}
