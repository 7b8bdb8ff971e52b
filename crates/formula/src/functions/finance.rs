//! Financial functions in closed form: NPV, PV, FV, PMT, IPMT, PPMT, NPER, SLN, DDB.
//!
//! Formulas as Excel documents them (and as LibreOffice implements them in
//! `sc/source/core/tool/interpr2.cxx`); the `rate = 0` special cases become a `select`,
//! which folds away when the rate is constant. The root finders (IRR, RATE, XIRR) and
//! XNPV are in `super::solve`.

use ultra_engine::ir::Func;

use super::aggregate::collect_numbers;
use super::{CallResult, Lowered, arg_or, check_arity, numeric};
use crate::builder::{Builder, Num};
use crate::value::ExcelError;

pub(super) fn call(b: &mut Builder, name: &str, args: &[Lowered]) -> Option<CallResult> {
    Some(match name {
        "NPV" => npv(b, args),
        "PV" => numeric(b, args, 3, 5, |b, n| {
            pv(
                b,
                n[0],
                n[1],
                n[2],
                arg_or(n, args, 3, 0.0),
                arg_or(n, args, 4, 0.0),
            )
        }),
        "FV" => numeric(b, args, 3, 5, |b, n| {
            fv(
                b,
                n[0],
                n[1],
                n[2],
                arg_or(n, args, 3, 0.0),
                arg_or(n, args, 4, 0.0),
            )
        }),
        "PMT" => numeric(b, args, 3, 5, |b, n| {
            pmt(
                b,
                n[0],
                n[1],
                n[2],
                arg_or(n, args, 3, 0.0),
                arg_or(n, args, 4, 0.0),
            )
        }),
        "IPMT" => numeric(b, args, 4, 6, |b, n| {
            let (fv, kind) = (arg_or(n, args, 4, 0.0), arg_or(n, args, 5, 0.0));
            ipmt(b, n[0], n[1], n[2], n[3], fv, kind)
        }),
        "PPMT" => numeric(b, args, 4, 6, |b, n| {
            let (fv, kind) = (arg_or(n, args, 4, 0.0), arg_or(n, args, 5, 0.0));
            let payment = pmt(b, n[0], n[2], n[3], fv, kind);
            let interest = ipmt(b, n[0], n[1], n[2], n[3], fv, kind);
            b.sub(payment, interest)
        }),
        "NPER" => numeric(b, args, 3, 5, |b, n| {
            nper(
                b,
                n[0],
                n[1],
                n[2],
                arg_or(n, args, 3, 0.0),
                arg_or(n, args, 4, 0.0),
            )
        }),
        "SLN" => numeric(b, args, 3, 3, |b, n| {
            let depreciable = b.sub(n[0], n[1]);
            b.div(depreciable, n[2])
        }),
        "DDB" => ddb(b, args),
        _ => return None,
    })
}

/// `NPV(rate, v1, v2, ...)` = sum of `v_i / (1 + rate)^i`, i from 1.
fn npv(b: &mut Builder, args: &[Lowered]) -> CallResult {
    check_arity(args, 2, 255)?;
    let rate = match super::scalar_numbers(&args[..1]) {
        Ok(rate) => rate[0],
        Err(e) => return Ok(Lowered::error(e)),
    };
    let values = match collect_numbers(&args[1..]) {
        Ok(values) => values,
        Err(e) => return Ok(Lowered::error(e)),
    };
    if rate == Num::Const(-1.0) {
        return Ok(Lowered::error(ExcelError::Div0));
    }
    let growth = b.add(Num::Const(1.0), rate);
    let mut terms = Vec::with_capacity(values.len());
    for (period, value) in values.into_iter().enumerate() {
        let discount = b.pow(growth, Num::Const(period as f64 + 1.0));
        terms.push(b.div(value, discount));
    }
    Ok(Lowered::num(b.nary(Func::Sum, &terms)))
}

/// `(1 + rate)^nper`.
fn compound(b: &mut Builder, rate: Num, nper: Num) -> Num {
    let growth = b.add(Num::Const(1.0), rate);
    b.pow(growth, nper)
}

/// `1 + rate * type`: payments at the start of a period earn one more period.
fn timing(b: &mut Builder, rate: Num, kind: Num) -> Num {
    let is_start = b.call(Func::Ne, &[kind, Num::Const(0.0)]);
    let extra = b.mul(rate, is_start);
    b.add(Num::Const(1.0), extra)
}

fn rate_is_zero(b: &mut Builder, rate: Num) -> Num {
    b.eq(rate, Num::Const(0.0))
}

/// FV: `-(pv (1+r)^n + pmt (1 + r type) ((1+r)^n - 1) / r)`; `-(pv + pmt n)` when r = 0.
pub(crate) fn fv(b: &mut Builder, rate: Num, nper: Num, payment: Num, pv: Num, kind: Num) -> Num {
    let factor = compound(b, rate, nper);
    let grown = b.mul(pv, factor);
    let annuity = annuity_factor(b, rate, factor, kind);
    let paid = b.mul(payment, annuity);
    let total = b.add(grown, paid);
    let general = b.neg(total);
    let flat_paid = b.mul(payment, nper);
    let flat_total = b.add(pv, flat_paid);
    let flat = b.neg(flat_total);
    let zero = rate_is_zero(b, rate);
    b.select(zero, flat, general)
}

/// `(1 + r type) ((1+r)^n - 1) / r`.
fn annuity_factor(b: &mut Builder, rate: Num, factor: Num, kind: Num) -> Num {
    let growth = b.sub(factor, Num::Const(1.0));
    let per_rate = b.div(growth, rate);
    let start = timing(b, rate, kind);
    b.mul(start, per_rate)
}

/// PV: `-(fv + pmt (1 + r type) ((1+r)^n - 1) / r) / (1+r)^n`; `-(fv + pmt n)` when r = 0.
fn pv(b: &mut Builder, rate: Num, nper: Num, payment: Num, fv: Num, kind: Num) -> Num {
    let factor = compound(b, rate, nper);
    let annuity = annuity_factor(b, rate, factor, kind);
    let paid = b.mul(payment, annuity);
    let total = b.add(fv, paid);
    let discounted = b.div(total, factor);
    let general = b.neg(discounted);
    let flat_paid = b.mul(payment, nper);
    let flat_total = b.add(fv, flat_paid);
    let flat = b.neg(flat_total);
    let zero = rate_is_zero(b, rate);
    b.select(zero, flat, general)
}

/// PMT: `-r (pv (1+r)^n + fv) / ((1 + r type) ((1+r)^n - 1))`; `-(pv + fv) / n` when r = 0.
pub(crate) fn pmt(b: &mut Builder, rate: Num, nper: Num, pv: Num, fv: Num, kind: Num) -> Num {
    let factor = compound(b, rate, nper);
    let grown = b.mul(pv, factor);
    let owed = b.add(grown, fv);
    let numerator = b.mul(rate, owed);
    let growth = b.sub(factor, Num::Const(1.0));
    let start = timing(b, rate, kind);
    let denominator = b.mul(start, growth);
    let ratio = b.div(numerator, denominator);
    let general = b.neg(ratio);
    let flat_owed = b.add(pv, fv);
    let flat_ratio = b.div(flat_owed, nper);
    let flat = b.neg(flat_ratio);
    let zero = rate_is_zero(b, rate);
    b.select(zero, flat, general)
}

/// IPMT: the interest part of payment `per`: `FV(r, per-1, pmt, pv, 0) r` for payments at
/// the end of periods; `(FV(r, per-2, pmt, pv, 1) - pmt) r` at the start (0 in period 1).
fn ipmt(b: &mut Builder, rate: Num, per: Num, nper: Num, pv: Num, fv: Num, kind: Num) -> Num {
    let payment = pmt(b, rate, nper, pv, fv, kind);
    let before_end = b.sub(per, Num::Const(1.0));
    let balance_end = self::fv(b, rate, before_end, payment, pv, Num::Const(0.0));
    let end_interest = b.mul(balance_end, rate);
    let before_start = b.sub(per, Num::Const(2.0));
    let balance_start = self::fv(b, rate, before_start, payment, pv, Num::Const(1.0));
    let owed_start = b.sub(balance_start, payment);
    let start_interest_later = b.mul(owed_start, rate);
    let first = b.eq(per, Num::Const(1.0));
    let start_interest = b.select(first, Num::Const(0.0), start_interest_later);
    let is_start = b.call(Func::Ne, &[kind, Num::Const(0.0)]);
    let interest = b.select(is_start, start_interest, end_interest);
    let in_range = in_period_range(b, per, nper);
    b.select(in_range, interest, Num::Const(f64::NAN))
}

/// `1 <= per <= nper` (Excel's #NUM! otherwise).
fn in_period_range(b: &mut Builder, per: Num, nper: Num) -> Num {
    let low = b.call(Func::Ge, &[per, Num::Const(1.0)]);
    let high = b.call(Func::Le, &[per, nper]);
    b.call(Func::And, &[low, high])
}

/// NPER: `ln((pmt (1 + r type) - fv r) / (pmt (1 + r type) + pv r)) / ln(1 + r)`;
/// `-(pv + fv) / pmt` when r = 0.
fn nper(b: &mut Builder, rate: Num, payment: Num, pv: Num, fv: Num, kind: Num) -> Num {
    let start = timing(b, rate, kind);
    let adjusted = b.mul(payment, start);
    let fv_rate = b.mul(fv, rate);
    let pv_rate = b.mul(pv, rate);
    let numerator = b.sub(adjusted, fv_rate);
    let denominator = b.add(adjusted, pv_rate);
    let ratio = b.div(numerator, denominator);
    let log_ratio = b.call(Func::Ln, &[ratio]);
    let growth = b.add(Num::Const(1.0), rate);
    let log_growth = b.call(Func::Ln, &[growth]);
    let general = b.div(log_ratio, log_growth);
    let owed = b.add(pv, fv);
    let flat_ratio = b.div(owed, payment);
    let flat = b.neg(flat_ratio);
    let zero = rate_is_zero(b, rate);
    b.select(zero, flat, general)
}

/// DDB(cost, salvage, life, period, factor = 2): declining balance in closed form, as
/// LibreOffice's `ScGetDDB`: with d = min(factor / life, 1), the book value falls from
/// `cost (1-d)^(p-1)` to `max(cost (1-d)^p, salvage)`, and the period's depreciation is
/// the difference, never negative.
fn ddb(b: &mut Builder, args: &[Lowered]) -> CallResult {
    numeric(b, args, 4, 5, |b, n| {
        let (cost, salvage, life, period) = (n[0], n[1], n[2], n[3]);
        let factor = arg_or(n, args, 4, 2.0);
        let raw_rate = b.div(factor, life);
        let rate = b.call(Func::Min, &[raw_rate, Num::Const(1.0)]);
        let keep = b.sub(Num::Const(1.0), rate);
        let periods_before = b.sub(period, Num::Const(1.0));
        let kept_before = b.pow(keep, periods_before);
        let kept_after = b.pow(keep, period);
        // With rate 1 everything goes in period 1; (1-1)^0 is 1 as needed.
        let old_value = b.mul(cost, kept_before);
        let new_value = b.mul(cost, kept_after);
        let floored_new = b.call(Func::Max, &[new_value, salvage]);
        let depreciation = b.sub(old_value, floored_new);
        let positive = b.call(Func::Max, &[depreciation, Num::Const(0.0)]);
        let valid_life = b.call(Func::Gt, &[life, Num::Const(0.0)]);
        let valid_period = in_period_range(b, period, life);
        let valid = b.call(Func::And, &[valid_life, valid_period]);
        b.select(valid, positive, Num::Const(f64::NAN))
    })
}
