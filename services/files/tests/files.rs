//! The files service over real gRPC: upload round trip, tenancy, limits, bad models,
//! encryption at rest, paging, health and reflection.

mod common;

use std::time::Duration;

use common::{caller, example, example_exists, files_under, start, start_with};
use tonic::Code;
use ultra_proto::v1::{DeleteModelRequest, GetModelRequest, ListModelsRequest, PageRequest};

#[tokio::test]
async fn json_model_round_trip() {
    let mut harness = start().await;
    let mut events = harness.bus.subscribe("test").await;
    let ada = caller("org-a", "ada");
    let bytes = example("npv10.json");
    let model = harness
        .upload(&ada, "npv10.json", &bytes)
        .await
        .expect("upload");
    assert_eq!(model.format, "json");
    assert_eq!(
        (model.org_id.as_str(), model.user_id.as_str()),
        ("org-a", "ada")
    );
    assert_eq!(model.size_bytes, bytes.len() as u64);
    assert_eq!(model.sha256.len(), 64);
    assert_eq!(model.inputs.len(), 4, "{:?}", model.inputs);
    assert!(
        model
            .inputs
            .iter()
            .any(|input| input.distribution.starts_with("RiskTriang"))
    );
    assert!(
        model.outputs.iter().any(|output| output.name == "NPV"),
        "{:?}",
        model.outputs
    );
    assert!(model.cell_count > 10);

    let uploaded = tokio::time::timeout(Duration::from_secs(5), events.next())
        .await
        .expect("model.uploaded relayed")
        .expect("open");
    assert_eq!(uploaded.event().r#type, "model.uploaded");
    assert_eq!(uploaded.event().org_id, "org-a");
    uploaded.ack();

    let request = GetModelRequest {
        caller: Some(ada.clone()),
        model_id: model.id.clone(),
        ..Default::default()
    };
    let fetched = harness
        .client
        .get_model(request.clone())
        .await
        .expect("get")
        .into_inner();
    assert_eq!(fetched, model);
    let compiled = harness
        .client
        .get_compiled_model(request.clone())
        .await
        .expect("ir")
        .into_inner();
    assert_eq!(compiled.model_id, model.id);
    let ir: serde_json::Value = serde_json::from_str(&compiled.ir_json).expect("IR is JSON");
    assert!(
        ir["nodes"]
            .as_array()
            .is_some_and(|nodes| !nodes.is_empty()),
        "{ir}"
    );

    harness
        .client
        .delete_model(DeleteModelRequest {
            caller: Some(ada.clone()),
            model_id: model.id.clone(),
        })
        .await
        .expect("delete");
    let deleted = tokio::time::timeout(Duration::from_secs(5), events.next())
        .await
        .expect("model.deleted relayed")
        .expect("open");
    assert_eq!(deleted.event().r#type, "model.deleted");
    let gone = harness
        .client
        .get_model(request.clone())
        .await
        .expect_err("deleted");
    assert_eq!(gone.code(), Code::NotFound);
    let again = harness
        .client
        .delete_model(DeleteModelRequest {
            caller: Some(ada),
            model_id: model.id,
        })
        .await
        .expect_err("deleted twice");
    assert_eq!(again.code(), Code::NotFound);
    let objects = files_under(&harness.storage_dir);
    assert!(objects.is_empty(), "the object is removed: {objects:?}");
    harness.stop().await;
}

#[tokio::test]
async fn workbook_upload_compiles() {
    if !example_exists("npv10.xlsx") {
        eprintln!("examples/npv10.xlsx is missing; skipping");
        return;
    }
    let mut harness = start().await;
    let ada = caller("org-a", "ada");
    let model = harness
        .upload(&ada, "npv10.xlsx", &example("npv10.xlsx"))
        .await
        .expect("upload");
    assert_eq!(model.format, "xlsx");
    assert!(!model.outputs.is_empty());
    let compiled = harness
        .client
        .get_compiled_model(GetModelRequest {
            caller: Some(ada),
            model_id: model.id,
            ..Default::default()
        })
        .await
        .expect("ir")
        .into_inner();
    assert!(compiled.ir_json.contains("nodes"));
    harness.stop().await;
}

#[tokio::test]
async fn other_organisations_get_not_found() {
    let mut harness = start().await;
    let ada = caller("org-a", "ada");
    let model = harness
        .upload(&ada, "npv10.json", &example("npv10.json"))
        .await
        .expect("upload");
    let eve = caller("org-b", "eve");
    let request = GetModelRequest {
        caller: Some(eve.clone()),
        model_id: model.id.clone(),
        ..Default::default()
    };
    let status = harness
        .client
        .get_model(request.clone())
        .await
        .expect_err("get");
    assert_eq!(status.code(), Code::NotFound);
    let status = harness
        .client
        .get_compiled_model(request)
        .await
        .expect_err("compiled");
    assert_eq!(status.code(), Code::NotFound);
    let status = harness
        .client
        .delete_model(DeleteModelRequest {
            caller: Some(eve.clone()),
            model_id: model.id.clone(),
        })
        .await
        .expect_err("delete");
    assert_eq!(status.code(), Code::NotFound);
    let listed = harness
        .client
        .list_models(ListModelsRequest {
            caller: Some(eve),
            page: None,
        })
        .await
        .expect("list")
        .into_inner();
    assert!(listed.models.is_empty());
    // Still there for its owner.
    harness
        .client
        .get_model(GetModelRequest {
            caller: Some(ada),
            model_id: model.id,
            ..Default::default()
        })
        .await
        .expect("owner still sees it");
    let status = harness
        .client
        .get_model(GetModelRequest {
            caller: None,
            model_id: "x".into(),
            ..Default::default()
        })
        .await
        .expect_err("no caller");
    assert_eq!(status.code(), Code::Unauthenticated);
    harness.stop().await;
}

#[tokio::test]
async fn oversized_uploads_are_resource_exhausted() {
    let mut harness = start_with(&[("ULTRA_MAX_UPLOAD_BYTES", "1000")]).await;
    let status = harness
        .upload(
            &caller("org-a", "ada"),
            "npv10.json",
            &example("npv10.json"),
        )
        .await
        .expect_err("too large");
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(
        files_under(&harness.storage_dir).is_empty(),
        "nothing stored"
    );
    harness.stop().await;
}

#[tokio::test]
async fn bad_models_name_the_cells_at_fault() {
    let mut harness = start().await;
    let ada = caller("org-a", "ada");
    let model = br#"{"name": "broken", "cells": {"a": "=RiskNormal(0, 1)",
        "out": "=RiskOutput(\"out\") + a * NoSuchFunction(2)"}}"#;
    let status = harness
        .upload(&ada, "broken.json", model)
        .await
        .expect_err("bad model");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().contains("out"), "{}", status.message());
    assert!(
        status.message().to_lowercase().contains("nosuchfunction"),
        "{}",
        status.message()
    );

    let status = harness
        .upload(&ada, "x.json", b"{not json")
        .await
        .expect_err("not JSON");
    assert_eq!(status.code(), Code::InvalidArgument);
    let status = harness
        .upload(&ada, "x.xlsx", b"not a zip")
        .await
        .expect_err("not xlsx");
    assert_eq!(status.code(), Code::InvalidArgument);
    let status = harness
        .upload(&ada, "x.json", &[0xff, 0xfe])
        .await
        .expect_err("not UTF-8");
    assert_eq!(status.code(), Code::InvalidArgument);
    harness.stop().await;
}

#[tokio::test]
async fn wrong_formats_and_malformed_streams_are_invalid() {
    let mut harness = start().await;
    let ada = caller("org-a", "ada");
    for filename in ["model.csv", "model", "", "model.json.exe"] {
        let status = harness
            .upload(&ada, filename, b"{}")
            .await
            .expect_err(filename);
        assert_eq!(
            status.code(),
            Code::InvalidArgument,
            "{filename}: {status:?}"
        );
    }
    let status = harness
        .upload(&ada, "empty.json", b"")
        .await
        .expect_err("empty");
    assert_eq!(status.code(), Code::InvalidArgument);
    use ultra_proto::v1::UploadModelRequest;
    use ultra_proto::v1::upload_model_request::Part;
    let chunk_first = vec![UploadModelRequest {
        part: Some(Part::Chunk(b"{}".to_vec())),
    }];
    let status = harness
        .client
        .upload_model(tokio_stream::iter(chunk_first))
        .await
        .expect_err("no metadata");
    assert_eq!(status.code(), Code::InvalidArgument);
    harness.stop().await;
}

#[tokio::test]
async fn stored_objects_are_encrypted() {
    let mut harness = start().await;
    let bytes = example("npv10.json");
    let model = harness
        .upload(&caller("org-a", "ada"), "npv10.json", &bytes)
        .await
        .expect("upload");
    let objects = files_under(&harness.storage_dir);
    let object = objects
        .iter()
        .find(|path| path.ends_with(format!("org-a/{}", model.id)))
        .unwrap_or_else(|| panic!("object under org-a/{}: {objects:?}", model.id));
    let stored = std::fs::read(object).expect("read");
    assert!(
        stored.len() > bytes.len(),
        "nonce and tag are stored with it"
    );
    for needle in [&b"RiskTriang"[..], b"investment", b"Ten-year project NPV"] {
        assert!(!stored.windows(needle.len()).any(|window| window == needle));
    }
    harness.stop().await;
}

#[tokio::test]
async fn listing_is_paged_newest_first() {
    let mut harness = start().await;
    let ada = caller("org-a", "ada");
    let bytes = example("npv10.json");
    let mut ids = Vec::new();
    for index in 0..3 {
        let model = harness
            .upload(&ada, &format!("m{index}.json"), &bytes)
            .await
            .expect("upload");
        ids.push(model.id);
    }
    ids.reverse();
    let page = |token: String| ListModelsRequest {
        caller: Some(ada.clone()),
        page: Some(PageRequest {
            page_size: 2,
            page_token: token,
        }),
    };
    let first = harness
        .client
        .list_models(page(String::new()))
        .await
        .expect("list")
        .into_inner();
    let first_ids: Vec<&str> = first.models.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(first_ids, [ids[0].as_str(), ids[1].as_str()]);
    assert!(!first.next_page_token.is_empty());
    let second = harness
        .client
        .list_models(page(first.next_page_token))
        .await
        .expect("list")
        .into_inner();
    let second_ids: Vec<&str> = second.models.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(second_ids, [ids[2].as_str()]);
    assert!(second.next_page_token.is_empty());
    let status = harness
        .client
        .list_models(page("!!bogus".into()))
        .await
        .expect_err("bad token");
    assert_eq!(status.code(), Code::InvalidArgument);
    harness.stop().await;
}

#[test]
fn config_names_the_bad_variable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut vars = common::env(&dir);
    vars.insert("ULTRA_MASTER_KEY".into(), "abcd".into());
    let error = ultra_files::Config::from_env(&vars).expect_err("short key");
    assert!(error.to_string().contains("ULTRA_MASTER_KEY"), "{error}");
    vars.insert("ULTRA_MASTER_KEY".into(), common::MASTER_KEY.into());
    vars.insert("ULTRA_MAX_UPLOAD_BYTES".into(), "lots".into());
    let error = ultra_files::Config::from_env(&vars).expect_err("bad limit");
    assert!(
        error.to_string().contains("ULTRA_MAX_UPLOAD_BYTES"),
        "{error}"
    );
    vars.remove("ULTRA_MAX_UPLOAD_BYTES");
    let config = ultra_files::Config::from_env(&vars).expect("defaults");
    assert_eq!(config.max_upload_bytes, 20 * 1024 * 1024);
    vars.remove("ULTRA_FILES_STORAGE_DIR");
    let error = ultra_files::Config::from_env(&vars).expect_err("missing");
    assert!(
        error.to_string().contains("ULTRA_FILES_STORAGE_DIR"),
        "{error}"
    );
}
