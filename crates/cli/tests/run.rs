//! `ultra run` as a user runs it: the real binary, its JSON contract, and bad input.

use std::path::PathBuf;
use std::process::{Command, Output};

fn ultra(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ultra"))
        .arg("run")
        .args(args)
        .output()
        .expect("ultra starts")
}

fn example() -> String {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/npv10.ir.json");
    root.to_string_lossy().into_owned()
}

fn scratch(name: &str, contents: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ultra-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(name);
    std::fs::write(&path, contents).expect("write");
    path
}

#[test]
fn json_output_follows_the_contract() {
    let out = ultra(&[
        &example(),
        "--iterations",
        "20000",
        "--seed",
        "7",
        "--sampling",
        "lhs",
        "--format",
        "json",
    ]);
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    assert_eq!(doc["iterations"], 20000);
    assert_eq!(doc["seed"], 7);
    assert_eq!(doc["sampling"], "lhs");
    assert_eq!(doc["engine"], "cpu");
    assert!(doc["elapsed_ms"].as_f64().expect("elapsed") > 0.0);
    let npv = &doc["outputs"]["NPV"];
    for key in [
        "mean",
        "std",
        "min",
        "max",
        "skewness",
        "kurtosis",
        "std_error",
    ] {
        assert!(npv[key].is_number(), "{key} missing");
    }
    for p in ["p1", "p5", "p10", "p25", "p50", "p75", "p90", "p95", "p99"] {
        assert!(npv["percentiles"][p].is_number(), "{p} missing");
    }
    let edges = npv["histogram"]["edges"].as_array().expect("edges");
    let counts = npv["histogram"]["counts"].as_array().expect("counts");
    assert_eq!(edges.len(), counts.len() + 1);
    let total: u64 = counts.iter().map(|c| c.as_u64().expect("count")).sum();
    assert_eq!(total, 20000);
    let sensitivity = npv["sensitivity"].as_array().expect("sensitivity");
    assert_eq!(sensitivity.len(), 4);
    for key in [
        "input",
        "name",
        "spearman",
        "regression",
        "contribution_to_variance",
        "mean_at_low",
        "mean_at_high",
    ] {
        assert!(!sensitivity[0][key].is_null(), "sensitivity {key} missing");
    }
    assert!(doc["outputs"]["Total cash"].is_object());
}

#[test]
fn same_request_same_numbers_whatever_the_threads() {
    let one = ultra(&[
        &example(),
        "--iterations",
        "5000",
        "--format",
        "json",
        "--threads",
        "1",
    ]);
    let two = ultra(&[
        &example(),
        "--iterations",
        "5000",
        "--format",
        "json",
        "--threads",
        "2",
        "--chunk-size",
        "333",
    ]);
    let strip = |out: &Output| {
        let mut doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        doc["elapsed_ms"] = serde_json::Value::Null;
        doc
    };
    assert_eq!(strip(&one), strip(&two));
}

#[test]
fn requested_percentiles_are_reported() {
    let out = ultra(&[
        &example(),
        "--iterations",
        "1000",
        "--format",
        "json",
        "--percentiles",
        "2.5,50,97.5",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let percentiles = doc["outputs"]["NPV"]["percentiles"]
        .as_object()
        .expect("percentiles");
    let keys: Vec<&str> = percentiles.keys().map(String::as_str).collect();
    assert_eq!(keys.len(), 3, "{keys:?}");
    assert!(percentiles["p2.5"].as_f64() < percentiles["p97.5"].as_f64());
    let bad = ultra(&[&example(), "--percentiles", "50,120"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("120"));
}

#[test]
fn table_output_names_the_outputs() {
    let out = ultra(&[&example(), "--iterations", "2000"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("NPV") && text.contains("Total cash") && text.contains("p50="),
        "{text}"
    );
}

#[test]
fn bad_input_is_a_clear_error_not_a_panic() {
    let garbage = scratch("garbage.json", "{ not json");
    let cells = scratch("cells.json", r#"{"name": "m", "cells": {"a": 1}}"#);
    let wrong = scratch("wrong.json", r#"{"nodes": [{"id": 1, "op": "teleport"}]}"#);
    let cycle = scratch(
        "cycle.json",
        r#"{"nodes": [{"id": 1, "op": "call", "func": "neg", "args": [2]},
                      {"id": 2, "op": "call", "func": "neg", "args": [1]},
                      {"id": 3, "op": "output", "name": "x", "arg": 1}]}"#,
    );
    let bad_sd = scratch(
        "bad_sd.json",
        r#"{"nodes": [{"id": 1, "op": "const", "value": 0}, {"id": 2, "op": "const", "value": -1},
                      {"id": 3, "op": "input", "distribution": {"family": "normal"}, "params": [1, 2]},
                      {"id": 4, "op": "output", "name": "x", "arg": 3}]}"#,
    );
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec!["/nonexistent/model.json".into()], "reading"),
        (vec![garbage.display().to_string()], "not valid JSON"),
        (vec![cells.display().to_string()], "compiling"),
        (vec![wrong.display().to_string()], "not a valid IR model"),
        (vec![cycle.display().to_string()], "cycle"),
        (vec![bad_sd.display().to_string()], "sd"),
        (
            vec![example(), "--iterations".into(), "0".into()],
            "at least 1",
        ),
        (
            vec![
                example(),
                "--iterations".into(),
                "100".into(),
                "--max-iterations".into(),
                "10".into(),
            ],
            "cap",
        ),
        (vec![example(), "--threads".into(), "0".into()], "threads"),
        (
            vec![example(), "--sampling".into(), "quantum".into()],
            "quantum",
        ),
        (vec![example(), "--iterations".into(), "-5".into()], "-5"),
    ];
    for (args, expected) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = ultra(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} should fail");
        assert!(!stderr.contains("panicked"), "{args:?} panicked: {stderr}");
        assert!(
            stderr.contains(expected),
            "{args:?}: expected {expected:?} in: {stderr}"
        );
    }
}

/// The JSON model of npv10 (formula language), its workbook and its hand-lowered IR draw the
/// same inputs (same order, same streams), so their statistics agree up to f64 rounding.
#[test]
fn json_model_workbook_and_hand_lowered_ir_agree() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let stats = |file: &str| {
        let path = dir.join(file).to_string_lossy().into_owned();
        let out = ultra(&[
            &path,
            "--iterations",
            "10000",
            "--seed",
            "3",
            "--format",
            "json",
        ]);
        assert!(
            out.status.success(),
            "{file}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        doc["outputs"].clone()
    };
    let (json, ir) = (stats("npv10.json"), stats("npv10.ir.json"));
    for output in ["NPV", "Total cash"] {
        for key in ["mean", "std", "min", "max"] {
            let a = json[output][key].as_f64().expect("number");
            let b = ir[output][key].as_f64().expect("number");
            assert!(
                (a - b).abs() <= 1e-9 * b.abs().max(1.0),
                "{output} {key}: {a} vs {b}"
            );
        }
    }
}

#[test]
fn inspect_lists_inputs_and_outputs_of_a_workbook() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/npv10.xlsx");
    let out = Command::new(env!("CARGO_BIN_EXE_ultra"))
        .args(["inspect", &path.to_string_lossy(), "--format", "json"])
        .output()
        .expect("ultra starts");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let inputs = doc["inputs"].as_array().expect("inputs");
    assert_eq!(inputs.len(), 4);
    assert!(
        inputs[0]["distribution"]
            .as_str()
            .expect("text")
            .starts_with("RiskTriang")
    );
    let outputs: Vec<&str> = doc["outputs"]
        .as_array()
        .expect("outputs")
        .iter()
        .filter_map(|o| o["name"].as_str())
        .collect();
    assert_eq!(outputs, ["NPV", "Total cash"]);
}

#[test]
fn eval_prints_every_formula_cell() {
    let model = scratch(
        "eval.json",
        r#"{"name": "e", "cells": {"a": 2, "b": "=a * 3", "c": "=1/0", "d": "=RiskNormal(10, 1)",
            "e": "=IF(b > 5, \"big\", \"small\")", "out": "=RiskOutput() + b + d"}}"#,
    );
    let out = Command::new(env!("CARGO_BIN_EXE_ultra"))
        .args(["eval", &model.to_string_lossy(), "--format", "json"])
        .output()
        .expect("ultra starts");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let values = &doc["values"];
    assert_eq!(values["b"], 6.0);
    assert_eq!(values["c"], "#DIV/0!");
    assert_eq!(values["d"], 10.0);
    assert_eq!(values["e"], "big");
    assert_eq!(values["out"], 16.0);
}

/// `--engine gpu` runs on whatever Vulkan adapter the machine has (lavapipe on CI) and says
/// so; the figures match the CPU engine's up to f32 rounding. Without an adapter (here: one
/// asked for by a name no adapter has) it fails with a clear message.
#[test]
fn the_gpu_engine_reports_itself_and_fails_clearly_without_an_adapter() {
    let run = |engine: &str| {
        let out = ultra(&[
            &example(),
            "--iterations",
            "20000",
            "--seed",
            "9",
            "--sampling",
            "lhs",
            "--engine",
            engine,
            "--format",
            "json",
        ]);
        assert!(
            out.status.success(),
            "--engine {engine}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<serde_json::Value>(&out.stdout).expect("json")
    };
    let (gpu, cpu) = (run("gpu"), run("cpu"));
    assert_eq!(gpu["engine"], "gpu");
    assert_eq!(gpu["precision"], "f32");
    assert!(gpu["adapter"].as_str().is_some_and(|name| !name.is_empty()));
    assert_eq!(cpu["engine"], "cpu");
    assert_eq!(cpu["precision"], "f64");
    let (g, c) = (&gpu["outputs"]["NPV"], &cpu["outputs"]["NPV"]);
    let (gm, cm) = (
        g["mean"].as_f64().unwrap_or(f64::NAN),
        c["mean"].as_f64().unwrap_or(0.0),
    );
    assert!(((gm - cm) / cm).abs() < 1e-4, "gpu {gm} cpu {cm}");

    let out = Command::new(env!("CARGO_BIN_EXE_ultra"))
        .args(["run", &example(), "--engine", "gpu"])
        .env("ULTRA_GPU_ADAPTER", "no adapter is called this")
        .output()
        .expect("ultra starts");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stderr.contains("no GPU adapter"), "{stderr}");
}

/// A GPU run above the host-statistics limit reduces its moments, min, max and histogram
/// on the device over every iteration, and keeps `--kept-samples` samples for percentiles.
#[test]
fn a_long_gpu_run_reduces_on_the_device() {
    let iterations = "60000000";
    let out = ultra(&[
        &example(),
        "--engine",
        "gpu",
        "--iterations",
        iterations,
        "--max-iterations",
        iterations,
        "--sampling",
        "mc",
        "--no-sensitivity",
        "--kept-samples",
        "1000",
        "--format",
        "json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let npv = &json["outputs"]["NPV"];
    assert_eq!(npv["count"], 60_000_000);
    let counts: u64 = npv["histogram"]["counts"]
        .as_array()
        .expect("histogram")
        .iter()
        .filter_map(serde_json::Value::as_u64)
        .sum();
    assert_eq!(counts, 60_000_000, "the histogram covers every iteration");
    // Reference: the CPU engine's NPV mean at 1e6 LHS iterations, 54.827 (sd 59.6). The
    // tolerance is 4 standard errors of this run (4 x 59.6 / sqrt(6e7) = 0.031) plus 4 of
    // the reference's own (at most 4 x 0.06 for 1e6 iterations; LHS does better).
    let mean = npv["mean"].as_f64().unwrap_or(f64::NAN);
    assert!((mean - 54.827).abs() < 0.031 + 0.24, "mean {mean}");
}
