//! Aggregates over argument lists and blocks: SUM, PRODUCT, AVERAGE, MIN, MAX, COUNT,
//! COUNTA, SUMPRODUCT, MEDIAN, LARGE, SMALL, SUMIF, COUNTIF, AVERAGEIF.

use ultra_engine::ir::Func;

use super::operators::compare_values;
use super::{CallError, CallResult, Item, Lowered, check_arity, to_num};
use crate::ast::BinaryOp;
use crate::builder::{Builder, Num};
use crate::value::{ExcelError, Value, parse_number_text};

pub(super) fn call(b: &mut Builder, name: &str, args: &[Lowered]) -> Option<CallResult> {
    Some(match name {
        "SUM" => fold(b, args, Func::Sum),
        "PRODUCT" => fold(b, args, Func::Product),
        "MIN" => fold(b, args, Func::Min),
        "MAX" => fold(b, args, Func::Max),
        "AVERAGE" => average(b, args),
        "COUNT" => count(args, false),
        "COUNTA" => count(args, true),
        "SUMPRODUCT" => sumproduct(b, args),
        "MEDIAN" => order_statistic(b, args, Order::Median),
        "LARGE" => order_statistic(b, args, Order::Large),
        "SMALL" => order_statistic(b, args, Order::Small),
        "SUMIF" => conditional(b, args, Conditional::Sum),
        "COUNTIF" => conditional(b, args, Conditional::Count),
        "AVERAGEIF" => conditional(b, args, Conditional::Average),
        _ => return None,
    })
}

/// The numbers SUM and friends see: direct arguments are coerced (text that is not a
/// number is `#VALUE!`), items of blocks count only when they are numbers.
pub(crate) fn collect_numbers(args: &[Lowered]) -> Result<Vec<Num>, ExcelError> {
    let mut numbers = Vec::new();
    for arg in args {
        match arg {
            Lowered::Item(item) => numbers.push(to_num(item)?),
            Lowered::Grid(grid) => {
                for item in &grid.items {
                    match item {
                        Item::Node(id) => numbers.push(Num::Node(*id)),
                        Item::Value(Value::Number(x)) => numbers.push(Num::Const(*x)),
                        Item::Value(Value::Error(e)) => return Err(*e),
                        Item::Value(_) => {}
                    }
                }
            }
        }
    }
    Ok(numbers)
}

fn fold(b: &mut Builder, args: &[Lowered], func: Func) -> CallResult {
    check_arity(args, 1, 255)?;
    Ok(match collect_numbers(args) {
        Ok(numbers) => Lowered::num(b.nary(func, &numbers)),
        Err(e) => Lowered::error(e),
    })
}

fn average(b: &mut Builder, args: &[Lowered]) -> CallResult {
    check_arity(args, 1, 255)?;
    let numbers = match collect_numbers(args) {
        Ok(numbers) if numbers.is_empty() => return Ok(Lowered::error(ExcelError::Div0)),
        Ok(numbers) => numbers,
        Err(e) => return Ok(Lowered::error(e)),
    };
    let sum = b.nary(Func::Sum, &numbers);
    Ok(Lowered::num(b.div(sum, Num::Const(numbers.len() as f64))))
}

/// COUNT counts numbers (a node is a number); COUNTA counts non-empty values. Neither
/// propagates errors. Known now even when the counted values are random.
fn count(args: &[Lowered], any_value: bool) -> CallResult {
    check_arity(args, 1, 255)?;
    let mut total = 0usize;
    for arg in args {
        let direct = matches!(arg, Lowered::Item(_));
        for item in arg.items() {
            let counted = match item {
                Item::Node(_) => true,
                Item::Value(Value::Number(_)) => true,
                Item::Value(Value::Empty) => direct && !any_value,
                Item::Value(Value::Text(text)) => {
                    any_value || (direct && parse_number_text(&text).is_some())
                }
                Item::Value(Value::Bool(_)) => any_value || direct,
                Item::Value(Value::Error(_)) => any_value,
            };
            total += usize::from(counted);
        }
    }
    Ok(Lowered::value(Value::Number(total as f64)))
}

fn sumproduct(b: &mut Builder, args: &[Lowered]) -> CallResult {
    check_arity(args, 1, 255)?;
    let grids: Vec<_> = args.iter().map(Lowered::grid).collect();
    let (rows, cols) = (grids[0].rows, grids[0].cols);
    if grids.iter().any(|g| g.rows != rows || g.cols != cols) {
        return Ok(Lowered::error(ExcelError::Value));
    }
    let mut terms = Vec::with_capacity(rows * cols);
    for index in 0..rows * cols {
        let mut factors = Vec::with_capacity(grids.len());
        for grid in &grids {
            factors.push(match grid.items.get(index) {
                Some(Item::Node(id)) => Num::Node(*id),
                Some(Item::Value(Value::Number(x))) => Num::Const(*x),
                Some(Item::Value(Value::Error(e))) => return Ok(Lowered::error(*e)),
                _ => Num::Const(0.0),
            });
        }
        terms.push(b.nary(Func::Product, &factors));
    }
    Ok(Lowered::num(b.nary(Func::Sum, &terms)))
}

enum Order {
    Median,
    Large,
    Small,
}

/// MEDIAN, LARGE and SMALL: the IR's order statistics (folded for constants by the same
/// kernel). LARGE and SMALL take `k` first in the IR.
fn order_statistic(b: &mut Builder, args: &[Lowered], order: Order) -> CallResult {
    let (value_args, func) = match order {
        Order::Median => {
            check_arity(args, 1, 255)?;
            (args, Func::Median)
        }
        Order::Large | Order::Small => {
            check_arity(args, 2, 2)?;
            let func = if matches!(order, Order::Large) {
                Func::Large
            } else {
                Func::Small
            };
            (&args[..1], func)
        }
    };
    let numbers = match collect_numbers(value_args) {
        Ok(numbers) => numbers,
        Err(e) => return Ok(Lowered::error(e)),
    };
    if numbers.is_empty() {
        return Ok(Lowered::error(ExcelError::Num));
    }
    let mut operands = Vec::with_capacity(numbers.len() + 1);
    if !matches!(order, Order::Median) {
        match to_num(&args[1].scalar()) {
            Ok(k) => operands.push(k),
            Err(e) => return Ok(Lowered::error(e)),
        }
    }
    operands.extend(numbers);
    Ok(Lowered::num(b.call(func, &operands)))
}

enum Conditional {
    Sum,
    Count,
    Average,
}

/// A SUMIF criterion: an operator and the value to compare with.
struct Criterion {
    op: BinaryOp,
    value: Value,
}

fn parse_criterion(value: &Value) -> Criterion {
    let Value::Text(text) = value else {
        return Criterion {
            op: BinaryOp::Eq,
            value: value.clone(),
        };
    };
    let (op, rest) = [
        ("<=", BinaryOp::Le),
        (">=", BinaryOp::Ge),
        ("<>", BinaryOp::Ne),
        ("<", BinaryOp::Lt),
        (">", BinaryOp::Gt),
        ("=", BinaryOp::Eq),
    ]
    .into_iter()
    .find_map(|(prefix, op)| text.strip_prefix(prefix).map(|rest| (op, rest)))
    .unwrap_or((BinaryOp::Eq, text.as_str()));
    let value = match parse_number_text(rest) {
        Some(x) => Value::Number(x),
        None if rest.eq_ignore_ascii_case("TRUE") => Value::Bool(true),
        None if rest.eq_ignore_ascii_case("FALSE") => Value::Bool(false),
        None => Value::Text(rest.to_string()),
    };
    Criterion { op, value }
}

/// Whether a constant cell meets a constant criterion. Criteria compare like with like:
/// a number criterion never matches text, and `<>` matches everything else.
fn meets(cell: &Value, criterion: &Criterion) -> bool {
    let same_kind = matches!(
        (cell, &criterion.value),
        (Value::Number(_), Value::Number(_))
            | (Value::Text(_), Value::Text(_))
            | (Value::Bool(_), Value::Bool(_))
    );
    if let (Value::Text(cell), Value::Text(pattern)) = (cell, &criterion.value)
        && matches!(criterion.op, BinaryOp::Eq | BinaryOp::Ne)
    {
        return wildcard_match(pattern, cell) == (criterion.op == BinaryOp::Eq);
    }
    if let (Value::Empty, Value::Text(pattern)) = (cell, &criterion.value) {
        return pattern.is_empty() == (criterion.op == BinaryOp::Eq);
    }
    if !same_kind {
        return criterion.op == BinaryOp::Ne;
    }
    match compare_values(cell, &criterion.value) {
        Ok(ordering) => match criterion.op {
            BinaryOp::Eq => ordering.is_eq(),
            BinaryOp::Ne => ordering.is_ne(),
            BinaryOp::Lt => ordering.is_lt(),
            BinaryOp::Le => ordering.is_le(),
            BinaryOp::Gt => ordering.is_gt(),
            _ => ordering.is_ge(),
        },
        Err(_) => false,
    }
}

/// Excel wildcards, case-insensitively: `*` any run, `?` one character, `~` escapes.
/// Iterative (backtracking to the last `*`), so long patterns cannot exhaust the stack.
pub(crate) fn wildcard_match(pattern: &str, text: &str) -> bool {
    #[derive(Clone, Copy, PartialEq)]
    enum P {
        Char(char),
        One,
        Any,
    }
    let mut tokens = Vec::new();
    let mut chars = pattern.chars().flat_map(char::to_lowercase);
    while let Some(c) = chars.next() {
        tokens.push(match c {
            '~' => P::Char(chars.next().unwrap_or('~')),
            '*' => P::Any,
            '?' => P::One,
            c => P::Char(c),
        });
    }
    let text: Vec<char> = text.chars().flat_map(char::to_lowercase).collect();
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match tokens.get(p) {
            Some(P::Any) => {
                star = Some((p, t));
                p += 1;
            }
            Some(P::One) => {
                p += 1;
                t += 1;
            }
            Some(P::Char(c)) if *c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((star_p, star_t)) => {
                    p = star_p + 1;
                    t = star_t + 1;
                    star = Some((star_p, star_t + 1));
                }
                None => return false,
            },
        }
    }
    tokens[p.min(tokens.len())..]
        .iter()
        .all(|token| *token == P::Any)
}

/// Whether range item `cell` meets the criterion, as a number (0/1, or a node).
pub(super) fn matches_item(
    b: &mut Builder,
    cell: &Item,
    criterion: &Item,
) -> Result<Num, CallError> {
    let truth = |x: bool| Num::Const(if x { 1.0 } else { 0.0 });
    match (cell, criterion) {
        (Item::Value(cell), Item::Value(criterion)) => {
            Ok(truth(meets(cell, &parse_criterion(criterion))))
        }
        (_, Item::Value(criterion)) => {
            let criterion = parse_criterion(criterion);
            let Value::Number(x) = criterion.value else {
                return Ok(truth(criterion.op == BinaryOp::Ne));
            };
            let func = match criterion.op {
                BinaryOp::Eq => Func::Eq,
                BinaryOp::Ne => Func::Ne,
                BinaryOp::Lt => Func::Lt,
                BinaryOp::Le => Func::Le,
                BinaryOp::Gt => Func::Gt,
                _ => Func::Ge,
            };
            let cell = to_num(cell).unwrap_or(Num::Const(f64::NAN));
            Ok(b.call(func, &[cell, Num::Const(x)]))
        }
        (cell, Item::Node(id)) => match cell {
            Item::Value(Value::Number(x)) => Ok(b.eq(Num::Const(*x), Num::Node(*id))),
            Item::Node(cell) => Ok(b.eq(Num::Node(*cell), Num::Node(*id))),
            _ => Ok(Num::Const(0.0)),
        },
    }
}

fn conditional(b: &mut Builder, args: &[Lowered], kind: Conditional) -> CallResult {
    match kind {
        Conditional::Count => check_arity(args, 2, 2)?,
        _ => check_arity(args, 2, 3)?,
    }
    let range = args[0].grid();
    let criterion = args[1].scalar();
    let values = match args.get(2) {
        Some(values) if !values.is_missing() => values.grid(),
        _ => range.clone(),
    };
    let mut sum_terms = Vec::new();
    let mut count_terms = Vec::new();
    for row in 0..range.rows {
        for col in 0..range.cols {
            let Some(cell) = range.get(row, col) else {
                continue;
            };
            let hit = matches_item(b, cell, &criterion)?;
            if hit == Num::Const(0.0) {
                continue;
            }
            if matches!(kind, Conditional::Count) {
                count_terms.push(hit);
                continue;
            }
            // SUMIF and AVERAGEIF see only the numbers of the value range.
            let value = match values.get(row, col) {
                Some(Item::Node(id)) => Num::Node(*id),
                Some(Item::Value(Value::Number(x))) => Num::Const(*x),
                Some(Item::Value(Value::Error(e))) => return Ok(Lowered::error(*e)),
                _ => continue,
            };
            count_terms.push(hit);
            sum_terms.push(b.select(hit, value, Num::Const(0.0)));
        }
    }
    let count = b.nary(Func::Sum, &count_terms);
    let sum = b.nary(Func::Sum, &sum_terms);
    Ok(match kind {
        Conditional::Count => Lowered::num(count),
        Conditional::Sum => Lowered::num(sum),
        Conditional::Average => {
            if count == Num::Const(0.0) {
                Lowered::error(ExcelError::Div0)
            } else {
                Lowered::num(b.div(sum, count))
            }
        }
    })
}
