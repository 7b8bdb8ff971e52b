//! The zip container of a workbook, checked before calamine opens it.
//!
//! calamine decompresses whatever the archive holds and has no size cap of its own. The
//! `zip` crate (which calamine reads through) refuses to inflate an entry past the size its
//! central directory declares, so summing the declared sizes here bounds everything
//! calamine will ever inflate: a zip bomb is refused before one byte is decompressed.
//!
//! calamine also drops the scope (`localSheetId`) of defined names, so the `definedName`
//! elements of `xl/workbook.xml` are scanned here for it.

use std::io::{Cursor, Read};

use super::limits::{MAX_UNCOMPRESSED_BYTES, MAX_WORKBOOK_BYTES, MAX_ZIP_ENTRIES};
use crate::error::FormulaError;

/// The scope of one defined name: `None` is workbook scope, `Some(i)` the i-th sheet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NameScope {
    pub name: String,
    pub sheet: Option<usize>,
}

/// Checks the container's sizes and reads the scopes of the defined names.
pub(crate) fn inspect(bytes: &[u8]) -> Result<Vec<NameScope>, FormulaError> {
    if bytes.len() > MAX_WORKBOOK_BYTES {
        return Err(FormulaError::Limit(format!(
            "the file is {} bytes; the limit is {MAX_WORKBOOK_BYTES}",
            bytes.len()
        )));
    }
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes))
        .map_err(|e| FormulaError::Workbook(e.to_string()))?;
    if archive.len() > MAX_ZIP_ENTRIES {
        return Err(FormulaError::Limit(format!(
            "the archive has {} entries; the limit is {MAX_ZIP_ENTRIES}",
            archive.len()
        )));
    }
    let mut total: u64 = 0;
    let mut workbook_xml = None;
    for index in 0..archive.len() {
        let entry = archive
            .by_index_raw(index)
            .map_err(|e| FormulaError::Workbook(e.to_string()))?;
        total = total.saturating_add(entry.size());
        if entry
            .name()
            .is_ok_and(|name| name.eq_ignore_ascii_case("xl/workbook.xml"))
        {
            workbook_xml = Some(index);
        }
    }
    if total > MAX_UNCOMPRESSED_BYTES {
        return Err(FormulaError::Limit(format!(
            "the archive declares {total} uncompressed bytes; the limit is \
             {MAX_UNCOMPRESSED_BYTES} (a zip bomb, or a workbook too large to simulate)"
        )));
    }
    let Some(index) = workbook_xml else {
        return Ok(Vec::new());
    };
    let mut text = Vec::new();
    archive
        .by_index(index)
        .map_err(|e| FormulaError::Workbook(e.to_string()))?
        .take(MAX_UNCOMPRESSED_BYTES)
        .read_to_end(&mut text)
        .map_err(|e| FormulaError::Workbook(e.to_string()))?;
    Ok(scan_defined_names(&String::from_utf8_lossy(&text)))
}

/// The `name` and `localSheetId` of each `<definedName>` element, in document order
/// (the order calamine lists them in).
pub(crate) fn scan_defined_names(xml: &str) -> Vec<NameScope> {
    let mut scopes = Vec::new();
    let mut rest = xml;
    while let Some(start) = find_element(rest, "definedName") {
        let after = &rest[start..];
        let end = after.find('>').unwrap_or(after.len());
        let tag = &after[..end];
        if let Some(name) = attribute(tag, "name") {
            let sheet = attribute(tag, "localSheetId").and_then(|id| id.parse().ok());
            scopes.push(NameScope {
                name: unescape(&name),
                sheet,
            });
        }
        rest = &after[end..];
    }
    scopes
}

/// The byte offset of the next `<element` or `<prefix:element` start tag.
fn find_element(xml: &str, element: &str) -> Option<usize> {
    let mut offset = 0;
    while let Some(found) = xml[offset..].find('<') {
        let at = offset + found;
        let tag = &xml[at + 1..];
        let local = match tag.find(|c: char| c.is_whitespace() || c == '>' || c == '/') {
            Some(end) => &tag[..end],
            None => tag,
        };
        let local = local.rsplit(':').next().unwrap_or(local);
        if local == element {
            return Some(at);
        }
        offset = at + 1;
    }
    None
}

/// The value of attribute `name` in a start tag (quoted with `"` or `'`).
fn attribute(tag: &str, name: &str) -> Option<String> {
    let mut rest = tag;
    while let Some(at) = rest.find(name) {
        let before_ok = rest[..at]
            .chars()
            .next_back()
            .is_some_and(char::is_whitespace);
        let after = rest[at + name.len()..].trim_start();
        if before_ok && let Some(value) = after.strip_prefix('=') {
            let value = value.trim_start();
            let quote = value.chars().next()?;
            if quote == '"' || quote == '\'' {
                let body = &value[1..];
                return body.find(quote).map(|end| body[..end].to_string());
            }
        }
        rest = &rest[at + name.len()..];
    }
    None
}

fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scans_scopes() {
        let xml = r#"<workbook><definedNames><definedName name="rate">Sheet1!$B$2</definedName>
            <definedName localSheetId="1" name="local">Two!$A$1</definedName>
            <x:definedName name='q&amp;a' >1</x:definedName></definedNames></workbook>"#;
        let scopes = scan_defined_names(xml);
        assert_eq!(
            scopes,
            vec![
                NameScope {
                    name: "rate".into(),
                    sheet: None
                },
                NameScope {
                    name: "local".into(),
                    sheet: Some(1)
                },
                NameScope {
                    name: "q&a".into(),
                    sheet: None
                },
            ]
        );
    }
}
