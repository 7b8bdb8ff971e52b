//! Hostile workbooks: each gives a clear error or bounded work, never a panic.

mod common;

use std::time::Instant;

use common::xlsx::{SheetSpec, cell, simple, workbook};
use ultra_formula::workbook::limits::{MAX_UNCOMPRESSED_BYTES, MAX_WORKBOOK_CELLS};
use ultra_formula::{FormulaError, WorkbookOptions, compile_workbook, evaluate_workbook};

fn compile(bytes: &[u8]) -> Result<ultra_formula::Compiled, FormulaError> {
    compile_workbook("hostile", bytes, &WorkbookOptions::default())
}

#[test]
fn zip_bomb_is_refused_before_inflating() {
    let mut bytes = simple(&[("A1", "=RiskOutput()+1")]);
    // Make the central directory declare 4 GB for the first entry (offset 24 of a
    // central directory header, signature PK\x01\x02).
    let at = bytes
        .windows(4)
        .position(|w| w == b"PK\x01\x02")
        .expect("central directory");
    bytes[at + 24..at + 28].copy_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
    match compile(&bytes) {
        Err(FormulaError::Limit(message)) => {
            assert!(
                message.contains(&MAX_UNCOMPRESSED_BYTES.to_string()),
                "{message}"
            )
        }
        other => panic!("expected a limit error, got {other:?}"),
    }
}

#[test]
fn an_entry_larger_than_declared_is_an_error() {
    // 50 MB of sheet XML whose header claims far less: the zip reader stops at the
    // declared size, so calamine gets an error, not 50 MB.
    let mut bytes = simple(&[("A1", &"1".repeat(50_000_000))]);
    let at = bytes
        .windows(4)
        .rposition(|w| w == b"PK\x01\x02")
        .expect("central directory");
    bytes[at + 24..at + 28].copy_from_slice(&1000u32.to_le_bytes());
    assert!(compile(&bytes).is_err());
}

#[test]
fn more_cells_than_the_limit_are_refused() {
    let mut data = String::with_capacity(30 * (MAX_WORKBOOK_CELLS + 1));
    for i in 0..=MAX_WORKBOOK_CELLS {
        data.push_str(&format!("<c r=\"A{}\"><v>1</v></c>", i + 1));
    }
    let bytes = workbook(&[SheetSpec { name: "Big", data }], "", &[]);
    let start = Instant::now();
    match evaluate_workbook(&bytes) {
        Err(FormulaError::Limit(message)) => assert!(message.contains("cells"), "{message}"),
        other => panic!(
            "expected a limit error, got {:?}",
            other.map(|e| e.cells.len())
        ),
    }
    eprintln!(
        "refused {} cells in {:?}",
        MAX_WORKBOOK_CELLS + 1,
        start.elapsed()
    );
}

#[test]
fn huge_ranges_are_bounded() {
    // Cells at both corners of the sheet: nothing dense is allocated.
    let bytes = simple(&[
        ("A1", "1"),
        ("XFD1048576", "2"),
        ("B1", "=RiskOutput()+SUM(A1:XFD1048576)"),
    ]);
    assert!(matches!(compile(&bytes), Err(FormulaError::Limit(_))));
    let ok = simple(&[
        ("A1", "1"),
        ("XFD1048576", "2"),
        ("B1", "=RiskOutput()+SUM(A:A)"),
    ]);
    assert!(compile(&ok).is_ok());
}

#[test]
fn a_hundred_thousand_deep_chain() {
    let mut data = String::from(&cell("A1", "1"));
    for row in 2..=100_000 {
        data.push_str(&cell(&format!("A{row}"), &format!("=A{}+1", row - 1)));
    }
    data.push_str(&cell("B1", "=RiskOutput(\"end\")+A100000+RiskUniform(0,1)"));
    let bytes = workbook(&[SheetSpec { name: "S", data }], "", &[]);
    let compiled = compile(&bytes).expect("compiles");
    assert_eq!(compiled.inputs.len(), 1);
    let evaluation = evaluate_workbook(&bytes).expect("evaluates");
    assert_eq!(evaluation.cells.len(), 100_000);
}

#[test]
fn cycles_name_their_cells_unless_unused() {
    let bytes = simple(&[("A1", "=B1+1"), ("B1", "=A1"), ("C1", "=RiskOutput()+A1")]);
    match compile(&bytes) {
        Err(FormulaError::Cycle { cells }) => {
            let names: Vec<String> = cells.iter().map(ToString::to_string).collect();
            assert!(names.contains(&"Sheet1!A1".to_string()), "{names:?}");
            assert!(names.contains(&"Sheet1!B1".to_string()), "{names:?}");
        }
        other => panic!("expected a cycle, got {other:?}"),
    }
    let unused = simple(&[("A1", "=B1+1"), ("B1", "=A1"), ("C1", "=RiskOutput()+7")]);
    assert!(compile(&unused).is_ok());
}

#[test]
fn ten_megabyte_formula_is_refused() {
    let formula = format!("={}", "1+".repeat(5_000_000) + "1");
    let bytes = simple(&[("A1", &formula), ("B1", "=RiskOutput()+A1")]);
    assert!(matches!(compile(&bytes), Err(FormulaError::Parse { .. })));
    let evaluation = evaluate_workbook(&bytes).expect("evaluates");
    assert_eq!(evaluation.unsupported.len(), 1);
}

#[test]
fn invalid_bytes_and_invalid_utf8() {
    assert!(matches!(
        compile(b"not a zip"),
        Err(FormulaError::Workbook(_))
    ));
    assert!(matches!(
        compile(&[0xff, 0xfe, 0x00, 0xc3]),
        Err(FormulaError::Workbook(_))
    ));
    // Invalid UTF-8 in a part calamine decodes: an error or lossy text, never a panic.
    let raw = workbook(
        &[SheetSpec {
            name: "S",
            data: String::new(),
        }],
        "",
        &[(
            "xl/sharedStrings.xml",
            b"<sst><si><t>\xff\xfe\xfd</t></si></sst>",
        )],
    );
    let _ = evaluate_workbook(&raw);
}

#[test]
fn macros_are_ignored_and_formulas_still_read() {
    let bytes = workbook(
        &[SheetSpec {
            name: "S",
            data: common::xlsx::cells(&[("A1", "2"), ("A2", "=RiskOutput()+A1*3")]),
        }],
        "",
        &[(
            "xl/vbaProject.bin",
            b"\xd0\xcf\x11\xe0 not really a macro project",
        )],
    );
    let compiled = compile(&bytes).expect("compiles");
    assert_eq!(compiled.outputs.len(), 1);
    let evaluation = evaluate_workbook(&bytes).expect("evaluates");
    assert_eq!(evaluation.cells[0].1, ultra_formula::Value::Number(6.0));
}
