//! SUMIFS, COUNTIFS, AVERAGEIFS: several (range, criterion) pairs, all of which a cell
//! must meet. Each criterion is matched as SUMIF matches it (`aggregate::matches_item`),
//! so random cells lower to products of comparisons.

use ultra_engine::ir::Func;

use super::aggregate::matches_item;
use super::{CallError, CallResult, Item, Lowered};
use crate::builder::{Builder, Num};
use crate::value::{ExcelError, Value};

pub(super) fn call(b: &mut Builder, name: &str, args: &[Lowered]) -> Option<CallResult> {
    Some(match name {
        "SUMIFS" => multi(b, args, Kind::Sum),
        "COUNTIFS" => multi(b, args, Kind::Count),
        "AVERAGEIFS" => multi(b, args, Kind::Average),
        _ => return None,
    })
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Sum,
    Count,
    Average,
}

fn multi(b: &mut Builder, args: &[Lowered], kind: Kind) -> CallResult {
    let first = usize::from(kind != Kind::Count);
    let pairs = args.len().saturating_sub(first);
    if pairs == 0 || pairs % 2 != 0 || args.len() > 255 {
        return Err(CallError::Arity {
            expected: if first == 1 {
                "a range, then range/criterion pairs".into()
            } else {
                "range/criterion pairs".into()
            },
            got: args.len(),
        });
    }
    let criteria: Vec<_> = args[first..]
        .chunks(2)
        .map(|pair| (pair[0].grid(), pair[1].scalar()))
        .collect();
    let (rows, cols) = (criteria[0].0.rows, criteria[0].0.cols);
    if criteria
        .iter()
        .any(|(r, _)| r.rows != rows || r.cols != cols)
    {
        return Ok(Lowered::error(ExcelError::Value));
    }
    let values = (first == 1).then(|| args[0].grid());
    if values
        .as_ref()
        .is_some_and(|v| v.rows != rows || v.cols != cols)
    {
        return Ok(Lowered::error(ExcelError::Value));
    }
    let mut sum_terms = Vec::new();
    let mut count_terms = Vec::new();
    for row in 0..rows {
        for col in 0..cols {
            let mut hits = Vec::with_capacity(criteria.len());
            for (range, criterion) in &criteria {
                let Some(cell) = range.get(row, col) else {
                    continue;
                };
                hits.push(matches_item(b, cell, criterion)?);
            }
            let hit = b.nary(Func::Product, &hits);
            if hit == Num::Const(0.0) {
                continue;
            }
            let Some(values) = &values else {
                count_terms.push(hit);
                continue;
            };
            // Only the numbers of the value range count.
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
        Kind::Count => Lowered::num(count),
        Kind::Sum => Lowered::num(sum),
        Kind::Average if count == Num::Const(0.0) => Lowered::error(ExcelError::Div0),
        Kind::Average => Lowered::num(b.div(sum, count)),
    })
}
