//! Builds minimal `.xlsx` files in memory for tests: one worksheet part per sheet, cells
//! as `(address, content)` where content starting with `=` is a formula.

use std::io::Write;

use zip::write::SimpleFileOptions;

pub struct SheetSpec<'a> {
    pub name: &'a str,
    /// Raw `<sheetData>` content.
    pub data: String,
}

/// `<c>` elements for `(address, content)` pairs, one row each in document order.
pub fn cells(cells: &[(&str, &str)]) -> String {
    let mut xml = String::new();
    for (address, content) in cells {
        xml.push_str(&cell(address, content));
    }
    xml
}

pub fn cell(address: &str, content: &str) -> String {
    let escape = |t: &str| {
        t.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    if let Some(formula) = content.strip_prefix('=') {
        format!("<c r=\"{address}\"><f>{}</f></c>", escape(formula))
    } else if content.parse::<f64>().is_ok() {
        format!("<c r=\"{address}\"><v>{content}</v></c>")
    } else {
        format!(
            "<c r=\"{address}\" t=\"inlineStr\"><is><t>{}</t></is></c>",
            escape(content)
        )
    }
}

/// A workbook with `sheets`, `names` as raw `<definedName>` elements, and extra parts.
pub fn workbook(sheets: &[SheetSpec<'_>], names: &str, extra: &[(&str, &[u8])]) -> Vec<u8> {
    let mut buffer = std::io::Cursor::new(Vec::new());
    let mut zip = zip::ZipWriter::new(&mut buffer);
    let options = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    let put = |zip: &mut zip::ZipWriter<_>, name: &str, body: &[u8]| {
        zip.start_file(name, options).expect("start");
        zip.write_all(body).expect("write");
    };
    let mut types = String::from(
        r#"<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>"#,
    );
    let mut sheet_list = String::new();
    let mut rels = String::from(
        r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">"#,
    );
    for (i, sheet) in sheets.iter().enumerate() {
        let n = i + 1;
        types.push_str(&format!(r#"<Override PartName="/xl/worksheets/sheet{n}.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>"#));
        sheet_list.push_str(&format!(
            r#"<sheet name="{}" sheetId="{n}" r:id="rId{n}"/>"#,
            sheet.name
        ));
        rels.push_str(&format!(r#"<Relationship Id="rId{n}" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet{n}.xml"/>"#));
    }
    types.push_str("</Types>");
    rels.push_str("</Relationships>");
    put(&mut zip, "[Content_Types].xml", types.as_bytes());
    put(&mut zip, "_rels/.rels", br#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#);
    let book = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets>{sheet_list}</sheets><definedNames>{names}</definedNames></workbook>"#
    );
    put(&mut zip, "xl/workbook.xml", book.as_bytes());
    put(&mut zip, "xl/_rels/workbook.xml.rels", rels.as_bytes());
    for (i, sheet) in sheets.iter().enumerate() {
        let body = format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>{}</sheetData></worksheet>"#,
            sheet.data
        );
        put(
            &mut zip,
            &format!("xl/worksheets/sheet{}.xml", i + 1),
            body.as_bytes(),
        );
    }
    for (name, body) in extra {
        put(&mut zip, name, body);
    }
    zip.finish().expect("finish");
    buffer.into_inner()
}

/// One sheet named `Sheet1` with `cells`.
pub fn simple(cells_: &[(&str, &str)]) -> Vec<u8> {
    workbook(
        &[SheetSpec {
            name: "Sheet1",
            data: cells(cells_),
        }],
        "",
        &[],
    )
}
