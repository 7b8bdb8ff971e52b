//! Loading models of every format, and the `ultra inspect` and `ultra eval` commands.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use serde_json::{Map, Value as Json, json};
use ultra_engine::Model;
use ultra_formula::{Compiled, Evaluation, Value, WorkbookOptions};

/// What a model file holds.
enum Source {
    Workbook,
    JsonModel(String),
    Ir(String),
}

fn is_workbook(path: &Path) -> bool {
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default();
    matches!(extension.to_ascii_lowercase().as_str(), "xlsx" | "xlsm")
}

fn source(path: &Path) -> Result<Source> {
    if is_workbook(path) {
        return Ok(Source::Workbook);
    }
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let value: Json = serde_json::from_str(&text)
        .with_context(|| format!("{} is not valid JSON", path.display()))?;
    Ok(if value.get("cells").is_some() {
        Source::JsonModel(text)
    } else {
        Source::Ir(text)
    })
}

/// Compiles a workbook or JSON model; `None` for a serialised IR model, which has no cells.
fn compile(path: &Path) -> Result<Option<Compiled>> {
    let compiled = match source(path)? {
        Source::Workbook => ultra_formula::compile_workbook_file(path, &WorkbookOptions::default()),
        Source::JsonModel(text) => ultra_formula::compile_json_model(&text),
        Source::Ir(_) => return Ok(None),
    };
    compiled
        .map(Some)
        .with_context(|| format!("compiling {}", path.display()))
}

/// The engine model of any supported file: workbook, JSON model or serialised IR.
pub fn load(path: &Path) -> Result<Model> {
    if let Source::Ir(text) = source(path)? {
        return serde_json::from_str(&text)
            .with_context(|| format!("{} is not a valid IR model", path.display()));
    }
    match compile(path)? {
        Some(compiled) => Ok(compiled.model),
        None => bail!("{}: no model", path.display()),
    }
}

#[derive(Clone, Copy, PartialEq, ValueEnum)]
pub enum Format {
    Table,
    Json,
}

#[derive(Args)]
pub struct InspectArgs {
    /// A workbook (`.xlsx`, `.xlsm`) or a JSON model.
    model: PathBuf,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

/// `ultra inspect MODEL`: inputs, outputs, cell counts and unsupported constructs.
pub fn inspect(args: InspectArgs) -> Result<()> {
    let Some(compiled) = compile(&args.model)? else {
        bail!(
            "{}: a serialised IR model has no cells to inspect",
            args.model.display()
        );
    };
    let unsupported = evaluate(&args.model)?.unsupported;
    let mut out = std::io::stdout().lock();
    if args.format == Format::Json {
        let document = json!({
            "name": compiled.model.name,
            "cells": compiled.cell_count,
            "evaluated_cells": compiled.evaluated_cells,
            "inputs": compiled.inputs,
            "outputs": compiled.outputs,
            "unsupported": unsupported.iter().map(ToString::to_string).collect::<Vec<_>>(),
        });
        serde_json::to_writer_pretty(&mut out, &document)?;
        writeln!(out)?;
        return Ok(());
    }
    let place = |sheet: &Option<String>, cell: &str| match sheet {
        Some(sheet) => format!("{sheet}!{cell}"),
        None => cell.to_string(),
    };
    writeln!(
        out,
        "{}: {} cells, {} evaluated per iteration",
        compiled.model.name, compiled.cell_count, compiled.evaluated_cells
    )?;
    writeln!(out, "inputs ({}):", compiled.inputs.len())?;
    for input in &compiled.inputs {
        writeln!(
            out,
            "  {:<20} {:<20} {}",
            place(&input.sheet, &input.cell),
            input.name,
            input.distribution
        )?;
    }
    writeln!(out, "outputs ({}):", compiled.outputs.len())?;
    for output in &compiled.outputs {
        writeln!(
            out,
            "  {:<20} {}",
            place(&output.sheet, &output.cell),
            output.name
        )?;
    }
    if !unsupported.is_empty() {
        writeln!(out, "unsupported ({}):", unsupported.len())?;
        for call in &unsupported {
            writeln!(out, "  {call}")?;
        }
    }
    Ok(())
}

#[derive(Args)]
pub struct EvalArgs {
    /// A workbook (`.xlsx`, `.xlsm`) or a JSON model.
    model: PathBuf,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

fn evaluate(path: &Path) -> Result<Evaluation> {
    let evaluation = match source(path)? {
        Source::Workbook => {
            let bytes = ultra_formula::read_workbook_file(path)?;
            ultra_formula::evaluate_workbook(&bytes)
        }
        Source::JsonModel(text) => ultra_formula::evaluate_json_model(&text),
        Source::Ir(_) => bail!(
            "{}: a serialised IR model has no cells to evaluate",
            path.display()
        ),
    };
    evaluation.with_context(|| format!("evaluating {}", path.display()))
}

fn to_json(value: &Value) -> Json {
    match value {
        Value::Number(x) => json!(x),
        Value::Text(text) => json!(text),
        Value::Bool(b) => json!(b),
        Value::Error(_) => json!(value.to_string()),
        Value::Empty => Json::Null,
    }
}

/// `ultra eval MODEL`: every formula cell once, deterministically (Risk functions at their
/// `RiskStatic` value, else their mean).
pub fn eval(args: EvalArgs) -> Result<()> {
    let evaluation = evaluate(&args.model)?;
    let mut out = std::io::stdout().lock();
    if args.format == Format::Json {
        let values: Map<String, Json> = evaluation
            .cells
            .iter()
            .map(|(location, value)| (location.to_string(), to_json(value)))
            .collect();
        let unsupported: Vec<String> = evaluation
            .unsupported
            .iter()
            .map(ToString::to_string)
            .collect();
        serde_json::to_writer_pretty(
            &mut out,
            &json!({"values": values, "unsupported": unsupported}),
        )?;
        writeln!(out)?;
        return Ok(());
    }
    for (location, value) in &evaluation.cells {
        writeln!(out, "{location}\t{value}")?;
    }
    for call in &evaluation.unsupported {
        writeln!(out, "unsupported: {call}")?;
    }
    Ok(())
}
