//! Elementwise kernels over one chunk: plain loops over slices of equal length, which the
//! compiler vectorises. Excel semantics where they differ from IEEE: errors (division by
//! zero, MOD by zero) are NaN, which statistics count as error iterations.

use crate::dist::special;
use crate::functions;
use crate::ir::Func;

#[inline(always)]
fn unary(out: &mut [f64], a: &[f64], f: impl Fn(f64) -> f64) {
    for (o, &x) in out.iter_mut().zip(a) {
        *o = f(x);
    }
}

#[inline(always)]
fn binary(out: &mut [f64], a: &[f64], b: &[f64], f: impl Fn(f64, f64) -> f64) {
    for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
        *o = f(x, y);
    }
}

/// Folds `args` into `out` with `f`, starting from the first argument.
#[inline(always)]
fn fold(out: &mut [f64], args: &[&[f64]], f: impl Fn(f64, f64) -> f64) {
    out.copy_from_slice(args[0]);
    for arg in &args[1..] {
        for (o, &x) in out.iter_mut().zip(*arg) {
            *o = f(*o, x);
        }
    }
}

fn truth(x: bool) -> f64 {
    if x { 1.0 } else { 0.0 }
}

/// Minimum that propagates NaN (an error in any argument is an error of the result).
fn min_propagating(a: f64, b: f64) -> f64 {
    if a < b || a.is_nan() { a } else { b }
}

fn max_propagating(a: f64, b: f64) -> f64 {
    if a > b || a.is_nan() { a } else { b }
}

/// Excel's SIGN: 0 for 0.
fn sign(x: f64) -> f64 {
    if x > 0.0 {
        1.0
    } else if x < 0.0 {
        -1.0
    } else {
        x * 0.0
    }
}

fn scale(digits: f64) -> f64 {
    10f64.powi(digits.trunc().clamp(-308.0, 308.0) as i32)
}

/// Excel's ROUND: halves away from zero.
fn round(x: f64, digits: f64) -> f64 {
    let m = scale(digits);
    (x * m).round() / m
}

fn round_up(x: f64, digits: f64) -> f64 {
    let m = scale(digits);
    (x.abs() * m).ceil().copysign(x) / m
}

fn round_down(x: f64, digits: f64) -> f64 {
    let m = scale(digits);
    (x * m).trunc() / m
}

/// Excel's MOD: the result has the sign of the divisor.
fn modulo(x: f64, y: f64) -> f64 {
    if y == 0.0 {
        f64::NAN
    } else {
        x - y * (x / y).floor()
    }
}

fn divide(x: f64, y: f64) -> f64 {
    if y == 0.0 { f64::NAN } else { x / y }
}

/// Evaluates `func` over a chunk. `args` has the arity checked by validation.
pub(crate) fn apply(func: Func, out: &mut [f64], args: &[&[f64]]) {
    use Func::*;
    match func {
        Neg => unary(out, args[0], |x| -x),
        Not => unary(out, args[0], |x| truth(x == 0.0)),
        Exp => unary(out, args[0], f64::exp),
        Ln => unary(out, args[0], f64::ln),
        Log10 => unary(out, args[0], f64::log10),
        Sqrt => unary(out, args[0], f64::sqrt),
        Abs => unary(out, args[0], f64::abs),
        Sign => unary(out, args[0], sign),
        Floor => unary(out, args[0], f64::floor),
        Ceiling => unary(out, args[0], f64::ceil),
        Trunc => unary(out, args[0], f64::trunc),
        Add => binary(out, args[0], args[1], |x, y| x + y),
        Sub => binary(out, args[0], args[1], |x, y| x - y),
        Mul => binary(out, args[0], args[1], |x, y| x * y),
        Div => binary(out, args[0], args[1], divide),
        Pow => binary(out, args[0], args[1], f64::powf),
        Eq => binary(out, args[0], args[1], |x, y| truth(x == y)),
        Ne => binary(out, args[0], args[1], |x, y| truth(x != y)),
        Lt => binary(out, args[0], args[1], |x, y| truth(x < y)),
        Le => binary(out, args[0], args[1], |x, y| truth(x <= y)),
        Gt => binary(out, args[0], args[1], |x, y| truth(x > y)),
        Ge => binary(out, args[0], args[1], |x, y| truth(x >= y)),
        Round => binary(out, args[0], args[1], round),
        RoundUp => binary(out, args[0], args[1], round_up),
        RoundDown => binary(out, args[0], args[1], round_down),
        Mod => binary(out, args[0], args[1], modulo),
        Select => {
            for (((o, &c), &t), &f) in out.iter_mut().zip(args[0]).zip(args[1]).zip(args[2]) {
                *o = if c.is_nan() {
                    c
                } else if c != 0.0 {
                    t
                } else {
                    f
                };
            }
        }
        Sum => fold(out, args, |acc, x| acc + x),
        Product => fold(out, args, |acc, x| acc * x),
        Min => fold(out, args, min_propagating),
        Max => fold(out, args, max_propagating),
        // Logical functions: fold truth values, keeping NaN (an error) as NaN.
        And => {
            fold(out, args, |acc, x| {
                if x.is_nan() { x } else { acc * truth(x != 0.0) }
            });
            unary_in_place(out, |x| if x.is_nan() { x } else { truth(x != 0.0) });
        }
        Or => {
            fold(out, args, |acc, x| {
                if x.is_nan() {
                    x
                } else {
                    truth(acc != 0.0 || x != 0.0)
                }
            });
            unary_in_place(out, |x| if x.is_nan() { x } else { truth(x != 0.0) });
        }
        NormSDist => unary(out, args[0], special::normal_cdf),
        NormSInv => unary(out, args[0], |p| {
            if p > 0.0 && p < 1.0 {
                special::inverse_normal_cdf(p)
            } else {
                f64::NAN
            }
        }),
        Median => gather(out, args, functions::median),
        Large => gather(out, args, |row| {
            let (k, values) = row.split_at_mut(1);
            functions::kth(values, k[0], true)
        }),
        Small => gather(out, args, |row| {
            let (k, values) = row.split_at_mut(1);
            functions::kth(values, k[0], false)
        }),
        Irr => gather(out, args, |row| functions::irr(row)),
        Rate => gather(out, args, |row| functions::rate(row)),
        Xirr => gather(out, args, |row| functions::xirr(row)),
        Xor => {
            fold(out, args, |acc, x| {
                if x.is_nan() {
                    x
                } else {
                    truth((acc != 0.0) != (x != 0.0))
                }
            });
            unary_in_place(out, |x| if x.is_nan() { x } else { truth(x != 0.0) });
        }
    }
}

/// Applies `f` to each iteration's arguments gathered into a small buffer: for the
/// functions that need all their arguments at once (order statistics, root finders).
fn gather(out: &mut [f64], args: &[&[f64]], f: impl Fn(&mut [f64]) -> f64) {
    let mut row = vec![0.0; args.len()];
    for (j, o) in out.iter_mut().enumerate() {
        for (value, arg) in row.iter_mut().zip(args) {
            *value = arg[j];
        }
        *o = f(&mut row);
    }
}

fn unary_in_place(out: &mut [f64], f: impl Fn(f64) -> f64) {
    for o in out.iter_mut() {
        *o = f(*o);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(func: Func, args: &[&[f64]]) -> Vec<f64> {
        let mut out = vec![0.0; args[0].len()];
        apply(func, &mut out, args);
        out
    }

    #[test]
    fn excel_semantics() {
        assert_eq!(
            eval(Func::Round, &[&[2.5, -2.5, 1.234], &[0.0, 0.0, 2.0]]),
            [3.0, -3.0, 1.23]
        );
        assert_eq!(
            eval(Func::RoundUp, &[&[3.2, -3.2], &[0.0, 0.0]]),
            [4.0, -4.0]
        );
        assert_eq!(
            eval(Func::RoundDown, &[&[3.7, -3.7], &[0.0, 0.0]]),
            [3.0, -3.0]
        );
        assert_eq!(eval(Func::Round, &[&[1234.0], &[-2.0]]), [1200.0]);
        assert_eq!(
            eval(Func::Mod, &[&[3.0, -3.0, 3.0], &[2.0, 2.0, -2.0]]),
            [1.0, 1.0, -1.0]
        );
        assert!(eval(Func::Mod, &[&[1.0], &[0.0]])[0].is_nan());
        assert!(eval(Func::Div, &[&[1.0], &[0.0]])[0].is_nan());
        assert_eq!(eval(Func::Sign, &[&[-2.0, 0.0, 5.0]]), [-1.0, 0.0, 1.0]);
        assert_eq!(
            eval(Func::Select, &[&[1.0, 0.0], &[10.0, 10.0], &[20.0, 20.0]]),
            [10.0, 20.0]
        );
        assert_eq!(
            eval(Func::And, &[&[1.0, 2.0, 0.0], &[3.0, 0.0, 0.0]]),
            [1.0, 0.0, 0.0]
        );
        assert_eq!(
            eval(Func::Or, &[&[1.0, 0.0, 0.0], &[0.0, 0.0, -1.0]]),
            [1.0, 0.0, 1.0]
        );
        assert_eq!(
            eval(Func::Xor, &[&[1.0, 1.0], &[1.0, 0.0], &[1.0, 0.0]]),
            [1.0, 1.0]
        );
        assert_eq!(
            eval(Func::Min, &[&[1.0, 5.0], &[3.0, 2.0], &[2.0, 4.0]]),
            [1.0, 2.0]
        );
        assert!(eval(Func::Max, &[&[1.0], &[f64::NAN]])[0].is_nan());
        assert!(eval(Func::Min, &[&[f64::NAN], &[1.0]])[0].is_nan());
        assert_eq!(eval(Func::Sum, &[&[1.0], &[2.0], &[3.5]]), [6.5]);
        assert_eq!(eval(Func::Product, &[&[2.0], &[3.0], &[4.0]]), [24.0]);
        assert_eq!(eval(Func::NormSDist, &[&[0.0]]), [0.5]);
        assert_eq!(eval(Func::NormSInv, &[&[0.5]]), [0.0]);
        let outside = eval(Func::NormSInv, &[&[0.0, 1.0, -0.5, 2.0, f64::NAN]]);
        assert!(outside.iter().all(|x| x.is_nan()), "{outside:?}");
        assert_eq!(
            eval(Func::Median, &[&[1.0, 9.0], &[5.0, 2.0], &[3.0, 4.0]]),
            [3.0, 4.0]
        );
        assert_eq!(
            eval(Func::Large, &[&[2.0, 1.0], &[1.0, 7.0], &[8.0, 3.0]]),
            [1.0, 7.0]
        );
        assert_eq!(
            eval(Func::Small, &[&[2.0, 1.0], &[1.0, 7.0], &[8.0, 3.0]]),
            [8.0, 3.0]
        );
        let irr = eval(Func::Irr, &[&[-100.0, -100.0], &[110.0, 121.0]]);
        assert!(
            (irr[0] - 0.1).abs() < 1e-12 && (irr[1] - 0.21).abs() < 1e-12,
            "{irr:?}"
        );
    }
}
