//! The Excel formula language: parse formulas, resolve cells into one dependency graph and
//! lower it to the engine IR. Reads JSON models (named cells) and, later, workbooks.
