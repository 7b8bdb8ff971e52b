//! What an uploaded file is: its format (from the filename's extension) and its compiled
//! form, through `ultra_formula` — the same compiler the simulation runs, so a model that
//! uploads is a model that runs.

use serde::{Deserialize, Serialize};
use ultra_formula::{Compiled, WorkbookOptions};
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
    let compiled = match format {
        Format::Json => {
            let text = std::str::from_utf8(bytes)
                .map_err(|_| Error::InvalidModel("a JSON model must be UTF-8 text".into()))?;
            ultra_formula::compile_json_model(text)
        }
        Format::Xlsx | Format::Xlsm => {
            let stem = filename.rsplit_once('.').map_or(filename, |(stem, _)| stem);
            ultra_formula::compile_workbook(stem, bytes, &WorkbookOptions::default())
        }
    };
    compiled.map_err(|error| Error::InvalidModel(error.to_string()))
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
}
