//! Inputs and outputs chosen in the simulation request, for a workbook written without
//! @RISK: the workbook (built here, no Risk functions) uploads, runs through the gateway
//! with a distribution on one cell and an output on another, and the results name the
//! chosen output. Bad overrides are the documented problems.

mod serve_common;

use std::io::Write;

use serde_json::{Value, json};
use serve_common::{Api, start_platform};

const PROBLEM: &str = "https://ultra.dev/problems/";

fn assert_problem(response: &ultra_cli::http_client::HttpResponse, status: u16, slug: &str) {
    let body = response.json();
    assert_eq!(response.status, status, "body: {body}");
    assert_eq!(body["type"], format!("{PROBLEM}{slug}"), "body: {body}");
}

fn multipart(filename: &str, bytes: &[u8]) -> (String, Vec<u8>) {
    let boundary = "ultra-overrides-boundary-41c2";
    let mut body = format!(
        "--{boundary}\r\ncontent-disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\n\
         content-type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// A minimal `.xlsx`: one sheet `name` with `(address, content)` cells, `=` for formulas.
fn xlsx(name: &str, cells: &[(&str, &str)]) -> Vec<u8> {
    let mut data = String::new();
    for (address, content) in cells {
        match content.strip_prefix('=') {
            Some(formula) => data.push_str(&format!("<c r=\"{address}\"><f>{formula}</f></c>")),
            None => data.push_str(&format!("<c r=\"{address}\"><v>{content}</v></c>")),
        }
    }
    let parts: [(&str, String); 5] = [
        (
            "[Content_Types].xml",
            r#"<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>"#.into(),
        ),
        (
            "_rels/.rels",
            r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#.into(),
        ),
        (
            "xl/workbook.xml",
            format!(
                r#"<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="{name}" sheetId="1" r:id="rId1"/></sheets></workbook>"#
            ),
        ),
        (
            "xl/_rels/workbook.xml.rels",
            r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>"#.into(),
        ),
        (
            "xl/worksheets/sheet1.xml",
            format!(
                r#"<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>{data}</sheetData></worksheet>"#
            ),
        ),
    ];
    let mut buffer = std::io::Cursor::new(Vec::new());
    let mut zip = zip::ZipWriter::new(&mut buffer);
    let options =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (path, body) in parts {
        zip.start_file(path, options).expect("start");
        zip.write_all(body.as_bytes()).expect("write");
    }
    zip.finish().expect("finish");
    buffer.into_inner()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn workbook_without_risk_functions_runs_with_request_overrides() {
    let (platform, data_dir) = start_platform(&[]).await;
    let api = Api::new(&platform.base_url);
    let registered = api
        .post_json("/v1/auth/register", None, &json!({"email": "ada@o.example", "password": "correct horse battery", "organization_name": "Org O"}))
        .await;
    assert_eq!(registered.status, 201, "register: {}", registered.json());
    let token = api.login("ada@o.example", "correct horse battery").await;

    // Price x quantity, no Risk function anywhere: it uploads, with no inputs or outputs.
    let workbook = xlsx("Model", &[("B2", "100"), ("B3", "2"), ("B4", "=B2*B3")]);
    let (content_type, body) = multipart("plain.xlsx", &workbook);
    let upload = api
        .post("/v1/models", Some(&token), &content_type, &body)
        .await;
    assert_eq!(upload.status, 201, "upload: {}", upload.json());
    assert_eq!(upload.json()["outputs"], json!([]), "{}", upload.json());
    let model_id = upload.json()["id"].as_str().expect("id").to_string();

    let submit = |extra: Value| {
        let mut body = json!({"model_id": model_id, "iterations": 20_000, "seed": 7});
        if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
            body.extend(extra.clone());
        }
        body
    };

    // Without overrides it has nothing to report: 422 naming the missing outputs.
    let none = api
        .post_json("/v1/simulations", Some(&token), &submit(json!({})))
        .await;
    assert_problem(&none, 422, "invalid-model");
    // A distribution that is not one, a cell that cannot exist: 422.
    let bad_distribution = api
        .post_json(
            "/v1/simulations",
            Some(&token),
            &submit(json!({
            "inputs": [{"cell": "Model!B2", "distribution": "SUM(1,2)"}],
            "outputs": [{"cell": "Model!B4", "name": "Revenue"}]})),
        )
        .await;
    assert_problem(&bad_distribution, 422, "invalid-model");
    let bad_cell = api
        .post_json(
            "/v1/simulations",
            Some(&token),
            &submit(json!({
            "outputs": [{"cell": "Nowhere!B4"}]})),
        )
        .await;
    assert_problem(&bad_cell, 422, "invalid-model");
    // An empty cell text is refused by the gateway itself.
    let empty = api
        .post_json(
            "/v1/simulations",
            Some(&token),
            &submit(json!({
            "outputs": [{"cell": " "}]})),
        )
        .await;
    assert_problem(&empty, 400, "invalid-argument");

    // Price ~ Triang(80, 100, 130), output the revenue.
    let submitted = api
        .post_json(
            "/v1/simulations",
            Some(&token),
            &submit(json!({
            "inputs": [{"cell": "Model!B2", "distribution": "RiskTriang(80,100,130)"}],
            "outputs": [{"cell": "Model!B4", "name": "Revenue"}]})),
        )
        .await;
    assert_eq!(submitted.status, 202, "submit: {}", submitted.json());
    let simulation_id = submitted.json()["id"].as_str().expect("id").to_string();
    let (status, events) = api
        .events(&format!("/v1/simulations/{simulation_id}/events"), &token)
        .await;
    assert_eq!(status, 200);
    let last: Value = serde_json::from_str(&events.last().expect("final").data).expect("json");
    assert_eq!(last["status"], "completed", "final: {last}");
    let results = api
        .get(
            &format!("/v1/simulations/{simulation_id}/results"),
            Some(&token),
        )
        .await;
    assert_eq!(results.status, 200, "results: {}", results.json());
    let revenue = &results.json()["outputs"]["Revenue"];
    let mean = revenue["mean"].as_f64().expect("Revenue mean");
    let std_error = revenue["std_error"].as_f64().expect("std_error");
    let reference = 2.0 * (80.0 + 100.0 + 130.0) / 3.0;
    assert!(
        (mean - reference).abs() <= 4.0 * std_error.max(1e-9),
        "Revenue mean {mean} vs {reference} (std error {std_error})"
    );

    // A JSON model declares its own inputs and outputs: overrides are 400.
    let npv10 = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/npv10.json"
    ))
    .expect("npv10.json");
    let (content_type, body) = multipart("npv10.json", &npv10);
    let json_model = api
        .post("/v1/models", Some(&token), &content_type, &body)
        .await;
    assert_eq!(json_model.status, 201, "upload: {}", json_model.json());
    let json_id = json_model.json()["id"].as_str().expect("id").to_string();
    let on_json = api
        .post_json(
            "/v1/simulations",
            Some(&token),
            &json!({
            "model_id": json_id, "iterations": 100,
            "outputs": [{"cell": "NPV", "name": "x"}]}),
        )
        .await;
    assert_problem(&on_json, 400, "invalid-argument");

    let errors = platform.shutdown(std::time::Duration::from_secs(10)).await;
    assert!(errors.is_empty(), "shutdown errors: {errors:?}");
    let _ = std::fs::remove_dir_all(data_dir);
}
