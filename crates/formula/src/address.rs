//! A1 address parts: `$AB$12`, `A:C`, `3:5`.

use crate::ast::CellAddress;

/// Largest row and column of a worksheet (Excel 2007+: 1,048,576 rows, XFD columns).
const MAX_ROWS: u32 = 1 << 20;
const MAX_COLUMNS: u32 = 1 << 14;

/// A number token read as a row number (`3` in `3:5`); empty when it cannot be one.
pub(crate) fn format_row(value: f64) -> String {
    if value.fract() == 0.0 && value >= 1.0 && value <= f64::from(MAX_ROWS) {
        format!("{value:.0}")
    } else {
        String::new()
    }
}

/// Splits `$AB$12` into its optional `$`, letters, optional `$`, digits.
fn split_address(word: &str) -> (bool, &str, bool, &str) {
    let (col_absolute, rest) = match word.strip_prefix('$') {
        Some(rest) => (true, rest),
        None => (false, word),
    };
    let letters_end = rest
        .find(|c: char| !c.is_ascii_alphabetic())
        .unwrap_or(rest.len());
    let (letters, rest) = rest.split_at(letters_end);
    let (row_absolute, digits) = match rest.strip_prefix('$') {
        Some(digits) => (true, digits),
        None => (false, rest),
    };
    (col_absolute, letters, row_absolute, digits)
}

fn column_index(letters: &str) -> Option<u32> {
    if letters.is_empty() || letters.len() > 3 {
        return None;
    }
    let mut index: u32 = 0;
    for c in letters.chars() {
        index = index * 26 + (c.to_ascii_uppercase() as u32 - 'A' as u32 + 1);
    }
    (index <= MAX_COLUMNS).then(|| index - 1)
}

fn row_index(digits: &str) -> Option<u32> {
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) || digits.len() > 7 {
        return None;
    }
    let row: u32 = digits.parse().ok()?;
    (1..=MAX_ROWS).contains(&row).then(|| row - 1)
}

/// `A1`, `$A$1`, `cf1`: an A1 cell address.
pub(crate) fn cell_part(word: &str) -> Option<CellAddress> {
    let (col_absolute, letters, row_absolute, digits) = split_address(word);
    Some(CellAddress {
        col: column_index(letters)?,
        row: row_index(digits)?,
        col_absolute,
        row_absolute,
    })
}

pub(crate) fn column_part(word: &str) -> Option<(u32, bool)> {
    let (absolute, letters, row_absolute, digits) = split_address(word);
    if row_absolute || !digits.is_empty() {
        return None;
    }
    Some((column_index(letters)?, absolute))
}

pub(crate) fn row_part(word: &str) -> Option<(u32, bool)> {
    let (absolute, digits) = match word.strip_prefix('$') {
        Some(digits) => (true, digits),
        None => (false, word),
    };
    Some((row_index(digits)?, absolute))
}
