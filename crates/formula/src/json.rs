//! JSON models (DESIGN.md, "The JSON model"): named cells in the formula language.
//!
//! ```json
//! {"name": "Project NPV",
//!  "cells": {"revenue": "=RiskTriang(80, 100, 130)", "NPV": "=RiskOutput(\"NPV\") + revenue"},
//!  "correlations": [{"a": "revenue", "b": "growth", "rank": 0.5}]}
//! ```
//!
//! A cell is a number, a boolean, text, or a formula (text starting with `=`).
//!
//! Names are case-insensitive, as Excel's defined names are; two cells whose names differ
//! only in case are refused. **Name rule:** a word that reads as an A1 address (`cf1` is
//! column CF, row 1) refers to the cell *named* `cf1` when there is one; a JSON model has
//! no grid, so an address that names no cell, an absolute address (`$A$1`), a sheet
//! reference or a range is an error.

use std::collections::HashMap;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, MapAccess, Visitor};

use crate::ast::{Reference, Target};
use crate::error::{CellLocation, FormulaError};
use crate::evaluate::{self, Evaluation};
use crate::model::{self, Cell, CellCorrelation, Compiled, Content, Sheet};
use crate::parser::parse_formula;
use crate::value::{Grid, Value};

/// Most cells a JSON model may hold; bounds memory before any formula is parsed.
pub const MAX_CELLS: usize = 1_000_000;

#[derive(Deserialize)]
struct JsonModel {
    #[serde(default)]
    name: String,
    cells: OrderedCells,
    #[serde(default)]
    correlations: Vec<JsonCorrelation>,
}

#[derive(Deserialize)]
struct JsonCorrelation {
    a: String,
    b: String,
    rank: f64,
}

/// The cells in document order (serde_json's map would sort them), so that inputs keep
/// the order the author wrote, which fixes their random streams.
struct OrderedCells(Vec<(String, serde_json::Value)>);

impl<'de> Deserialize<'de> for OrderedCells {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct CellsVisitor;
        impl<'de> Visitor<'de> for CellsVisitor {
            type Value = OrderedCells;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of cells")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<OrderedCells, A::Error> {
                let mut cells = Vec::new();
                while let Some(entry) = map.next_entry::<String, serde_json::Value>()? {
                    if cells.len() >= MAX_CELLS {
                        return Err(de::Error::custom(format!("more than {MAX_CELLS} cells")));
                    }
                    cells.push(entry);
                }
                Ok(OrderedCells(cells))
            }
        }
        deserializer.deserialize_map(CellsVisitor)
    }
}

struct JsonSheet {
    cells: Vec<Cell>,
    /// Lower-case name to cell index.
    names: HashMap<String, usize>,
}

impl Sheet for JsonSheet {
    fn cells(&self) -> &[Cell] {
        &self.cells
    }

    fn resolve(
        &self,
        from: usize,
        reference: &Reference,
        column: usize,
    ) -> Result<Grid<usize>, FormulaError> {
        let location = || self.cells[from].location.clone();
        let fail = |message: &str| FormulaError::Reference {
            location: location(),
            column,
            reference: reference.to_string(),
            message: message.into(),
        };
        if reference.sheet.is_some() {
            return Err(fail("a JSON model has no sheets"));
        }
        let name = match &reference.target {
            Target::Name(name) => name.clone(),
            Target::Cell(address) => match address.as_name() {
                Some(name) => name,
                None => return Err(fail("a JSON model has no grid: refer to cells by name")),
            },
            _ => return Err(fail("a JSON model has no grid: ranges need a workbook")),
        };
        match self.names.get(&name.to_lowercase()) {
            Some(&cell) => Ok(Grid {
                rows: 1,
                cols: 1,
                items: vec![cell],
            }),
            None => Err(FormulaError::UnknownName {
                location: location(),
                column,
                name,
            }),
        }
    }
}

fn load(text: &str) -> Result<(String, JsonSheet, Vec<CellCorrelation>), FormulaError> {
    let model: JsonModel =
        serde_json::from_str(text).map_err(|e| FormulaError::Json(e.to_string()))?;
    let mut names = HashMap::with_capacity(model.cells.0.len());
    let mut cells = Vec::with_capacity(model.cells.0.len());
    for (index, (name, json)) in model.cells.0.into_iter().enumerate() {
        if let Some(previous) = names.insert(name.to_lowercase(), index) {
            let first: &Cell = &cells[previous];
            return Err(FormulaError::InvalidModel(format!(
                "cells {:?} and {name:?} have the same name (names are case-insensitive)",
                first.location.cell
            )));
        }
        let location = CellLocation::named(name);
        let content = match json {
            serde_json::Value::Number(number) => match number.as_f64() {
                Some(x) if x.is_finite() => Content::Value(Value::Number(x)),
                _ => {
                    return Err(FormulaError::InvalidModel(format!(
                        "cell {location}: number out of range"
                    )));
                }
            },
            serde_json::Value::Bool(b) => Content::Value(Value::Bool(b)),
            serde_json::Value::Null => Content::Value(Value::Empty),
            serde_json::Value::String(text) if text.starts_with('=') => {
                let expr = parse_formula(&text).map_err(|e| FormulaError::Parse {
                    location: location.clone(),
                    column: e.column,
                    message: e.message,
                })?;
                Content::Formula(expr)
            }
            serde_json::Value::String(text) => Content::Value(Value::Text(text)),
            _ => {
                return Err(FormulaError::InvalidModel(format!(
                    "cell {location}: expected a number, a boolean, text or a formula"
                )));
            }
        };
        cells.push(Cell { location, content });
    }
    let mut correlations = Vec::with_capacity(model.correlations.len());
    for correlation in model.correlations {
        let find = |name: &str| {
            names
                .get(&name.to_lowercase())
                .copied()
                .ok_or_else(|| FormulaError::Correlation {
                    a: correlation.a.clone(),
                    b: correlation.b.clone(),
                    message: format!("no cell is named {name:?}"),
                })
        };
        correlations.push(CellCorrelation {
            a: find(&correlation.a)?,
            b: find(&correlation.b)?,
            rank: correlation.rank,
        });
    }
    Ok((model.name, JsonSheet { cells, names }, correlations))
}

/// Compiles a JSON model into a validated engine IR model. Only the cells the outputs
/// (and the correlated inputs) depend on are lowered; constant cells are folded away.
pub fn compile_json_model(text: &str) -> Result<Compiled, FormulaError> {
    let (name, sheet, correlations) = load(text)?;
    model::compile(&name, &sheet, &correlations)
}

/// Evaluates every cell of a JSON model once, deterministically: distribution functions
/// take their `RiskStatic` value, else their mean.
pub fn evaluate_json_model(text: &str) -> Result<Evaluation, FormulaError> {
    let (_, sheet, _) = load(text)?;
    evaluate::evaluate(&sheet)
}
