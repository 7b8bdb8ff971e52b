//! The function library: every Excel function and operator the compiler knows, written
//! once over [`Lowered`] operands.
//!
//! An operand is a constant [`Value`] or an IR node. With constant operands a function
//! computes its Excel result (the evaluator, and constant folding in the compiler); with a
//! node among them it emits IR through the [`Builder`], or says why it cannot
//! ([`CallError::Unsupported`]).

mod aggregate;
mod conditional;
mod finance;
mod lookup;
mod math;
mod operators;
mod solve;

pub use operators::{binary, unary};

use ultra_engine::ir::NodeId;

use crate::builder::{Builder, Num};
use crate::value::{ExcelError, Grid, Value};

/// One scalar operand: a constant or a node (always a number).
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    Value(Value),
    Node(NodeId),
}

/// An operand: a scalar, or a block (an array constant, a reference). A reference to one
/// cell is a 1x1 block, because functions like SUM treat references and direct arguments
/// differently (text in a referenced cell is skipped, text typed as an argument is not).
#[derive(Debug, Clone, PartialEq)]
pub enum Lowered {
    Item(Item),
    Grid(Grid<Item>),
}

impl Lowered {
    pub fn value(value: Value) -> Lowered {
        Lowered::Item(Item::Value(value))
    }

    pub fn error(error: ExcelError) -> Lowered {
        Lowered::value(Value::Error(error))
    }

    pub fn num(num: Num) -> Lowered {
        Lowered::Item(from_num(num))
    }

    /// The scalar seen where one value is expected: a block gives its first item (the
    /// pre-dynamic-array Excel behaviour).
    pub fn scalar(&self) -> Item {
        match self {
            Lowered::Item(item) => item.clone(),
            Lowered::Grid(grid) => grid
                .items
                .first()
                .cloned()
                .unwrap_or(Item::Value(Value::Error(ExcelError::Value))),
        }
    }

    /// Every item, row by row.
    pub fn items(&self) -> Vec<Item> {
        match self {
            Lowered::Item(item) => vec![item.clone()],
            Lowered::Grid(grid) => grid.items.clone(),
        }
    }

    /// The operand as a block (a scalar is 1x1).
    pub fn grid(&self) -> Grid<Item> {
        match self {
            Lowered::Item(item) => Grid {
                rows: 1,
                cols: 1,
                items: vec![item.clone()],
            },
            Lowered::Grid(grid) => grid.clone(),
        }
    }

    pub fn is_missing(&self) -> bool {
        matches!(self, Lowered::Item(Item::Value(Value::Empty)))
    }
}

/// Why a call could not be lowered. Excel errors are values, not `CallError`s.
#[derive(Debug, Clone, PartialEq)]
pub enum CallError {
    /// No such function.
    Unknown,
    /// Wrong number of arguments (Excel refuses such a formula).
    Arity { expected: String, got: usize },
    /// Known, but not with these (random) operands; the reason says what is missing.
    Unsupported(String),
}

pub type CallResult = Result<Lowered, CallError>;

/// Coerces an item for arithmetic.
pub fn to_num(item: &Item) -> Result<Num, ExcelError> {
    match item {
        Item::Node(id) => Ok(Num::Node(*id)),
        Item::Value(value) => value.to_number().map(Num::Const),
    }
}

/// A number back into an item: a non-finite constant is `#NUM!`.
pub fn from_num(num: Num) -> Item {
    match num {
        Num::Node(id) => Item::Node(id),
        Num::Const(x) => Item::Value(Value::number(x)),
    }
}

/// The scalar numbers of `args`; the first error among them is the result of the call.
pub fn scalar_numbers(args: &[Lowered]) -> Result<Vec<Num>, ExcelError> {
    args.iter().map(|arg| to_num(&arg.scalar())).collect()
}

pub(crate) fn check_arity(args: &[Lowered], fewest: usize, most: usize) -> Result<(), CallError> {
    if args.len() < fewest || args.len() > most {
        let expected = if fewest == most {
            fewest.to_string()
        } else if most == usize::MAX {
            format!("at least {fewest}")
        } else {
            format!("{fewest} to {most}")
        };
        return Err(CallError::Arity {
            expected,
            got: args.len(),
        });
    }
    Ok(())
}

/// A numeric function of scalar arguments: coerces, propagates the first error, then
/// computes with `f`.
pub(crate) fn numeric(
    b: &mut Builder,
    args: &[Lowered],
    fewest: usize,
    most: usize,
    f: impl FnOnce(&mut Builder, &[Num]) -> Num,
) -> CallResult {
    check_arity(args, fewest, most)?;
    match scalar_numbers(args) {
        Ok(nums) => Ok(Lowered::num(f(b, &nums))),
        Err(error) => Ok(Lowered::error(error)),
    }
}

/// A numeric argument with a default where it is omitted.
pub(crate) fn arg_or(nums: &[Num], args: &[Lowered], index: usize, default: f64) -> Num {
    match args.get(index) {
        Some(arg) if !arg.is_missing() => nums.get(index).copied().unwrap_or(Num::Const(default)),
        _ => Num::Const(default),
    }
}

/// Calls the function `name` (any case). `Err(CallError::Unknown)` when there is none.
pub fn call(b: &mut Builder, name: &str, args: &[Lowered]) -> CallResult {
    let upper = name.to_ascii_uppercase();
    if let Some(result) = math::call(b, &upper, args) {
        return result;
    }
    if let Some(result) = aggregate::call(b, &upper, args) {
        return result;
    }
    if let Some(result) = finance::call(b, &upper, args) {
        return result;
    }
    if let Some(result) = conditional::call(b, &upper, args) {
        return result;
    }
    if let Some(result) = solve::call(b, &upper, args) {
        return result;
    }
    if let Some(result) = lookup::call(b, &upper, args) {
        return result;
    }
    Err(CallError::Unknown)
}

/// Functions that exist in Excel but need what the IR lacks; reported as unsupported
/// (not unknown) so that the user learns why.
pub fn unsupported_reason(upper: &str) -> Option<&'static str> {
    Some(match upper {
        "MIRR" => "not yet in the function library",
        "RAND" | "RANDBETWEEN" => "use a Risk distribution function instead",
        "OFFSET" | "INDIRECT" => "dynamic references cannot be compiled",
        "NOW" | "TODAY" => "volatile functions are not supported",
        _ => return None,
    })
}
