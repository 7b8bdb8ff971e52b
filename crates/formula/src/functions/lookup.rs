//! Lookups over constant tables: VLOOKUP, HLOOKUP, MATCH, INDEX, XLOOKUP.
//!
//! A constant key is looked up now, with Excel's comparison rules. A random key becomes
//! a chain of `select`s over the table's keys, which is exact for the numeric keys a
//! random value can match: the first candidate whose test holds wins.

use std::cmp::Ordering;

use ultra_engine::ir::Func;

use super::aggregate::wildcard_match;
use super::operators::compare_values;
use super::{CallError, CallResult, Item, Lowered, check_arity, to_num};
use crate::builder::{Builder, Num};
use crate::value::{ExcelError, Value};

pub(super) fn call(b: &mut Builder, name: &str, args: &[Lowered]) -> Option<CallResult> {
    Some(match name {
        "VLOOKUP" => table_lookup(b, args, true),
        "HLOOKUP" => table_lookup(b, args, false),
        "MATCH" => match_function(b, args),
        "INDEX" => index(b, args),
        "XLOOKUP" => xlookup(b, args),
        _ => return None,
    })
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Exact,
    /// Sorted ascending: the last key <= the lookup key (VLOOKUP TRUE, MATCH 1).
    Ascending,
    /// Sorted descending: the last key >= the lookup key (MATCH -1).
    Descending,
    /// Unsorted, XLOOKUP -1: the largest key <= the lookup key.
    NextSmaller,
    /// Unsorted, XLOOKUP 1: the smallest key >= the lookup key.
    NextLarger,
}

/// Where a key was found: known now, or a priority list of (test, position) pairs.
enum Found {
    Known(Option<usize>),
    Random(Vec<(Num, usize)>),
}

fn same_kind(a: &Value, b: &Value) -> bool {
    std::mem::discriminant(a) == std::mem::discriminant(b)
}

fn find(
    b: &mut Builder,
    key: &Item,
    keys: &[&Item],
    mode: Mode,
    reverse: bool,
) -> Result<Found, CallError> {
    let all_constant = keys.iter().all(|k| matches!(k, Item::Value(_)));
    if let (Item::Value(key), true) = (key, all_constant) {
        return Ok(Found::Known(find_constant(key, keys, mode, reverse)));
    }
    let key = match key {
        Item::Value(Value::Text(_)) => {
            return Err(CallError::Unsupported(
                "a text key over random table keys".into(),
            ));
        }
        key => to_num(key).unwrap_or(Num::Const(f64::NAN)),
    };
    let numeric: Vec<(usize, Num)> = keys
        .iter()
        .enumerate()
        .filter_map(|(i, k)| match k {
            Item::Node(id) => Some((i, Num::Node(*id))),
            Item::Value(Value::Number(x)) => Some((i, Num::Const(*x))),
            _ => None,
        })
        .collect();
    let mut tests = Vec::new();
    match mode {
        Mode::Exact => {
            let ordered: Vec<_> = if reverse {
                numeric.into_iter().rev().collect()
            } else {
                numeric
            };
            for (i, k) in ordered {
                tests.push((b.eq(key, k), i));
            }
        }
        Mode::Ascending | Mode::Descending => {
            let func = if mode == Mode::Ascending {
                Func::Ge
            } else {
                Func::Le
            };
            for (i, k) in numeric.into_iter().rev() {
                tests.push((b.call(func, &[key, k]), i));
            }
        }
        Mode::NextSmaller | Mode::NextLarger => {
            let mut sorted: Vec<(usize, f64)> = numeric
                .iter()
                .filter_map(|(i, k)| k.constant().map(|k| (*i, k)))
                .collect();
            if sorted.len() != numeric.len() {
                return Err(CallError::Unsupported(
                    "approximate XLOOKUP over random keys".into(),
                ));
            }
            sorted.sort_by(|x, y| x.1.total_cmp(&y.1));
            sorted.dedup_by(|later, earlier| later.1 == earlier.1);
            if mode == Mode::NextSmaller {
                sorted.reverse();
            }
            let func = if mode == Mode::NextSmaller {
                Func::Ge
            } else {
                Func::Le
            };
            for (i, k) in sorted {
                tests.push((b.call(func, &[key, Num::Const(k)]), i));
            }
        }
    }
    Ok(Found::Random(tests))
}

fn find_constant(key: &Value, keys: &[&Item], mode: Mode, reverse: bool) -> Option<usize> {
    let mut candidates = keys.iter().enumerate().filter_map(|(i, k)| match k {
        Item::Value(v) if same_kind(v, key) => Some((i, v)),
        _ => None,
    });
    let ordering = |v: &Value| compare_values(v, key).unwrap_or(Ordering::Less);
    match mode {
        Mode::Exact => {
            let mut hits = candidates.filter(|(_, v)| match (v, key) {
                (Value::Text(text), Value::Text(pattern)) => wildcard_match(pattern, text),
                _ => ordering(v).is_eq(),
            });
            if reverse {
                hits.next_back()
            } else {
                hits.next()
            }
            .map(|(i, _)| i)
        }
        Mode::Ascending => candidates
            .rfind(|(_, v)| ordering(v).is_le())
            .map(|(i, _)| i),
        Mode::Descending => candidates
            .rfind(|(_, v)| ordering(v).is_ge())
            .map(|(i, _)| i),
        Mode::NextSmaller => candidates
            .filter(|(_, v)| ordering(v).is_le())
            .fold(None::<(usize, &Value)>, |best, (i, v)| match best {
                Some((_, w)) if compare_values(v, w).unwrap_or(Ordering::Equal).is_le() => best,
                _ => Some((i, v)),
            })
            .map(|(i, _)| i),
        Mode::NextLarger => candidates
            .filter(|(_, v)| ordering(v).is_ge())
            .fold(None::<(usize, &Value)>, |best, (i, v)| match best {
                Some((_, w)) if compare_values(v, w).unwrap_or(Ordering::Equal).is_ge() => best,
                _ => Some((i, v)),
            })
            .map(|(i, _)| i),
    }
}

/// A result item as a number for a random choice.
fn as_branch(item: &Item) -> Result<Num, CallError> {
    match item {
        Item::Node(id) => Ok(Num::Node(*id)),
        Item::Value(Value::Error(_)) => Ok(Num::Const(f64::NAN)),
        Item::Value(Value::Text(_)) => Err(CallError::Unsupported(
            "a lookup with a random key must return numbers, not text".into(),
        )),
        Item::Value(value) => Ok(Num::Const(value.to_number().unwrap_or(f64::NAN))),
    }
}

/// The result for `found`, taking values from `values`, `fallback` when nothing matches.
fn pick(b: &mut Builder, found: Found, values: &[Item], fallback: Lowered) -> CallResult {
    match found {
        Found::Known(Some(i)) => Ok(Lowered::Item(
            values
                .get(i)
                .cloned()
                .unwrap_or(Item::Value(Value::Error(ExcelError::Ref))),
        )),
        Found::Known(None) => Ok(fallback),
        Found::Random(tests) => {
            let mut result = as_branch(&fallback.scalar())?;
            for (test, i) in tests.into_iter().rev() {
                let value = values.get(i).map_or(Ok(Num::Const(f64::NAN)), as_branch)?;
                result = b.select(test, value, result);
            }
            Ok(Lowered::num(result))
        }
    }
}

/// A constant positive integer argument (a column or row number).
fn constant_index(arg: &Lowered) -> Result<Result<usize, ExcelError>, CallError> {
    match to_num(&arg.scalar()) {
        Err(e) => Ok(Err(e)),
        Ok(Num::Node(_)) => Err(CallError::Unsupported(
            "the column/row number must be a constant".into(),
        )),
        Ok(Num::Const(x)) if x >= 1.0 => Ok(Ok(x.trunc() as usize)),
        Ok(Num::Const(_)) => Ok(Err(ExcelError::Value)),
    }
}

fn flag(arg: Option<&Lowered>, default: bool) -> Result<bool, CallError> {
    match arg {
        None => Ok(default),
        Some(arg) if arg.is_missing() => Ok(default),
        Some(arg) => match to_num(&arg.scalar()) {
            Ok(Num::Const(x)) => Ok(x != 0.0),
            _ => Err(CallError::Unsupported(
                "the match-type flag must be a constant".into(),
            )),
        },
    }
}

fn table_lookup(b: &mut Builder, args: &[Lowered], vertical: bool) -> CallResult {
    check_arity(args, 3, 4)?;
    let table = args[1].grid();
    let index = match constant_index(&args[2])? {
        Ok(index) => index,
        Err(e) => return Ok(Lowered::error(e)),
    };
    let extent = if vertical { table.cols } else { table.rows };
    if index > extent {
        return Ok(Lowered::error(ExcelError::Ref));
    }
    let mode = if flag(args.get(3), true)? {
        Mode::Ascending
    } else {
        Mode::Exact
    };
    let (keys, values) = if vertical {
        (table.column(0), table.column(index - 1))
    } else {
        (table.row(0), table.row(index - 1))
    };
    let values: Vec<Item> = values.into_iter().cloned().collect();
    let found = find(b, &args[0].scalar(), &keys, mode, false)?;
    pick(b, found, &values, Lowered::error(ExcelError::NA))
}

fn match_function(b: &mut Builder, args: &[Lowered]) -> CallResult {
    check_arity(args, 2, 3)?;
    let grid = args[1].grid();
    let Some(keys) = grid.vector() else {
        return Ok(Lowered::error(ExcelError::NA));
    };
    let mode = match args
        .get(2)
        .filter(|a| !a.is_missing())
        .map(|a| to_num(&a.scalar()))
    {
        None => Mode::Ascending,
        Some(Ok(Num::Const(x))) if x > 0.0 => Mode::Ascending,
        Some(Ok(Num::Const(x))) if x < 0.0 => Mode::Descending,
        Some(Ok(Num::Const(_))) => Mode::Exact,
        Some(Err(e)) => return Ok(Lowered::error(e)),
        Some(Ok(Num::Node(_))) => {
            return Err(CallError::Unsupported(
                "the match type must be a constant".into(),
            ));
        }
    };
    let positions: Vec<Item> = (1..=keys.len())
        .map(|p| Item::Value(Value::Number(p as f64)))
        .collect();
    let found = find(b, &args[0].scalar(), &keys, mode, false)?;
    pick(b, found, &positions, Lowered::error(ExcelError::NA))
}

fn index(b: &mut Builder, args: &[Lowered]) -> CallResult {
    check_arity(args, 2, 3)?;
    let grid = args[0].grid();
    let one_row = grid.rows == 1 && args.len() == 2;
    let (row, col) = if one_row {
        (Lowered::value(Value::Number(1.0)), args[1].clone())
    } else {
        (
            args[1].clone(),
            args.get(2)
                .cloned()
                .unwrap_or(Lowered::value(Value::Number(1.0))),
        )
    };
    let (row, col) = match (to_num(&row.scalar()), to_num(&col.scalar())) {
        (Err(e), _) | (_, Err(e)) => return Ok(Lowered::error(e)),
        (Ok(row), Ok(col)) => (row, col),
    };
    if let (Num::Const(r), Num::Const(c)) = (row, col) {
        let (r, c) = (r.trunc(), c.trunc());
        if r < 1.0 || c < 1.0 {
            return Ok(Lowered::error(ExcelError::Value));
        }
        return Ok(match grid.get(r as usize - 1, c as usize - 1) {
            Some(item) => Lowered::Item(item.clone()),
            None => Lowered::error(ExcelError::Ref),
        });
    }
    let row = b.call(Func::Trunc, &[row]);
    let col = b.call(Func::Trunc, &[col]);
    let mut result = Num::Const(f64::NAN);
    for r in (0..grid.rows).rev() {
        for c in (0..grid.cols).rev() {
            let Some(item) = grid.get(r, c) else { continue };
            let value = as_branch(item)?;
            let row_hit = b.eq(row, Num::Const(r as f64 + 1.0));
            let col_hit = b.eq(col, Num::Const(c as f64 + 1.0));
            let hit = b.call(Func::And, &[row_hit, col_hit]);
            result = b.select(hit, value, result);
        }
    }
    Ok(Lowered::num(result))
}

fn xlookup(b: &mut Builder, args: &[Lowered]) -> CallResult {
    check_arity(args, 3, 6)?;
    let lookup = args[1].grid();
    let returns = args[2].grid();
    let (Some(keys), Some(values)) = (lookup.vector(), returns.vector()) else {
        return Err(CallError::Unsupported(
            "XLOOKUP returning rows or columns".into(),
        ));
    };
    if keys.len() != values.len() {
        return Ok(Lowered::error(ExcelError::Value));
    }
    let fallback = match args.get(3) {
        Some(arg) if !arg.is_missing() => arg.clone(),
        _ => Lowered::error(ExcelError::NA),
    };
    let constant = |arg: Option<&Lowered>, default: f64| match arg {
        Some(arg) if !arg.is_missing() => match to_num(&arg.scalar()) {
            Ok(Num::Const(x)) => Ok(x),
            _ => Err(CallError::Unsupported(
                "XLOOKUP modes must be constants".into(),
            )),
        },
        _ => Ok(default),
    };
    let mode = match constant(args.get(4), 0.0)? {
        -1.0 => Mode::NextSmaller,
        1.0 => Mode::NextLarger,
        _ => Mode::Exact,
    };
    let reverse = constant(args.get(5), 1.0)? < 0.0;
    let values: Vec<Item> = values.into_iter().cloned().collect();
    let found = find(b, &args[0].scalar(), &keys, mode, reverse)?;
    pick(b, found, &values, fallback)
}
