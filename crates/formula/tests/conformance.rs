//! Conformance with an independent engine: the workbooks under `data/workbooks/` were
//! written by `scripts/fixtures/workbooks.py` and recalculated by LibreOffice, which cached
//! its results in them. Every formula cell is evaluated here and compared with the cached
//! value: numbers within 1e-9 relative, text, booleans and error kinds exactly.

use std::path::Path;

use ultra_formula::{Value, evaluate_workbook, workbook_cached_values};

fn close(a: f64, b: f64) -> bool {
    a == b || (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1e-300)
}

fn same(ours: &Value, cached: &Value) -> bool {
    match (ours, cached) {
        (Value::Number(a), Value::Number(b)) => close(*a, *b),
        // A formula that yields "" is cached as an empty string or not at all.
        (Value::Text(a), Value::Empty) => a.is_empty(),
        (a, b) => a == b,
    }
}

/// Cells where LibreOffice departs from Excel's documented behaviour, with Excel's value,
/// which is what Ultra implements.
const EXCEL_NOT_LIBREOFFICE: [(&str, &str); 5] = [
    // Booleans in references are not numbers for COUNT in Excel (LibreOffice counts them).
    ("Math!B14", "3"),
    // SQRT(-1) and LN(0) are #NUM! in Excel (#VALUE! in LibreOffice).
    ("Math!B50", "#NUM!"),
    ("Math!B51", "#NUM!"),
    // TRUE concatenates as "TRUE" in Excel ("1" in LibreOffice).
    ("Math!B55", "abc3TRUE"),
    // LARGE with k past the count is #NUM! in Excel.
    ("Math!B72", "#NUM!"),
];

#[test]
fn every_formula_cell_matches_libreoffice() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/workbooks");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("fixture directory")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "xlsx"))
        .collect();
    files.sort();
    assert!(files.len() >= 4, "fixtures missing in {}", dir.display());
    let mut compared = 0;
    let mut failures = Vec::new();
    for file in &files {
        let bytes = std::fs::read(file).expect("read fixture");
        let evaluation = evaluate_workbook(&bytes).expect("evaluate");
        let cached = workbook_cached_values(&bytes).expect("cached values");
        assert_eq!(evaluation.cells.len(), cached.len());
        for call in &evaluation.unsupported {
            failures.push(format!("unsupported: {call}"));
        }
        for ((location, ours), (cached_location, expected)) in evaluation.cells.iter().zip(&cached)
        {
            assert_eq!(location, cached_location);
            compared += 1;
            let label = location.to_string();
            if let Some((_, excel)) = EXCEL_NOT_LIBREOFFICE.iter().find(|(c, _)| *c == label) {
                assert_eq!(&ours.to_string(), excel, "{label}");
                continue;
            }
            if !same(ours, expected) {
                failures.push(format!(
                    "{location}: ours {ours:?}, LibreOffice {expected:?}"
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(compared >= 130, "only {compared} cells compared");
    eprintln!("{compared} formula cells match LibreOffice");
}
