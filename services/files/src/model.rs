//! What an uploaded file is: its format (from the filename's extension) and its compiled
//! form, through `ultra_formula` — the same compiler the simulation runs, so a model that
//! uploads is a model that runs.

use serde::{Deserialize, Serialize};
use ultra_formula::{Compiled, InputChoice, OutputChoice, WorkbookOptions};
use ultra_proto::v1::{ModelInput, ModelOutput};

use crate::error::{Error, Result};

const MAX_FILENAME_CHARS: usize = 255;

/// A supported upload format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Xlsx,
    Xlsm,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Xlsx => "xlsx",
            Format::Xlsm => "xlsm",
        }
    }

    pub fn parse(name: &str) -> Option<Format> {
        match name {
            "json" => Some(Format::Json),
            "xlsx" => Some(Format::Xlsx),
            "xlsm" => Some(Format::Xlsm),
            _ => None,
        }
    }

    /// The format of `filename` by its extension, case-insensitively.
    pub fn of_filename(filename: &str) -> Result<Format> {
        let extension = filename
            .rsplit_once('.')
            .map(|(_, extension)| extension.to_ascii_lowercase())
            .unwrap_or_default();
        Format::parse(&extension).ok_or_else(|| {
            Error::InvalidArgument(format!(
                "unsupported file type {extension:?}: upload a .json, .xlsx or .xlsm model"
            ))
        })
    }
}

/// The file's own name, without any directory a browser or client put in front of it.
pub fn clean_filename(raw: &str) -> Result<String> {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or(raw).trim();
    if base.is_empty() {
        return Err(Error::InvalidArgument("filename is required".into()));
    }
    if base.chars().count() > MAX_FILENAME_CHARS || base.chars().any(char::is_control) {
        return Err(Error::InvalidArgument(format!(
            "filename must be at most {MAX_FILENAME_CHARS} characters without control characters"
        )));
    }
    Ok(base.to_owned())
}

/// Compiles the file's bytes; a model that does not compile is `InvalidModel` with the
/// compiler's message, which names the cells at fault.
pub fn compile(format: Format, filename: &str, bytes: &[u8]) -> Result<Compiled> {
    compile_with(format, filename, bytes, &WorkbookOptions::default())
}

/// [`compile`] with inputs and outputs chosen by the caller. They apply to workbooks only:
/// a JSON model names its own inputs and outputs, so overrides for one are
/// `InvalidArgument`.
pub fn compile_with(
    format: Format,
    filename: &str,
    bytes: &[u8],
    options: &WorkbookOptions,
) -> Result<Compiled> {
    let compiled = match format {
        Format::Json if *options != WorkbookOptions::default() => {
            return Err(Error::InvalidArgument(
                "input and output overrides apply to workbooks (.xlsx, .xlsm) only: a JSON \
                 model declares its inputs and outputs in its cells"
                    .into(),
            ));
        }
        Format::Json => {
            let text = std::str::from_utf8(bytes)
                .map_err(|_| Error::InvalidModel("a JSON model must be UTF-8 text".into()))?;
            ultra_formula::compile_json_model(text)
        }
        Format::Xlsx | Format::Xlsm => {
            let stem = filename.rsplit_once('.').map_or(filename, |(stem, _)| stem);
            ultra_formula::compile_workbook(stem, bytes, options)
        }
    };
    compiled.map_err(|error| Error::InvalidModel(error.to_string()))
}

/// What an upload's validation keeps: the model's inputs, outputs and cell count.
#[derive(Debug, Clone, PartialEq)]
pub struct Validated {
    pub inputs: Vec<StoredInput>,
    pub outputs: Vec<StoredOutput>,
    pub cell_count: u64,
}

/// Validates an upload by compiling it. A workbook without any `RiskOutput` (one written
/// without @RISK) is accepted when it loads and evaluates: its inputs and outputs are
/// chosen per simulation (`SubmitRequest.inputs`/`outputs`), and a run without them is
/// refused with the compiler's "no outputs" message. Its cell count is then the number of
/// formula cells.
pub fn validate_upload(format: Format, filename: &str, bytes: &[u8]) -> Result<Validated> {
    if format != Format::Json {
        let stem = filename.rsplit_once('.').map_or(filename, |(stem, _)| stem);
        match ultra_formula::compile_workbook(stem, bytes, &WorkbookOptions::default()) {
            Err(ultra_formula::FormulaError::NoOutputs) => {
                let evaluation = ultra_formula::evaluate_workbook(bytes)
                    .map_err(|error| Error::InvalidModel(error.to_string()))?;
                return Ok(Validated {
                    inputs: Vec::new(),
                    outputs: Vec::new(),
                    cell_count: evaluation.cells.len() as u64,
                });
            }
            Err(error) => return Err(Error::InvalidModel(error.to_string())),
            Ok(compiled) => return Ok(Validated::of(&compiled)),
        }
    }
    compile(format, filename, bytes).map(|compiled| Validated::of(&compiled))
}

impl Validated {
    fn of(compiled: &Compiled) -> Validated {
        Validated {
            inputs: stored_inputs(compiled),
            outputs: stored_outputs(compiled),
            cell_count: compiled.cell_count as u64,
        }
    }
}

/// Most overrides of each kind one request may carry.
pub const MAX_OVERRIDES: usize = 1_000;

/// The caller's overrides as compiler options; empty names mean "named after the cell".
pub fn options(
    inputs: &[ultra_proto::v1::InputOverride],
    outputs: &[ultra_proto::v1::OutputOverride],
) -> Result<WorkbookOptions> {
    if inputs.len() > MAX_OVERRIDES || outputs.len() > MAX_OVERRIDES {
        return Err(Error::InvalidArgument(format!(
            "at most {MAX_OVERRIDES} input and {MAX_OVERRIDES} output overrides"
        )));
    }
    let mut options = WorkbookOptions::default();
    for input in inputs {
        if input.cell.trim().is_empty() || input.distribution.trim().is_empty() {
            return Err(Error::InvalidArgument(
                "an input override needs a cell and a distribution".into(),
            ));
        }
        options.inputs.push(InputChoice {
            cell: input.cell.trim().to_owned(),
            distribution: input.distribution.trim().to_owned(),
        });
    }
    for output in outputs {
        if output.cell.trim().is_empty() {
            return Err(Error::InvalidArgument(
                "an output override needs a cell".into(),
            ));
        }
        let name = output.name.trim();
        options.outputs.push(OutputChoice {
            cell: output.cell.trim().to_owned(),
            name: (!name.is_empty()).then(|| name.to_owned()),
        });
    }
    Ok(options)
}

/// An input as stored in the metadata row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredInput {
    pub cell: String,
    pub name: String,
    pub distribution: String,
}

/// An output as stored in the metadata row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredOutput {
    pub cell: String,
    pub name: String,
}

fn qualified(sheet: Option<&String>, cell: &str) -> String {
    match sheet {
        Some(sheet) if !cell.contains('!') => format!("{sheet}!{cell}"),
        _ => cell.to_owned(),
    }
}

pub fn stored_inputs(compiled: &Compiled) -> Vec<StoredInput> {
    compiled
        .inputs
        .iter()
        .map(|input| StoredInput {
            cell: qualified(input.sheet.as_ref(), &input.cell),
            name: input.name.clone(),
            distribution: input.distribution.clone(),
        })
        .collect()
}

pub fn stored_outputs(compiled: &Compiled) -> Vec<StoredOutput> {
    compiled
        .outputs
        .iter()
        .map(|output| StoredOutput {
            cell: qualified(output.sheet.as_ref(), &output.cell),
            name: output.name.clone(),
        })
        .collect()
}

impl From<StoredInput> for ModelInput {
    fn from(input: StoredInput) -> ModelInput {
        ModelInput {
            cell: input.cell,
            name: input.name,
            distribution: input.distribution,
        }
    }
}

impl From<StoredOutput> for ModelOutput {
    fn from(output: StoredOutput) -> ModelOutput {
        ModelOutput {
            cell: output.cell,
            name: output.name,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_filenames() {
        assert_eq!(Format::of_filename("a.JSON").ok(), Some(Format::Json));
        assert_eq!(Format::of_filename("model.xlsm").ok(), Some(Format::Xlsm));
        assert!(Format::of_filename("model.csv").is_err());
        assert!(Format::of_filename("model").is_err());
        assert_eq!(
            clean_filename("C:\\Users\\ada\\npv.xlsx").ok().as_deref(),
            Some("npv.xlsx")
        );
        assert_eq!(
            clean_filename("../../etc/npv.json").ok().as_deref(),
            Some("npv.json")
        );
        assert!(clean_filename("dir/").is_err());
        assert!(clean_filename("a\nb.json").is_err());
    }

    #[test]
    fn overrides_are_checked_and_refused_on_json_models() {
        use ultra_proto::v1::{InputOverride, OutputOverride};
        let input = |cell: &str, distribution: &str| InputOverride {
            cell: cell.into(),
            distribution: distribution.into(),
        };
        let output = |cell: &str, name: &str| OutputOverride {
            cell: cell.into(),
            name: name.into(),
        };
        let options = options(
            &[input(" Model!B2 ", "RiskNormal(1,2)")],
            &[output("Model!B4", ""), output("Model!B5", "Total")],
        )
        .expect("valid");
        assert_eq!(options.inputs[0].cell, "Model!B2");
        assert_eq!(options.outputs[0].name, None);
        assert_eq!(options.outputs[1].name.as_deref(), Some("Total"));
        assert!(matches!(
            super::options(&[input("", "RiskNormal(1,2)")], &[]),
            Err(Error::InvalidArgument(_))
        ));
        assert!(matches!(
            super::options(&[], &[output(" ", "x")]),
            Err(Error::InvalidArgument(_))
        ));
        let json = br#"{"cells": {"x": "=RiskNormal(0,1)", "y": "=RiskOutput() + x"}}"#;
        assert!(matches!(
            compile_with(Format::Json, "m.json", json, &options),
            Err(Error::InvalidArgument(_))
        ));
    }
}
