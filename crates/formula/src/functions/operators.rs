//! Excel's operators on lowered operands.

use std::cmp::Ordering;

use ultra_engine::ir::Func;

use super::{CallError, CallResult, Item, Lowered, to_num};
use crate::ast::{BinaryOp, UnaryOp};
use crate::builder::{Builder, Num};
use crate::value::{ExcelError, Value};

pub fn unary(b: &mut Builder, op: UnaryOp, operand: &Lowered) -> CallResult {
    let num = match to_num(&operand.scalar()) {
        Ok(num) => num,
        Err(error) => return Ok(Lowered::error(error)),
    };
    Ok(Lowered::num(match op {
        UnaryOp::Neg => b.neg(num),
        UnaryOp::Plus => num,
        UnaryOp::Percent => b.div(num, Num::Const(100.0)),
    }))
}

pub fn binary(b: &mut Builder, op: BinaryOp, lhs: &Lowered, rhs: &Lowered) -> CallResult {
    let (left, right) = (lhs.scalar(), rhs.scalar());
    match op {
        BinaryOp::Concat => concat(&left, &right),
        BinaryOp::Eq | BinaryOp::Ne | BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge => {
            compare(b, op, &left, &right)
        }
        _ => {
            let (x, y) = match (to_num(&left), to_num(&right)) {
                (Err(error), _) | (_, Err(error)) => return Ok(Lowered::error(error)),
                (Ok(x), Ok(y)) => (x, y),
            };
            if op == BinaryOp::Div && y == Num::Const(0.0) {
                return Ok(Lowered::error(ExcelError::Div0));
            }
            let func = match op {
                BinaryOp::Add => Func::Add,
                BinaryOp::Sub => Func::Sub,
                BinaryOp::Mul => Func::Mul,
                BinaryOp::Div => Func::Div,
                _ => Func::Pow,
            };
            if func == Func::Pow && x == Num::Const(0.0) && y == Num::Const(0.0) {
                return Ok(Lowered::error(ExcelError::Num));
            }
            if func == Func::Pow
                && let (Num::Const(base), Num::Const(exponent)) = (x, y)
                && base == 0.0
                && exponent < 0.0
            {
                return Ok(Lowered::error(ExcelError::Div0));
            }
            Ok(Lowered::num(b.call(func, &[x, y])))
        }
    }
}

fn concat(left: &Item, right: &Item) -> CallResult {
    match (left, right) {
        (Item::Value(l), Item::Value(r)) => Ok(Lowered::value(match (l.to_text(), r.to_text()) {
            (Err(error), _) | (_, Err(error)) => Value::Error(error),
            (Ok(l), Ok(r)) => Value::Text(l + &r),
        })),
        _ => Err(CallError::Unsupported(
            "text concatenation (&) of a random value has no numeric result".into(),
        )),
    }
}

/// Excel's ordering of types in comparisons: numbers < text < booleans.
fn type_rank(value: &Value) -> u8 {
    match value {
        Value::Number(_) | Value::Empty => 0,
        Value::Text(_) => 1,
        Value::Bool(_) => 2,
        Value::Error(_) => 3,
    }
}

/// Compares two constants as Excel does (text case-insensitively; an empty cell reads as
/// 0, "" or FALSE to match the other side).
pub fn compare_values(left: &Value, right: &Value) -> Result<Ordering, ExcelError> {
    let blank_as = |blank: &Value, other: &Value| match (blank, other) {
        (Value::Empty, Value::Text(_)) => Value::Text(String::new()),
        (Value::Empty, Value::Bool(_)) => Value::Bool(false),
        (Value::Empty, _) => Value::Number(0.0),
        (value, _) => value.clone(),
    };
    let (l, r) = (blank_as(left, right), blank_as(right, left));
    match (&l, &r) {
        (Value::Error(e), _) | (_, Value::Error(e)) => Err(*e),
        (Value::Number(x), Value::Number(y)) => Ok(x.partial_cmp(y).unwrap_or(Ordering::Equal)),
        (Value::Text(x), Value::Text(y)) => Ok(x.to_lowercase().cmp(&y.to_lowercase())),
        (Value::Bool(x), Value::Bool(y)) => Ok(x.cmp(y)),
        _ => Ok(type_rank(&l).cmp(&type_rank(&r))),
    }
}

fn holds(op: BinaryOp, ordering: Ordering) -> bool {
    match op {
        BinaryOp::Eq => ordering == Ordering::Equal,
        BinaryOp::Ne => ordering != Ordering::Equal,
        BinaryOp::Lt => ordering == Ordering::Less,
        BinaryOp::Le => ordering != Ordering::Greater,
        BinaryOp::Gt => ordering == Ordering::Greater,
        _ => ordering != Ordering::Less,
    }
}

fn compare(b: &mut Builder, op: BinaryOp, left: &Item, right: &Item) -> CallResult {
    let as_number = |item: &Item| match item {
        Item::Node(id) => Some(Num::Node(*id)),
        Item::Value(Value::Number(x)) => Some(Num::Const(*x)),
        Item::Value(Value::Empty) => Some(Num::Const(0.0)),
        Item::Value(_) => None,
    };
    match (left, right) {
        (Item::Value(l), Item::Value(r)) => Ok(Lowered::value(match compare_values(l, r) {
            Ok(ordering) => Value::Bool(holds(op, ordering)),
            Err(error) => Value::Error(error),
        })),
        (Item::Value(Value::Error(e)), _) | (_, Item::Value(Value::Error(e))) => {
            Ok(Lowered::error(*e))
        }
        _ => match (as_number(left), as_number(right)) {
            (Some(x), Some(y)) => {
                let func = match op {
                    BinaryOp::Eq => Func::Eq,
                    BinaryOp::Ne => Func::Ne,
                    BinaryOp::Lt => Func::Lt,
                    BinaryOp::Le => Func::Le,
                    BinaryOp::Gt => Func::Gt,
                    _ => Func::Ge,
                };
                Ok(Lowered::num(b.call(func, &[x, y])))
            }
            // A random number against text or a boolean: decided by the type order alone.
            _ => {
                let rank = |item: &Item| match item {
                    Item::Node(_) => 0,
                    Item::Value(value) => type_rank(value),
                };
                Ok(Lowered::value(Value::Bool(holds(
                    op,
                    rank(left).cmp(&rank(right)),
                ))))
            }
        },
    }
}
