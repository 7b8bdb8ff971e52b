//! The evaluator against values Excel shows, and the compiler against the evaluator: a
//! function lowered with a random argument must compute what it folds to with that
//! argument constant.

mod common;

use std::collections::HashMap;

use ultra_formula::{ExcelError, Value, compile_json_model, evaluate_json_model};

/// Evaluates `formula` in a sheet with a few helper cells.
fn eval(formula: &str) -> Value {
    let cells = serde_json::json!({
        "cells": {"one": 1, "word": "apple", "flag": true, "out": formula}
    });
    let evaluation =
        evaluate_json_model(&cells.to_string()).unwrap_or_else(|e| panic!("{formula}: {e}"));
    evaluation.get("out").cloned().unwrap_or(Value::Empty)
}

fn number(formula: &str) -> f64 {
    match eval(formula) {
        Value::Number(x) => x,
        other => panic!("{formula}: {other:?}"),
    }
}

fn close(formula: &str, expected: f64, tolerance: f64) {
    let got = number(formula);
    assert!(
        (got - expected).abs() <= tolerance,
        "{formula}: {got} vs {expected}"
    );
}

#[test]
fn arithmetic_and_types() {
    assert_eq!(number("=1+2*3"), 7.0);
    assert_eq!(number("=-2^2"), 4.0);
    assert_eq!(number("=2^3^2"), 64.0);
    assert_eq!(number("=50%"), 0.5);
    assert_eq!(number("=\"3\"+1"), 4.0);
    assert_eq!(number("=flag+1"), 2.0);
    assert_eq!(eval("=\"x\"+1"), Value::Error(ExcelError::Value));
    assert_eq!(eval("=1/0"), Value::Error(ExcelError::Div0));
    assert_eq!(eval("=0^0"), Value::Error(ExcelError::Num));
    assert_eq!(eval("=SQRT(-1)"), Value::Error(ExcelError::Num));
    assert_eq!(eval("=10^400"), Value::Error(ExcelError::Num));
    assert_eq!(eval("=#N/A+1"), Value::Error(ExcelError::NA));
    assert_eq!(
        eval("=\"a\"&\"b\"&1.5&TRUE"),
        Value::Text("ab1.5TRUE".into())
    );
    assert_eq!(eval("=word&\"s\""), Value::Text("apples".into()));
    assert_eq!(eval("=\"a\"=\"A\""), Value::Bool(true));
    assert_eq!(eval("=1<\"a\""), Value::Bool(true));
    assert_eq!(eval("=\"z\"<TRUE"), Value::Bool(true));
    assert_eq!(eval("=2>=2"), Value::Bool(true));
}

#[test]
fn math_functions() {
    assert_eq!(number("=ROUND(2.5, 0)"), 3.0);
    assert_eq!(number("=ROUND(-2.5, 0)"), -3.0);
    assert_eq!(number("=ROUND(1234.5678, -2)"), 1200.0);
    assert_eq!(number("=ROUNDUP(3.2, 0)"), 4.0);
    assert_eq!(number("=ROUNDDOWN(-3.7, 0)"), -3.0);
    assert_eq!(number("=INT(-2.5)"), -3.0);
    assert_eq!(number("=TRUNC(-2.5)"), -2.0);
    assert_eq!(number("=TRUNC(2.71828, 2)"), 2.71);
    assert_eq!(number("=MOD(-3, 2)"), 1.0);
    assert_eq!(number("=MOD(3, -2)"), -1.0);
    assert_eq!(eval("=MOD(1, 0)"), Value::Error(ExcelError::Div0));
    assert_eq!(number("=MROUND(10, 3)"), 9.0);
    assert_eq!(number("=FLOOR(-2.5, -2)"), -2.0);
    assert_eq!(number("=FLOOR(2.5, 2)"), 2.0);
    assert_eq!(eval("=FLOOR(2.5, -2)"), Value::Error(ExcelError::Num));
    assert_eq!(number("=CEILING(2.5, 1)"), 3.0);
    assert_eq!(number("=CEILING(-2.5, -2)"), -4.0);
    assert_eq!(number("=SIGN(-3)"), -1.0);
    assert_eq!(number("=ABS(-3)"), 3.0);
    close("=LOG(8, 2)", 3.0, 1e-12);
    close("=LOG(100)", 2.0, 1e-12);
    close("=LN(EXP(2))", 2.0, 1e-12);
    close("=POWER(2, 0.5)", std::f64::consts::SQRT_2, 1e-12);
    close("=PI()", std::f64::consts::PI, 0.0);
}

#[test]
fn logic() {
    assert_eq!(eval("=IF(1>2, \"yes\", \"no\")"), Value::Text("no".into()));
    assert_eq!(eval("=IF(FALSE, 1)"), Value::Bool(false));
    assert_eq!(number("=IF(TRUE,,1)"), 0.0);
    assert_eq!(number("=IFS(1>2, 1, 2>1, 2)"), 2.0);
    assert_eq!(eval("=IFS(FALSE, 1)"), Value::Error(ExcelError::NA));
    assert_eq!(number("=IFERROR(1/0, 7)"), 7.0);
    assert_eq!(number("=IFERROR(5, 7)"), 5.0);
    assert_eq!(eval("=AND(TRUE, 1)"), Value::Bool(true));
    assert_eq!(eval("=OR(FALSE, 0)"), Value::Bool(false));
    assert_eq!(eval("=XOR(TRUE, TRUE)"), Value::Bool(false));
    assert_eq!(eval("=NOT(0)"), Value::Bool(true));
    assert_eq!(eval("=AND(\"x\")"), Value::Error(ExcelError::Value));
    assert_eq!(eval("=CHOOSE(2, \"a\", \"b\")"), Value::Text("b".into()));
    assert_eq!(eval("=CHOOSE(3, 1, 2)"), Value::Error(ExcelError::Value));
    assert_eq!(eval("=ISERROR(1/0)"), Value::Bool(true));
    assert_eq!(eval("=ISNUMBER(word)"), Value::Bool(false));
}

#[test]
fn aggregates() {
    assert_eq!(number("=SUM(1, 2, {3,4}, TRUE)"), 11.0);
    assert_eq!(number("=SUM({1,\"x\",TRUE})"), 1.0);
    assert_eq!(eval("=SUM(1, \"x\")"), Value::Error(ExcelError::Value));
    assert_eq!(number("=PRODUCT(2, 3, 4)"), 24.0);
    assert_eq!(number("=AVERAGE(1, 2, 3, 4)"), 2.5);
    assert_eq!(eval("=AVERAGE({\"x\"})"), Value::Error(ExcelError::Div0));
    assert_eq!(number("=MIN(3, 1, 2)"), 1.0);
    assert_eq!(number("=MAX({3, 7}, 2)"), 7.0);
    assert_eq!(number("=COUNT(1, \"2\", \"x\", {1,\"a\",TRUE})"), 3.0);
    assert_eq!(number("=COUNTA(1, \"x\", {1,\"a\"})"), 4.0);
    assert_eq!(number("=SUMPRODUCT({1,2,3}, {4,5,6})"), 32.0);
    assert_eq!(number("=MEDIAN(1, 2, 3, 4)"), 2.5);
    assert_eq!(number("=MEDIAN({5, 1, 3})"), 3.0);
    assert_eq!(number("=LARGE({3,5,1}, 2)"), 3.0);
    assert_eq!(number("=SMALL({3,5,1}, 1)"), 1.0);
    assert_eq!(eval("=LARGE({3,5,1}, 4)"), Value::Error(ExcelError::Num));
    assert_eq!(number("=SUMIF({1,2,3,4}, \">2\")"), 7.0);
    assert_eq!(number("=SUMIF({\"a\",\"b\",\"a\"}, \"a\", {1,2,3})"), 4.0);
    assert_eq!(
        number("=COUNTIF({\"apple\",\"banana\",\"apricot\"}, \"ap*\")"),
        2.0
    );
    assert_eq!(number("=COUNTIF({1,2,3}, \"<>2\")"), 2.0);
    assert_eq!(number("=COUNTIF({1,2,3}, 2)"), 1.0);
    assert_eq!(number("=AVERAGEIF({1,2,3,4}, \">=2\")"), 3.0);
}

#[test]
fn lookups() {
    let table = "{1,\"a\";2,\"b\";3,\"c\"}";
    assert_eq!(
        eval(&format!("=VLOOKUP(2, {table}, 2, FALSE)")),
        Value::Text("b".into())
    );
    assert_eq!(
        eval(&format!("=VLOOKUP(2.5, {table}, 2)")),
        Value::Text("b".into())
    );
    assert_eq!(
        eval(&format!("=VLOOKUP(0.5, {table}, 2)")),
        Value::Error(ExcelError::NA)
    );
    assert_eq!(
        eval(&format!("=VLOOKUP(9, {table}, 2, FALSE)")),
        Value::Error(ExcelError::NA)
    );
    assert_eq!(
        eval(&format!("=VLOOKUP(2, {table}, 3, FALSE)")),
        Value::Error(ExcelError::Ref)
    );
    assert_eq!(
        number("=HLOOKUP(\"b\", {\"a\",\"b\";10,20}, 2, FALSE)"),
        20.0
    );
    assert_eq!(number("=MATCH(25, {10,20,30}, 1)"), 2.0);
    assert_eq!(number("=MATCH(\"B*\", {\"ax\",\"by\"}, 0)"), 2.0);
    assert_eq!(number("=MATCH(25, {30,20,10}, -1)"), 1.0);
    assert_eq!(number("=INDEX({1,2;3,4}, 2, 1)"), 3.0);
    assert_eq!(number("=INDEX({5,6,7}, 3)"), 7.0);
    assert_eq!(
        eval("=INDEX({1,2;3,4}, 3, 1)"),
        Value::Error(ExcelError::Ref)
    );
    assert_eq!(
        eval("=XLOOKUP(2, {1,2,3}, {\"a\",\"b\",\"c\"})"),
        Value::Text("b".into())
    );
    assert_eq!(
        eval("=XLOOKUP(5, {1,2,3}, {\"a\",\"b\",\"c\"}, \"none\")"),
        Value::Text("none".into())
    );
    assert_eq!(number("=XLOOKUP(2.5, {3,1,2}, {30,10,20}, , -1)"), 20.0);
    assert_eq!(number("=XLOOKUP(2.5, {3,1,2}, {30,10,20}, , 1)"), 30.0);
}

/// Values from Excel's documentation of each function.
#[test]
fn financial_functions() {
    close(
        "=NPV(0.1, -10000, 3000, 4200, 6800)",
        1188.4434123352207,
        1e-9,
    );
    close("=PMT(0.08/12, 10, 10000)", -1037.0320893591606, 1e-9);
    close("=PMT(0, 10, 1000)", -100.0, 1e-12);
    close("=PV(0.08/12, 12*20, 500, , 0)", -59777.14585118638, 1e-8);
    close("=FV(0.06/12, 10, -200, -500, 1)", 2581.4033740601185, 1e-9);
    close("=FV(0, 10, -100)", 1000.0, 1e-12);
    close("=IPMT(0.1/12, 1, 3*12, 8000)", -66.66666666666667, 1e-9);
    close("=IPMT(0.1, 3, 3, 8000)", -292.4471299093658, 1e-9);
    close("=PPMT(0.1/12, 1, 2*12, 2000)", -75.62318600836664, 1e-9);
    close(
        "=NPER(0.12/12, -100, -1000, 10000, 1)",
        59.67386567429457,
        1e-9,
    );
    close("=SLN(30000, 7500, 10)", 2250.0, 1e-12);
    close("=DDB(2400, 300, 10*365, 1)", 1.315068493150685, 1e-9);
    close("=DDB(2400, 300, 10*12, 1, 2)", 40.0, 1e-9);
    close("=DDB(2400, 300, 10, 1, 2)", 480.0, 1e-9);
    close("=DDB(2400, 300, 10, 2, 1.5)", 306.0, 1e-9);
    close("=DDB(2400, 300, 10, 10)", 22.122547200000057, 1e-6);
    assert_eq!(
        eval("=DDB(2400, 300, 10, 11)"),
        Value::Error(ExcelError::Num)
    );
}

#[test]
fn normal_distribution_functions() {
    close("=NORM.S.DIST(1.96, TRUE)", 0.9750021048517795, 1e-12);
    close("=NORM.DIST(42, 40, 1.5, TRUE)", 0.9087887802741321, 1e-12);
    close("=NORM.DIST(42, 40, 1.5, FALSE)", 0.10934004978399575, 1e-12);
    close("=NORM.S.INV(0.908789)", 1.3333346, 1e-6);
    close("=NORM.INV(0.908789, 40, 1.5)", 42.000002, 1e-5);
}

#[test]
fn risk_functions_take_static_values() {
    assert_eq!(number("=RiskNormal(10, 2, RiskStatic(7))"), 7.0);
    assert_eq!(number("=RiskTriang(1, 2, 3, RiskStatic(2.5)) * 2"), 5.0);
    assert_eq!(number("=RiskOutput(\"x\") + 5"), 5.0);
    // Without RiskStatic: the mean, computed by the engine.
    close("=RiskNormal(10, 2)", 10.0, 1e-12);
    close("=RiskUniform(0, 4)", 2.0, 1e-12);
    close("=RiskTriang(80, 100, 130)", 310.0 / 3.0, 1e-9);
    assert_eq!(eval("=RiskNormal(10, -2)"), Value::Error(ExcelError::Value));
}

/// Each formula of `x` is compiled with x random and evaluated through the IR at
/// x = `at`, and evaluated directly with x constant: both must agree.
#[test]
fn lowered_functions_agree_with_folded_ones() {
    let formulas = [
        "x * 2 + 1",
        "-x^2",
        "x%",
        "ABS(x - 3)",
        "SIGN(x - 3)",
        "SQRT(x)",
        "EXP(x / 10)",
        "LN(x)",
        "LOG(x, 2)",
        "LOG10(x)",
        "POWER(x, 3)",
        "MOD(x * 7, 3)",
        "ROUND(x * 1.37, 1)",
        "ROUNDUP(x * 1.37, 1)",
        "ROUNDDOWN(x * 1.37, 1)",
        "INT(x * 1.5)",
        "TRUNC(x * 1.5)",
        "FLOOR(x * 3.3, 2)",
        "CEILING(x * 3.3, 2)",
        "MROUND(x * 3.3, 2)",
        "IF(x > 2, x, -x)",
        "IFS(x < 1, 1, x < 3, 2, TRUE, 3)",
        "IFERROR(1 / (x - 2.5), -1)",
        "AND(x > 1, x < 3)",
        "OR(x > 3, x < 1)",
        "XOR(x > 1, x < 3)",
        "NOT(x > 2)",
        "CHOOSE(x, 10, 20, 30)",
        "SUM(x, 1, {2, 3})",
        "PRODUCT(x, 2)",
        "AVERAGE(x, 1, 2)",
        "MIN(x, 2)",
        "MAX(x, 2)",
        "COUNT(x, 1)",
        "NPV(x / 10, 100, 200, 300)",
        "PV(x / 100, 10, -100)",
        "FV(x / 100, 10, -100, 0, 1)",
        "PMT(x / 100, 12, 1000)",
        "PMT(x - 2.5, 12, 1000)",
        "IPMT(x / 100, 2, 12, 1000)",
        "PPMT(x / 100, 2, 12, 1000)",
        "NPER(x / 100, -100, 1000)",
        "SLN(1000, 100, x)",
        "DDB(1000, 100, 5, x)",
        "SUMPRODUCT({1,2,3}, {1,1,1}) * x",
        "VLOOKUP(x, {1,10;2,20;3,30}, 2)",
        "VLOOKUP(x, {1,10;2,20;3,30}, 2, FALSE)",
        "HLOOKUP(x, {1,2,3;10,20,30}, 2)",
        "MATCH(x, {1,2,3}, 0)",
        "MATCH(x, {3,2,1}, -1)",
        "INDEX({10,20,30}, x)",
        "XLOOKUP(x, {3,1,2}, {30,10,20}, -5, -1)",
        "XLOOKUP(x, {3,1,2}, {30,10,20}, -5, 1)",
        "SUMIF({1,2,3}, x)",
        "COUNTIF({1,2,3,2}, x)",
        "SUMIF({1,2,3}, \">1\") * x",
        "NORM.DIST(x, 2, 1, FALSE)",
        "ISERROR(1/(x-2))",
        "ISNUMBER(x)",
        "x = 2",
        "x <> 2",
    ];
    for at in [0.5, 1.0, 2.0, 2.5, 3.0] {
        for formula in formulas {
            let text = serde_json::json!({"cells": {
                "x": format!("=RiskUniform(0, 4, RiskStatic({at}))"),
                "out": format!("=RiskOutput() + {formula}"),
            }})
            .to_string();
            let compiled = compile_json_model(&text).unwrap_or_else(|e| panic!("{formula}: {e}"));
            let lowered =
                common::run(&compiled.model, &HashMap::from([("x".to_string(), at)]))["out"];
            let folded = evaluate_json_model(&text)
                .expect("evaluates")
                .get("out")
                .cloned();
            match folded {
                Some(Value::Number(expected)) => {
                    assert!(
                        (lowered - expected).abs() <= 1e-12 * expected.abs().max(1.0),
                        "{formula} at {at}: {lowered} vs {expected}"
                    );
                }
                Some(Value::Bool(b)) => {
                    assert_eq!(lowered, if b { 1.0 } else { 0.0 }, "{formula} at {at}")
                }
                Some(Value::Error(_)) => assert!(
                    lowered.is_nan(),
                    "{formula} at {at}: {lowered} should be an error"
                ),
                other => panic!("{formula} at {at}: {other:?}"),
            }
        }
    }
}
