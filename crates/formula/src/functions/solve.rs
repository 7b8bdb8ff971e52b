//! Root finders and sample statistics: IRR, RATE, XIRR (the IR's per-iteration solvers,
//! folded for constants by the same kernels), XNPV, VAR, STDEV.

use ultra_engine::ir::Func;

use super::aggregate::collect_numbers;
use super::{CallResult, Lowered, arg_or, check_arity, numeric, scalar_numbers};
use crate::builder::{Builder, Num};
use crate::value::ExcelError;

pub(super) fn call(b: &mut Builder, name: &str, args: &[Lowered]) -> Option<CallResult> {
    Some(match name {
        "IRR" => irr(b, args),
        "RATE" => numeric(b, args, 3, 6, |b, n| {
            let operands = [
                n[0],
                n[1],
                n[2],
                arg_or(n, args, 3, 0.0),
                arg_or(n, args, 4, 0.0),
                arg_or(n, args, 5, 0.1),
            ];
            b.call(Func::Rate, &operands)
        }),
        "XIRR" => xirr(b, args),
        "XNPV" => xnpv(b, args),
        "VAR" | "VAR.S" => variance(b, args, true, false),
        "VARP" | "VAR.P" => variance(b, args, false, false),
        "STDEV" | "STDEV.S" => variance(b, args, true, true),
        "STDEVP" | "STDEV.P" => variance(b, args, false, true),
        _ => return None,
    })
}

/// IRR(values, [guess]): the guess is not used; the solver starts from Excel's default
/// 0.1 and brackets when Newton fails.
fn irr(b: &mut Builder, args: &[Lowered]) -> CallResult {
    check_arity(args, 1, 2)?;
    let values = match collect_numbers(&args[..1]) {
        Ok(values) => values,
        Err(e) => return Ok(Lowered::error(e)),
    };
    if values.len() < 2 {
        return Ok(Lowered::error(ExcelError::Num));
    }
    Ok(Lowered::num(b.call(Func::Irr, &values)))
}

/// The cash flows and dates of XIRR and XNPV; dates are whole days (Excel truncates).
fn flows_and_dates(
    b: &mut Builder,
    values: &Lowered,
    dates: &Lowered,
) -> Result<(Vec<Num>, Vec<Num>), ExcelError> {
    let values = collect_numbers(std::slice::from_ref(values))?;
    let dates = collect_numbers(std::slice::from_ref(dates))?;
    if values.len() != dates.len() || values.is_empty() {
        return Err(ExcelError::Num);
    }
    let dates = dates
        .into_iter()
        .map(|d| b.call(Func::Trunc, &[d]))
        .collect();
    Ok((values, dates))
}

fn xirr(b: &mut Builder, args: &[Lowered]) -> CallResult {
    check_arity(args, 2, 3)?;
    let (values, dates) = match flows_and_dates(b, &args[0], &args[1]) {
        Ok(pair) => pair,
        Err(e) => return Ok(Lowered::error(e)),
    };
    if values.len() < 2 {
        return Ok(Lowered::error(ExcelError::Num));
    }
    let mut operands = values;
    operands.extend(dates);
    Ok(Lowered::num(b.call(Func::Xirr, &operands)))
}

/// XNPV(rate, values, dates): `sum v_i / (1 + rate)^((d_i - d_0) / 365)`.
fn xnpv(b: &mut Builder, args: &[Lowered]) -> CallResult {
    check_arity(args, 3, 3)?;
    let rate = match scalar_numbers(&args[..1]) {
        Ok(rate) => rate[0],
        Err(e) => return Ok(Lowered::error(e)),
    };
    let (values, dates) = match flows_and_dates(b, &args[1], &args[2]) {
        Ok(pair) => pair,
        Err(e) => return Ok(Lowered::error(e)),
    };
    let growth = b.add(Num::Const(1.0), rate);
    let mut terms = Vec::with_capacity(values.len());
    for (value, date) in values.iter().zip(&dates) {
        let days = b.sub(*date, dates[0]);
        let years = b.div(days, Num::Const(365.0));
        let discount = b.pow(growth, years);
        terms.push(b.div(*value, discount));
    }
    Ok(Lowered::num(b.nary(Func::Sum, &terms)))
}

/// VAR/STDEV over the numbers of the arguments, two-pass (mean, then squared
/// deviations); `sample` divides by n - 1.
fn variance(b: &mut Builder, args: &[Lowered], sample: bool, root: bool) -> CallResult {
    check_arity(args, 1, 255)?;
    let values = match collect_numbers(args) {
        Ok(values) => values,
        Err(e) => return Ok(Lowered::error(e)),
    };
    let n = values.len() as f64;
    let denominator = if sample { n - 1.0 } else { n };
    if denominator <= 0.0 {
        return Ok(Lowered::error(ExcelError::Div0));
    }
    let sum = b.nary(Func::Sum, &values);
    let mean = b.div(sum, Num::Const(n));
    let squares: Vec<Num> = values
        .iter()
        .map(|&x| {
            let deviation = b.sub(x, mean);
            b.mul(deviation, deviation)
        })
        .collect();
    let total = b.nary(Func::Sum, &squares);
    let variance = b.div(total, Num::Const(denominator));
    Ok(Lowered::num(if root {
        b.call(Func::Sqrt, &[variance])
    } else {
        variance
    }))
}
