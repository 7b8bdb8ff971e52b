//! JSON models: lowering, names, cycles, unsupported functions, hostile sizes.

mod common;

use std::collections::HashMap;

use ultra_engine::dist::Family;
use ultra_engine::ir::{Correlation, Func, Node, Op};
use ultra_formula::{FormulaError, compile_json_model, evaluate_json_model};

fn compile(cells: &str) -> Result<ultra_formula::Compiled, FormulaError> {
    compile_json_model(&format!(r#"{{"name": "t", "cells": {{{cells}}}}}"#))
}

fn node<'a>(nodes: &'a [Node], label: &str) -> &'a Node {
    nodes
        .iter()
        .find(|n| n.label.as_deref() == Some(label))
        .unwrap_or_else(|| panic!("no node {label}"))
}

#[test]
fn npv10_lowers_and_computes_the_npv() {
    let text = std::fs::read_to_string("tests/data/npv10.json").expect("model file");
    let compiled = compile_json_model(&text).expect("compiles");
    assert_eq!(compiled.model.name, "Ten-year project NPV");
    assert_eq!(compiled.cell_count, 27);
    let names: Vec<&str> = compiled.outputs.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(names, ["NPV", "Total cash"]);
    let inputs: Vec<(&str, &str)> = compiled
        .inputs
        .iter()
        .map(|i| (i.name.as_str(), i.distribution.as_str()))
        .collect();
    assert_eq!(
        inputs,
        [
            ("base_revenue", "RiskTriang(80,100,130)"),
            ("growth", "RiskNormal(0.05,0.02)"),
            ("cost_ratio", "RiskUniform(0.55,0.7)"),
            ("rate", "RiskUniform(0.07,0.11)"),
        ]
    );
    let nodes = &compiled.model.nodes;
    let Op::Input(triang) = &node(nodes, "base_revenue").op else {
        panic!("not an input")
    };
    assert_eq!(triang.distribution, Family::Triang);
    assert_eq!(triang.params.len(), 3);
    let [Correlation::Pair { a, b, rank }] = compiled.model.correlations.as_slice() else {
        panic!("one pair expected")
    };
    assert_eq!(
        (*a, *b, *rank),
        (
            node(nodes, "base_revenue").id,
            node(nodes, "growth").id,
            0.3
        )
    );
    // Cells are labelled; the constant `investment` is folded into a constant node.
    assert!(nodes.iter().any(|n| n.label.as_deref() == Some("cf10")));
    assert!(
        !nodes
            .iter()
            .any(|n| n.label.as_deref() == Some("investment"))
    );
    // rev1 = base_revenue is an alias: no node of its own.
    assert!(!nodes.iter().any(|n| n.label.as_deref() == Some("rev1")));

    let values: HashMap<String, f64> = [
        ("base_revenue", 100.0),
        ("growth", 0.05),
        ("cost_ratio", 0.6),
        ("rate", 0.09),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let outputs = common::run(&compiled.model, &values);
    let cash: Vec<f64> = (0..10).map(|i| 100.0 * 1.05f64.powi(i) * 0.4).collect();
    let npv: f64 = cash
        .iter()
        .enumerate()
        .map(|(i, c)| c / 1.09f64.powi(i as i32 + 1))
        .sum::<f64>()
        - 250.0;
    assert!(
        (outputs["NPV"] - npv).abs() < 1e-9,
        "{} vs {npv}",
        outputs["NPV"]
    );
    let total: f64 = cash.iter().sum();
    assert!((outputs["Total cash"] - total).abs() < 1e-9);
}

#[test]
fn only_needed_cells_are_lowered_and_constants_fold() {
    let compiled = compile(
        r#""unused": "=RiskNormal(0, 1)", "k": "=2*3+1", "x": "=RiskUniform(0, 1)",
           "y": "=x * k + SUM(1, 2)", "out": "=RiskOutput() + y""#,
    )
    .expect("compiles");
    assert_eq!(compiled.inputs.len(), 1);
    assert_eq!(compiled.outputs[0].name, "out");
    assert_eq!(compiled.evaluated_cells, 4);
    let nodes = &compiled.model.nodes;
    assert!(nodes.iter().any(|n| n.op == Op::Const { value: 7.0 }));
    assert!(nodes.iter().any(|n| n.op == Op::Const { value: 3.0 }));
    // 0 and 1 (parameters), the input, 7, x * 7, 3, + 3, the output.
    assert_eq!(nodes.len(), 8, "{nodes:#?}");
}

#[test]
fn names_win_over_addresses_and_are_case_insensitive() {
    let compiled = compile(r#""CF1": "=RiskUniform(0, 1)", "out": "=RiskOutput(\"o\") + cf1 * 2""#)
        .expect("compiles");
    assert_eq!(compiled.inputs[0].cell, "CF1");
    let unknown = compile(r#""out": "=RiskOutput() + A1""#).expect_err("A1 is no cell");
    assert!(
        matches!(unknown, FormulaError::UnknownName { ref name, column: 17, .. } if name == "A1"),
        "{unknown}"
    );
    let absolute = compile(r#""out": "=RiskOutput() + $A$1""#).expect_err("no grid");
    assert!(
        matches!(absolute, FormulaError::Reference { .. }),
        "{absolute}"
    );
    let duplicate =
        compile(r#""x": 1, "X": 2, "out": "=RiskOutput() + x""#).expect_err("duplicate");
    assert!(matches!(duplicate, FormulaError::InvalidModel(_)));
}

#[test]
fn cycles_name_their_cells() {
    let error =
        compile(r#""a": "=b + 1", "b": "=c * 2", "c": "=a", "d": 1, "out": "=RiskOutput() + a""#)
            .expect_err("cycle");
    let FormulaError::Cycle { cells } = error else {
        panic!("{error}")
    };
    let mut names: Vec<String> = cells.iter().map(|c| c.cell.clone()).collect();
    names.sort();
    assert_eq!(names, ["a", "b", "c"]);
    let evaluation = evaluate_json_model(r#"{"cells": {"a": "=a + 1"}}"#).expect_err("self cycle");
    assert!(
        evaluation.to_string().contains("circular reference: a"),
        "{evaluation}"
    );
}

#[test]
fn unsupported_functions_are_listed_at_once() {
    let error = compile(
        r#""x": "=RiskNormal(10, 1)", "a": "=MIRR(x, 0.1, 0.1)", "b": "=INDIRECT(x)",
           "c": "=FOO(x) + OFFSET(x, 1, 1)", "out": "=RiskOutput() + a + b + c""#,
    )
    .expect_err("unsupported");
    let FormulaError::Unsupported { calls } = &error else {
        panic!("{error}")
    };
    let listed: Vec<(&str, &str)> = calls
        .iter()
        .map(|c| (c.location.cell.as_str(), c.function.as_str()))
        .collect();
    assert_eq!(
        listed,
        [
            ("a", "MIRR"),
            ("b", "INDIRECT"),
            ("c", "FOO"),
            ("c", "OFFSET")
        ]
    );
    assert_eq!(calls[2].column, 2);
    assert!(
        error
            .to_string()
            .starts_with("4 unsupported function call(s)"),
        "{error}"
    );
}

#[test]
fn parse_and_function_errors_name_the_cell() {
    let error = compile(r#""x": "=1 +* 2", "out": "=RiskOutput() + 1""#).expect_err("parse");
    assert!(
        matches!(&error, FormulaError::Parse { location, column: 5, .. } if location.cell == "x"),
        "{error}"
    );
    let error = compile(r#""out": "=RiskOutput() + ROUND(1)""#).expect_err("arity");
    assert!(
        matches!(&error, FormulaError::Function { function, column: 17, .. } if function == "ROUND"),
        "{error}"
    );
    let error =
        compile(r#""x": "=RiskTriang(1, 2)", "out": "=RiskOutput() + x""#).expect_err("arity");
    assert!(error.to_string().contains("RiskTriang"), "{error}");
    assert_eq!(
        compile(r#""x": 1"#).expect_err("no outputs"),
        FormulaError::NoOutputs
    );
    let error =
        compile(r#""a": "=RiskOutput(\"o\")", "b": "=RiskOutput(\"o\")""#).expect_err("dup");
    assert!(matches!(error, FormulaError::DuplicateOutput { .. }));
    let error = compile_json_model("{\"cells\": [1]}").expect_err("shape");
    assert!(matches!(error, FormulaError::Json(_)));
}

#[test]
fn risk_functions_map_to_families_and_properties() {
    let compiled = compile(
        r#""t": "=RiskTrigen(100, 200, 300, 10, 90)",
           "d": "=RiskDiscrete({1,2,3}, {0.2,0.3,0.5})",
           "c": "=RiskCumul(0, 10, {2,5}, {0.3,0.8})",
           "h": "=RiskHistogrm(0, 3, {1,2,1})",
           "n": "=RiskNormal(t, 5, RiskTruncate(, 250), RiskShift(1), RiskName(\"noise\"), RiskStatic(3), RiskUnits(\"$\"))",
           "out": "=RiskOutput() + t + d + c + h + n""#,
    )
    .expect("compiles");
    let nodes = &compiled.model.nodes;
    let constant = |id: u32| match nodes[id as usize].op {
        Op::Const { value } => value,
        ref op => panic!("not constant: {op:?}"),
    };
    let Op::Input(trigen) = &node(nodes, "t").op else {
        panic!()
    };
    assert_eq!(constant(trigen.params[3]), 0.1);
    assert_eq!(constant(trigen.params[4]), 0.9);
    let Op::Input(discrete) = &node(nodes, "d").op else {
        panic!()
    };
    assert_eq!(
        discrete.distribution,
        Family::Discrete {
            values: vec![1.0, 2.0, 3.0],
            weights: vec![0.2, 0.3, 0.5]
        }
    );
    assert!(discrete.params.is_empty());
    let Op::Input(cumul) = &node(nodes, "c").op else {
        panic!()
    };
    assert_eq!(
        cumul.distribution,
        Family::Cumul {
            xs: vec![2.0, 5.0],
            ps: vec![0.3, 0.8]
        }
    );
    let Op::Input(normal) = &node(nodes, "n").op else {
        panic!()
    };
    assert_eq!(
        normal.params[0],
        node(nodes, "t").id,
        "parameters may be other cells"
    );
    assert_eq!(normal.lower, None);
    assert_eq!(normal.upper.map(constant), Some(250.0));
    assert_eq!(normal.shift.map(constant), Some(1.0));
    assert_eq!(normal.name.as_deref(), Some("noise"));
    assert_eq!(
        compiled
            .inputs
            .iter()
            .find(|i| i.cell == "n")
            .map(|i| i.name.as_str()),
        Some("noise")
    );
}

#[test]
fn iferror_lowers_to_a_nan_test() {
    let compiled =
        compile(r#""x": "=RiskNormal(0, 1)", "out": "=RiskOutput() + IFERROR(1 / x, -1)""#)
            .expect("compiles");
    let nodes = &compiled.model.nodes;
    let x = node(nodes, "x").id;
    let divide = nodes
        .iter()
        .find(|n| matches!(&n.op, Op::Call { func: Func::Div, args } if args[1] == x))
        .expect("1/x");
    assert!(nodes.iter().any(|n| n.op
        == Op::Call {
            func: Func::Ne,
            args: vec![divide.id, divide.id]
        }));
    let values = HashMap::from([("x".to_string(), 0.0)]);
    assert_eq!(common::run(&compiled.model, &values)["out"], -1.0);
}

/// `a0 = 1`, `a1 = a0 + 1`, ... 100,000 cells deep, on a test thread's small stack.
#[test]
fn a_hundred_thousand_cell_chain_does_not_overflow() {
    let count = 100_000;
    let mut cells = vec![r#""a0": "=RiskUniform(0, 1)""#.to_string()];
    cells.extend((1..count).map(|i| format!(r#""a{i}": "=a{} + 1""#, i - 1)));
    cells.push(format!(r#""out": "=RiskOutput() + a{}""#, count - 1));
    let text = format!(r#"{{"cells": {{{}}}}}"#, cells.join(","));
    let compiled = compile_json_model(&text).expect("compiles");
    assert_eq!(compiled.evaluated_cells, count + 1);
    let values = HashMap::from([("a0".to_string(), 0.5)]);
    assert_eq!(
        common::run(&compiled.model, &values)["out"],
        0.5 + (count - 1) as f64
    );
    let evaluation = evaluate_json_model(&text).expect("evaluates");
    assert_eq!(
        evaluation.get("out"),
        Some(&ultra_formula::Value::Number(99_999.0 + 0.5))
    );
}

#[test]
fn hostile_formula_sizes_are_refused() {
    let huge = "1+".repeat(5 << 20);
    let error = compile(&format!(r#""out": "=RiskOutput() + {huge}1""#)).expect_err("too long");
    assert!(
        matches!(&error, FormulaError::Parse { column: 1, .. }),
        "{error}"
    );
    let deep = format!("={}1{}", "(".repeat(30_000), ")".repeat(30_000));
    let error = compile(&format!(r#""out": "{deep}""#)).expect_err("too deep");
    assert!(error.to_string().contains("nesting"), "{error}");
}

/// The deepest trees the parser accepts still lower and evaluate on a test thread's
/// 2 MiB stack (debug build).
#[test]
fn deepest_accepted_formulas_fit_the_stack() {
    let depth = ultra_formula::MAX_NESTING - 1;
    let formulas = [
        format!("{}x{}", "ABS(".repeat(depth), ")".repeat(depth)),
        format!("{}x{}", "(1+".repeat(depth), ")".repeat(depth)),
        format!("{}x{}", "IF(x>0,".repeat(depth), ",0)".repeat(depth)),
        format!("{}x", "-".repeat(depth)),
        format!("x{}", "+1".repeat(ultra_formula::MAX_EXPRESSION_DEPTH - 3)),
    ];
    for formula in formulas {
        let text = serde_json::json!({"cells": {
            "x": "=RiskUniform(1, 2)",
            "out": format!("=RiskOutput() + {formula}"),
        }})
        .to_string();
        let handle = std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(move || {
                compile_json_model(&text).map(|_| ())?;
                evaluate_json_model(&text).map(|_| ())
            })
            .expect("thread");
        handle.join().expect("no stack overflow").expect("compiles");
    }
}

#[test]
fn solvers_and_order_statistics_lower_on_random_arguments() {
    let compiled = compile(
        r#""x": "=RiskUniform(-200, -100)", "a": "=SMALL({1, 4}, 1) * x", "b": "=MEDIAN(x, 1, 2)",
           "c": "=NORM.S.DIST(x / 100, TRUE) + LARGE({1, 5, 3}, 2) + RATE(3, x / 10, 50)",
           "d": "=STDEV(x, 1, 2)", "out": "=RiskOutput() + a + b + c + d""#,
    )
    .expect("compiles");
    let funcs: Vec<Func> = compiled
        .model
        .nodes
        .iter()
        .filter_map(|n| match &n.op {
            Op::Call { func, .. } => Some(*func),
            _ => None,
        })
        .collect();
    // IRR and XIRR take ranges: tested on workbooks.
    for func in [Func::Median, Func::NormSDist, Func::Rate] {
        assert!(funcs.contains(&func), "{func:?} missing in {funcs:?}");
    }
}

/// NORM.INV, NORM.S.INV and LOGNORM.INV of random arguments lower to the IR's NormSInv:
/// per iteration they give the quantile (references: scipy.stats.norm.ppf(0.3) =
/// -0.5244005127080407, ppf(0.975) = 1.959963984540054), and #NUM! (NaN) where p leaves
/// (0, 1) or the standard deviation is not positive.
#[test]
fn normal_quantiles_of_random_values() {
    let compiled = compile(
        r#""p": "=RiskUniform(0, 1)", "s": "=RiskUniform(-1, 3)",
           "a": "=RiskOutput() + NORM.INV(p, 10, 2)", "b": "=RiskOutput() + NORM.S.INV(p)",
           "c": "=RiskOutput() + LOGNORM.INV(p, 0, 0.5)", "d": "=RiskOutput() + NORM.INV(p, 0, s)""#,
    )
    .expect("compiles");
    let at = |p: f64, s: f64| {
        let values = HashMap::from([("p".to_string(), p), ("s".to_string(), s)]);
        common::run(&compiled.model, &values)
    };
    let z30 = -0.5244005127080407;
    let z975 = 1.959963984540054;
    let out = at(0.3, 2.0);
    assert!((out["a"] - (10.0 + 2.0 * z30)).abs() < 1e-12, "{out:?}");
    assert!((out["b"] - z30).abs() < 1e-12);
    assert!((out["c"] - (0.5 * z30).exp()).abs() < 1e-12);
    assert!((out["d"] - 2.0 * z30).abs() < 1e-12);
    assert!((at(0.975, 1.0)["b"] - z975).abs() < 1e-12);
    let bad_sd = at(0.3, -0.5);
    assert!(bad_sd["d"].is_nan() && !bad_sd["a"].is_nan(), "{bad_sd:?}");
    assert!(at(0.3, 0.0)["d"].is_nan());
    for p in [0.0, 1.0] {
        let out = at(p, 1.0);
        assert!(
            ["a", "b", "c", "d"].iter().all(|k| out[*k].is_nan()),
            "{out:?}"
        );
    }
}
