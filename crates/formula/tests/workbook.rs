//! Workbook import: names, sheets, options, RiskCorrmat, and npv10.xlsx against npv10.json.

mod common;

use std::collections::HashMap;

use common::xlsx::{SheetSpec, cells, simple, workbook};
use ultra_engine::dist::Family;
use ultra_engine::ir::{Correlation, Op};
use ultra_formula::{
    Compiled, FormulaError, InputChoice, OutputChoice, Value, WorkbookOptions, compile_json_model,
    compile_workbook, compile_workbook_file, evaluate_workbook,
};

fn value(evaluation: &ultra_formula::Evaluation, label: &str) -> Value {
    evaluation
        .cells
        .iter()
        .find(|(l, _)| l.to_string() == label)
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| panic!("no cell {label}"))
}

#[test]
fn names_sheets_and_whole_columns() {
    let bytes = workbook(
        &[
            SheetSpec {
                name: "In",
                data: cells(&[("A1", "1"), ("A2", "2"), ("A3", "3"), ("B1", "=SUM(A:A)")]),
            },
            SheetSpec {
                name: "Out Sheet",
                data: cells(&[
                    ("A1", "=rate*10"),
                    ("A2", "=In!B1+twice"),
                    ("A3", "=nowhere"),
                ]),
            },
        ],
        r#"<definedName name="rate">In!$A$2</definedName><definedName name="rate" localSheetId="1">In!$A$3</definedName><definedName name="twice">In!$A$1*2</definedName>"#,
        &[],
    );
    let evaluation = evaluate_workbook(&bytes).expect("evaluates");
    assert_eq!(value(&evaluation, "In!B1"), Value::Number(6.0));
    // The sheet-scoped name wins on its sheet.
    assert_eq!(value(&evaluation, "Out Sheet!A1"), Value::Number(30.0));
    assert_eq!(value(&evaluation, "Out Sheet!A2"), Value::Number(8.0));
    assert_eq!(
        value(&evaluation, "Out Sheet!A3"),
        Value::Error(ultra_formula::ExcelError::Name)
    );
    assert_eq!(evaluation.cells.len(), 4);
}

#[test]
fn caller_chosen_inputs_and_outputs() {
    let bytes = simple(&[
        ("A1", "100"),
        ("A2", "0.1"),
        ("A3", "=A1*(1+A2)"),
        ("A4", "text"),
    ]);
    assert_eq!(
        compile_workbook("m", &bytes, &WorkbookOptions::default()),
        Err(FormulaError::NoOutputs)
    );
    let options = WorkbookOptions {
        outputs: vec![OutputChoice {
            cell: "Sheet1!A3".into(),
            name: Some("value".into()),
        }],
        inputs: vec![InputChoice::from_family(
            "A2",
            &Family::Normal,
            &[0.1, 0.02],
            Some("growth"),
        )],
    };
    let compiled = compile_workbook("m", &bytes, &options).expect("compiles");
    assert_eq!(compiled.inputs.len(), 1);
    assert_eq!(compiled.inputs[0].name, "growth");
    assert_eq!(compiled.inputs[0].cell, "A2");
    assert_eq!(compiled.inputs[0].sheet.as_deref(), Some("Sheet1"));
    assert_eq!(compiled.outputs[0].name, "value");
    let out = common::run(&compiled.model, &HashMap::from([("Sheet1!A2".into(), 0.5)]));
    assert!((out["value"] - 150.0).abs() < 1e-12);
    let bad = WorkbookOptions {
        inputs: vec![InputChoice {
            cell: "A2".into(),
            distribution: "SUM(1)".into(),
        }],
        ..options
    };
    assert!(matches!(
        compile_workbook("m", &bytes, &bad),
        Err(FormulaError::InvalidModel(_))
    ));
}

#[test]
fn irr_on_random_cash_flows_lowers_to_the_solver() {
    let bytes = simple(&[
        ("A1", "=RiskUniform(-200,-100)"),
        ("A2", "60"),
        ("A3", "70"),
        ("A4", "80"),
        ("B1", "=RiskOutput(\"irr\")+IRR(A1:A4)"),
    ]);
    let compiled = compile_workbook("m", &bytes, &WorkbookOptions::default()).expect("compiles");
    let out = common::run(
        &compiled.model,
        &HashMap::from([("Sheet1!A1".into(), -150.0)]),
    );
    let npv: f64 = [-150.0, 60.0, 70.0, 80.0]
        .iter()
        .enumerate()
        .map(|(t, v)| v / (1.0 + out["irr"]).powi(t as i32))
        .sum();
    assert!(npv.abs() < 1e-9, "{npv}");
}

#[test]
fn corrmat_builds_a_matrix_from_a_triangle() {
    let bytes = simple(&[
        ("A1", "=RiskNormal(0,1,RiskCorrmat($D$1:$F$3,1))"),
        ("A2", "=RiskUniform(0,1,RiskCorrmat($D$1:$F$3,3))"),
        ("A3", "=RiskOutput(\"s\")+A1+A2"),
        ("D1", "1"),
        ("D2", "0.5"),
        ("E2", "1"),
        ("D3", "-0.25"),
        ("E3", "0.1"),
        ("F3", "1"),
    ]);
    let compiled = compile_workbook("m", &bytes, &WorkbookOptions::default()).expect("compiles");
    let [Correlation::Matrix { inputs, matrix }] = compiled.model.correlations.as_slice() else {
        panic!("one matrix: {:?}", compiled.model.correlations)
    };
    assert_eq!(
        inputs,
        &vec![compiled.inputs[0].node, compiled.inputs[1].node]
    );
    assert_eq!(matrix, &vec![vec![1.0, -0.25], vec![-0.25, 1.0]]);
}

/// The inputs' families and constant parameters, in order.
fn input_specs(compiled: &Compiled) -> Vec<(String, Family, Vec<f64>)> {
    let constant = |id: u32| match &compiled.model.nodes[id as usize].op {
        Op::Const { value } => *value,
        other => panic!("parameter not constant: {other:?}"),
    };
    compiled
        .inputs
        .iter()
        .map(
            |input| match &compiled.model.nodes[input.node as usize].op {
                Op::Input(spec) => (
                    input.name.clone(),
                    spec.distribution.clone(),
                    spec.params.iter().map(|&p| constant(p)).collect(),
                ),
                other => panic!("not an input: {other:?}"),
            },
        )
        .collect()
}

#[test]
fn npv10_workbook_matches_the_json_model() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let json = std::fs::read_to_string(format!("{root}/examples/npv10.json")).expect("json");
    let from_json = compile_json_model(&json).expect("json compiles");
    let path = std::path::PathBuf::from(format!("{root}/examples/npv10.xlsx"));
    let from_xlsx = compile_workbook_file(&path, &WorkbookOptions::default()).expect("compiles");
    assert_eq!(input_specs(&from_xlsx), input_specs(&from_json));
    let names = |c: &Compiled| c.outputs.iter().map(|o| o.name.clone()).collect::<Vec<_>>();
    assert_eq!(names(&from_xlsx), names(&from_json));
    assert_eq!(from_xlsx.evaluated_cells, from_json.evaluated_cells);
    // The JSON pair and the workbook's RiskCorrmat are the same 2x2 rank matrix.
    let [Correlation::Pair { rank, .. }] = from_json.model.correlations.as_slice() else {
        panic!("json pair")
    };
    let [Correlation::Matrix { inputs, matrix }] = from_xlsx.model.correlations.as_slice() else {
        panic!("xlsx matrix")
    };
    assert_eq!(
        inputs,
        &vec![from_xlsx.inputs[0].node, from_xlsx.inputs[1].node]
    );
    assert_eq!(matrix, &vec![vec![1.0, *rank], vec![*rank, 1.0]]);
    // Same input values, same outputs.
    let draws = [104.0, 0.061, 0.6, 0.09];
    let values = |c: &Compiled| -> HashMap<String, f64> {
        c.inputs
            .iter()
            .zip(draws)
            .map(|(i, x)| {
                let label = c.model.nodes[i.node as usize]
                    .label
                    .clone()
                    .unwrap_or_default();
                (label, x)
            })
            .collect()
    };
    let a = common::run(&from_json.model, &values(&from_json));
    let b = common::run(&from_xlsx.model, &values(&from_xlsx));
    for (name, x) in &a {
        assert!(
            (x - b[name]).abs() <= 1e-12 * x.abs(),
            "{name}: {x} vs {}",
            b[name]
        );
    }
}
