//! Mathematical, logical and normal-distribution functions.

use ultra_engine::dist::special::inverse_normal_cdf;
use ultra_engine::ir::Func;

use super::{CallError, CallResult, Item, Lowered, arg_or, check_arity, from_num, numeric, to_num};
use crate::builder::{Builder, Num};
use crate::value::{ExcelError, Value};

const SQRT_2PI: f64 = 2.506_628_274_631_000_5;

pub(super) fn call(b: &mut Builder, name: &str, args: &[Lowered]) -> Option<CallResult> {
    let unary = |b: &mut Builder, func: Func| numeric(b, args, 1, 1, |b, n| b.call(func, &[n[0]]));
    Some(match name {
        "ABS" => unary(b, Func::Abs),
        "SIGN" => unary(b, Func::Sign),
        "SQRT" => unary(b, Func::Sqrt),
        "EXP" => unary(b, Func::Exp),
        "LN" => unary(b, Func::Ln),
        "LOG10" => unary(b, Func::Log10),
        "INT" => unary(b, Func::Floor),
        "LOG" => numeric(b, args, 1, 2, |b, n| {
            let x = b.call(Func::Ln, &[n[0]]);
            let base = arg_or(n, args, 1, 10.0);
            let ln_base = b.call(Func::Ln, &[base]);
            b.div(x, ln_base)
        }),
        "POWER" => check_arity(args, 2, 2)
            .map(|()| super::binary(b, crate::ast::BinaryOp::Pow, &args[0], &args[1]))
            .and_then(|result| result),
        "MOD" => divisor_checked(b, args, 1, |b, n| b.call(Func::Mod, &[n[0], n[1]])),
        "ROUND" => numeric(b, args, 2, 2, |b, n| b.call(Func::Round, &[n[0], n[1]])),
        "ROUNDUP" => numeric(b, args, 2, 2, |b, n| b.call(Func::RoundUp, &[n[0], n[1]])),
        "ROUNDDOWN" => numeric(b, args, 2, 2, |b, n| b.call(Func::RoundDown, &[n[0], n[1]])),
        "TRUNC" => numeric(b, args, 1, 2, |b, n| {
            let digits = arg_or(n, args, 1, 0.0);
            b.call(Func::RoundDown, &[n[0], digits])
        }),
        // FLOOR/CEILING/MROUND with a significance: x/sig rounded, times sig. Excel's #NUM!
        // for opposite signs is checked on constants only.
        "FLOOR" => significance(b, args, Func::Floor),
        "CEILING" => significance(b, args, Func::Ceiling),
        "MROUND" => significance(b, args, Func::Round),
        "PI" => {
            check_arity(args, 0, 0).map(|()| Lowered::value(Value::Number(std::f64::consts::PI)))
        }
        "TRUE" => check_arity(args, 0, 0).map(|()| Lowered::value(Value::Bool(true))),
        "FALSE" => check_arity(args, 0, 0).map(|()| Lowered::value(Value::Bool(false))),
        "NA" => check_arity(args, 0, 0).map(|()| Lowered::error(ExcelError::NA)),
        "IF" => if_function(b, args),
        "IFS" => ifs(b, args),
        "IFERROR" => iferror(b, args),
        "ISERROR" => is_test(b, args, Func::Ne, |v| matches!(v, Value::Error(_))),
        "ISNUMBER" => is_test(b, args, Func::Eq, |v| matches!(v, Value::Number(_))),
        "AND" => logical(b, args, Func::And),
        "OR" => logical(b, args, Func::Or),
        "XOR" => logical(b, args, Func::Xor),
        "NOT" => not(b, args),
        "CHOOSE" => choose(b, args),
        "NORM.DIST" | "NORMDIST" => normal_distribution(b, args, false),
        "NORM.S.DIST" => normal_distribution(b, args, true),
        "NORMSDIST" => check_arity(args, 1, 1).and_then(|()| {
            let mut with_flag = args.to_vec();
            with_flag.push(Lowered::value(Value::Bool(true)));
            normal_distribution(b, &with_flag, true)
        }),
        "NORM.INV" | "NORMINV" => normal_inverse(b, args, 3, false),
        "NORM.S.INV" | "NORMSINV" => normal_inverse(b, args, 1, false),
        "LOGNORM.INV" | "LOGINV" => normal_inverse(b, args, 3, true),
        "CONCATENATE" | "CONCAT" => concatenate(args),
        _ => return None,
    })
}

/// Two-argument function whose constant zero divisor (argument `index`) is `#DIV/0!`.
fn divisor_checked(
    b: &mut Builder,
    args: &[Lowered],
    index: usize,
    f: impl FnOnce(&mut Builder, &[Num]) -> Num,
) -> CallResult {
    check_arity(args, 2, 2)?;
    if let Item::Value(value) = args[index].scalar()
        && value.to_number() == Ok(0.0)
    {
        return Ok(Lowered::error(ExcelError::Div0));
    }
    numeric(b, args, 2, 2, f)
}

fn significance(b: &mut Builder, args: &[Lowered], rounding: Func) -> CallResult {
    check_arity(args, 2, 2)?;
    let nums = match super::scalar_numbers(args) {
        Ok(nums) => nums,
        Err(error) => return Ok(Lowered::error(error)),
    };
    if let (Num::Const(x), Num::Const(sig)) = (nums[0], nums[1]) {
        if sig == 0.0 {
            let zero = if rounding == Func::Floor {
                Value::Error(ExcelError::Div0)
            } else {
                Value::Number(0.0)
            };
            return Ok(Lowered::value(zero));
        }
        if x > 0.0 && sig < 0.0 {
            return Ok(Lowered::error(ExcelError::Num));
        }
    }
    let ratio = b.div(nums[0], nums[1]);
    let rounded = if rounding == Func::Round {
        b.call(Func::Round, &[ratio, Num::Const(0.0)])
    } else {
        b.call(rounding, &[ratio])
    };
    Ok(Lowered::num(b.mul(rounded, nums[1])))
}

/// A condition: known now, an error, or random.
enum Condition {
    Known(bool),
    Error(ExcelError),
    Random(Num),
}

fn condition(arg: &Lowered) -> Condition {
    match arg.scalar() {
        Item::Node(id) => Condition::Random(Num::Node(id)),
        Item::Value(Value::Error(e)) => Condition::Error(e),
        Item::Value(Value::Text(text)) if text.eq_ignore_ascii_case("TRUE") => {
            Condition::Known(true)
        }
        Item::Value(Value::Text(text)) if text.eq_ignore_ascii_case("FALSE") => {
            Condition::Known(false)
        }
        Item::Value(Value::Text(_)) => Condition::Error(ExcelError::Value),
        Item::Value(value) => match value.to_number() {
            Ok(x) => Condition::Known(x != 0.0),
            Err(e) => Condition::Error(e),
        },
    }
}

/// A branch of a random choice as a number: errors become NaN; text has no number.
fn branch(arg: Option<&Lowered>, default: f64) -> Result<Num, CallError> {
    match arg.map(Lowered::scalar) {
        None | Some(Item::Value(Value::Empty)) => Ok(Num::Const(default)),
        Some(Item::Node(id)) => Ok(Num::Node(id)),
        Some(Item::Value(Value::Error(_))) => Ok(Num::Const(f64::NAN)),
        Some(Item::Value(Value::Text(_))) => Err(CallError::Unsupported(
            "a choice on a random condition must give numbers, not text".into(),
        )),
        Some(Item::Value(value)) => value.to_number().map(Num::Const).map_err(|_| {
            CallError::Unsupported("a choice on a random condition must give numbers".into())
        }),
    }
}

/// A chosen constant branch; an omitted one reads as 0 (`IF(TRUE,)` is 0).
fn chosen(arg: Option<&Lowered>, default: Value) -> Lowered {
    match arg {
        None => Lowered::value(default),
        Some(arg) if arg.is_missing() => Lowered::value(Value::Number(0.0)),
        Some(arg) => arg.clone(),
    }
}

fn if_function(b: &mut Builder, args: &[Lowered]) -> CallResult {
    check_arity(args, 2, 3)?;
    match condition(&args[0]) {
        Condition::Known(true) => Ok(chosen(args.get(1), Value::Bool(true))),
        Condition::Known(false) => Ok(chosen(args.get(2), Value::Bool(false))),
        Condition::Error(e) => Ok(Lowered::error(e)),
        Condition::Random(c) => {
            let if_true = branch(args.get(1), 0.0)?;
            let if_false = branch(args.get(2), 0.0)?;
            Ok(Lowered::num(b.select(c, if_true, if_false)))
        }
    }
}

fn ifs(b: &mut Builder, args: &[Lowered]) -> CallResult {
    if args.len() < 2 || !args.len().is_multiple_of(2) {
        return Err(CallError::Arity {
            expected: "pairs of condition and value".into(),
            got: args.len(),
        });
    }
    let mut random = Vec::new();
    for pair in args.chunks(2) {
        match condition(&pair[0]) {
            Condition::Known(false) => {}
            Condition::Known(true) if random.is_empty() => {
                return Ok(chosen(pair.get(1), Value::Number(0.0)));
            }
            Condition::Error(e) if random.is_empty() => return Ok(Lowered::error(e)),
            Condition::Known(true) => {
                random.push((Num::Const(1.0), branch(pair.get(1), 0.0)?));
                break;
            }
            Condition::Error(_) => {
                random.push((Num::Const(f64::NAN), Num::Const(f64::NAN)));
                break;
            }
            Condition::Random(c) => random.push((c, branch(pair.get(1), 0.0)?)),
        }
    }
    if random.is_empty() {
        return Ok(Lowered::error(ExcelError::NA));
    }
    let mut result = Num::Const(f64::NAN);
    for (c, value) in random.into_iter().rev() {
        result = b.select(c, value, result);
    }
    Ok(Lowered::num(result))
}

fn iferror(b: &mut Builder, args: &[Lowered]) -> CallResult {
    check_arity(args, 2, 2)?;
    match args[0].scalar() {
        Item::Value(Value::Error(_)) => Ok(chosen(args.get(1), Value::Number(0.0))),
        Item::Value(_) => Ok(args[0].clone()),
        Item::Node(id) => {
            // NaN is the IR's error, and `x != x` holds only for NaN.
            let x = Num::Node(id);
            let is_error = b.call(Func::Ne, &[x, x]);
            let fallback = branch(args.get(1), 0.0)?;
            Ok(Lowered::num(b.select(is_error, fallback, x)))
        }
    }
}

fn is_test(b: &mut Builder, args: &[Lowered], func: Func, test: fn(&Value) -> bool) -> CallResult {
    check_arity(args, 1, 1)?;
    Ok(match args[0].scalar() {
        Item::Value(value) => Lowered::value(Value::Bool(test(&value))),
        Item::Node(id) => Lowered::num(b.call(func, &[Num::Node(id), Num::Node(id)])),
    })
}

/// AND/OR/XOR: numbers and booleans count; text in references is skipped, text typed as
/// an argument is `#VALUE!`.
fn logical(b: &mut Builder, args: &[Lowered], func: Func) -> CallResult {
    check_arity(args, 1, 255)?;
    let mut operands = Vec::new();
    for arg in args {
        let direct = matches!(arg, Lowered::Item(_));
        for item in arg.items() {
            match item {
                Item::Node(id) => operands.push(Num::Node(id)),
                Item::Value(Value::Error(e)) => return Ok(Lowered::error(e)),
                Item::Value(Value::Number(x)) => operands.push(Num::Const(x)),
                Item::Value(Value::Bool(v)) => operands.push(Num::Const(if v { 1.0 } else { 0.0 })),
                Item::Value(Value::Text(_)) if direct => {
                    return Ok(Lowered::error(ExcelError::Value));
                }
                Item::Value(_) => {}
            }
        }
    }
    if operands.is_empty() {
        return Ok(Lowered::error(ExcelError::Value));
    }
    let result = b.call(func, &operands);
    Ok(match result {
        Num::Const(x) => Lowered::value(Value::Bool(x != 0.0)),
        node => Lowered::num(node),
    })
}

fn not(b: &mut Builder, args: &[Lowered]) -> CallResult {
    check_arity(args, 1, 1)?;
    Ok(match condition(&args[0]) {
        Condition::Known(v) => Lowered::value(Value::Bool(!v)),
        Condition::Error(e) => Lowered::error(e),
        Condition::Random(x) => Lowered::num(b.call(Func::Not, &[x])),
    })
}

fn choose(b: &mut Builder, args: &[Lowered]) -> CallResult {
    check_arity(args, 2, 255)?;
    let choices = &args[1..];
    match to_num(&args[0].scalar()) {
        Err(e) => Ok(Lowered::error(e)),
        Ok(Num::Const(index)) => {
            let index = index.trunc();
            if index < 1.0 || index > choices.len() as f64 {
                return Ok(Lowered::error(ExcelError::Value));
            }
            Ok(chosen(choices.get(index as usize - 1), Value::Number(0.0)))
        }
        Ok(index) => {
            let index = b.call(Func::Trunc, &[index]);
            let mut result = Num::Const(f64::NAN);
            for (position, choice) in choices.iter().enumerate().rev() {
                let value = branch(Some(choice), 0.0)?;
                let is_this = b.eq(index, Num::Const(position as f64 + 1.0));
                result = b.select(is_this, value, result);
            }
            Ok(Lowered::num(result))
        }
    }
}

/// NORM.DIST(x, mean, sd, cumulative) and NORM.S.DIST(z, cumulative): the density in
/// closed form, the cumulative through the IR's standard normal CDF.
fn normal_distribution(b: &mut Builder, args: &[Lowered], standard: bool) -> CallResult {
    let count = if standard { 2 } else { 4 };
    check_arity(args, count, count)?;
    let nums = match super::scalar_numbers(args) {
        Ok(nums) => nums,
        Err(e) => return Ok(Lowered::error(e)),
    };
    let (x, mean, sd, flag) = if standard {
        (nums[0], Num::Const(0.0), Num::Const(1.0), nums[1])
    } else {
        (nums[0], nums[1], nums[2], nums[3])
    };
    if let Num::Const(s) = sd
        && s <= 0.0
    {
        return Ok(Lowered::error(ExcelError::Num));
    }
    let Num::Const(cumulative) = flag else {
        return Err(CallError::Unsupported(
            "the `cumulative` flag must be a constant".into(),
        ));
    };
    let deviation = b.sub(x, mean);
    let z = b.div(deviation, sd);
    if cumulative != 0.0 {
        return Ok(Lowered::num(b.call(Func::NormSDist, &[z])));
    }
    let square = b.mul(z, z);
    let half = b.mul(square, Num::Const(-0.5));
    let kernel = b.call(Func::Exp, &[half]);
    let scale = b.mul(sd, Num::Const(SQRT_2PI));
    Ok(Lowered::num(b.div(kernel, scale)))
}

/// NORM.S.INV(p), NORM.INV(p, mean, sd) and LOGNORM.INV(p, mean, sd) (`log`: the
/// exponential of the normal quantile). Constant arguments fold; formula arguments lower to
/// `mean + sd * NormSInv(p)`, with #NUM! (NaN) in the iterations where p is outside (0, 1)
/// (NormSInv's own) or sd <= 0 (a division by the truth value of sd > 0).
fn normal_inverse(b: &mut Builder, args: &[Lowered], count: usize, log: bool) -> CallResult {
    check_arity(args, count, count)?;
    let nums = match super::scalar_numbers(args) {
        Ok(nums) => nums,
        Err(e) => return Ok(Lowered::error(e)),
    };
    let (p, mean, sd) = if count == 1 {
        (nums[0], Num::Const(0.0), Num::Const(1.0))
    } else {
        (nums[0], nums[1], nums[2])
    };
    let constants: Option<Vec<f64>> = [p, mean, sd].iter().map(|n| n.constant()).collect();
    if let Some(v) = constants {
        let (p, mean, sd) = (v[0], v[1], v[2]);
        if p <= 0.0 || p >= 1.0 || sd <= 0.0 {
            return Ok(Lowered::error(ExcelError::Num));
        }
        let x = mean + sd * inverse_normal_cdf(p);
        return Ok(Lowered::Item(from_num(Num::Const(if log {
            x.exp()
        } else {
            x
        }))));
    }
    if let Num::Const(s) = sd
        && s <= 0.0
    {
        return Ok(Lowered::error(ExcelError::Num));
    }
    let z = b.call(Func::NormSInv, &[p]);
    let scaled = b.mul(sd, z);
    let mut x = b.add(mean, scaled);
    if sd.constant().is_none() {
        let valid = b.call(Func::Gt, &[sd, Num::Const(0.0)]);
        x = b.div(x, valid);
    }
    Ok(Lowered::num(if log { b.call(Func::Exp, &[x]) } else { x }))
}

fn concatenate(args: &[Lowered]) -> CallResult {
    check_arity(args, 1, 255)?;
    let mut text = String::new();
    for arg in args {
        for item in arg.items() {
            match item {
                Item::Value(value) => match value.to_text() {
                    Ok(part) => text.push_str(&part),
                    Err(e) => return Ok(Lowered::error(e)),
                },
                Item::Node(_) => {
                    return Err(CallError::Unsupported(
                        "text concatenation of a random value has no numeric result".into(),
                    ));
                }
            }
        }
    }
    Ok(Lowered::value(Value::Text(text)))
}
