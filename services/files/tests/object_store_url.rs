//! `ULTRA_FILES_OBJECT_STORE_URL`: the object store chosen by URL wins over the directory,
//! keeps the per-organisation key layout and the encryption at rest, and a URL the build
//! cannot serve stops the configuration, not the first upload. (S3/MinIO and GCS need a
//! reachable endpoint and the `cloud` feature of ultra-store; nothing here fakes one.)

mod common;

use common::{caller, example, files_under, start_with};
use ultra_proto::v1::GetModelRequest;

#[tokio::test]
async fn a_file_url_takes_the_encrypted_objects() {
    let elsewhere = tempfile::tempdir().expect("tempdir");
    let url = format!("file://{}/objects", elsewhere.path().display());
    let mut harness = start_with(&[("ULTRA_FILES_OBJECT_STORE_URL", url.as_str())]).await;
    let ada = caller("org-a", "ada");
    let bytes = example("npv10.json");
    let model = harness
        .upload(&ada, "npv10.json", &bytes)
        .await
        .expect("upload");

    let objects = files_under(&elsewhere.path().join("objects"));
    assert_eq!(
        objects,
        [elsewhere.path().join("objects/org-a").join(&model.id)],
        "one object, under its organisation"
    );
    let stored = std::fs::read(&objects[0]).expect("read object");
    assert!(
        !stored.windows(16).any(|window| bytes.starts_with(window)),
        "the object is sealed, not the upload's plaintext"
    );
    assert!(
        !harness.storage_dir.exists() || files_under(&harness.storage_dir).is_empty(),
        "the URL wins over ULTRA_FILES_STORAGE_DIR"
    );
    let compiled = harness
        .client
        .get_compiled_model(GetModelRequest {
            caller: Some(ada),
            model_id: model.id,
            ..Default::default()
        })
        .await
        .expect("read back through the store")
        .into_inner();
    assert!(!compiled.ir_json.is_empty());
    harness.stop().await;
}

#[test]
fn bad_object_store_urls_are_configuration_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut vars = common::env(&dir);
    for (url, reason) in [
        ("ftp://host/objects", "unsupported scheme"),
        ("file://host/objects", "file:///PATH"),
        ("s3:///prefix", "bucket is missing"),
    ] {
        vars.insert("ULTRA_FILES_OBJECT_STORE_URL".into(), url.into());
        let error = ultra_files::Config::from_env(&vars).expect_err(url);
        let message = error.to_string();
        assert!(
            message.contains("ULTRA_FILES_OBJECT_STORE_URL") && message.contains(reason),
            "{url}: {message}"
        );
    }
    // A URL alone is enough: no directory needed.
    vars.insert(
        "ULTRA_FILES_OBJECT_STORE_URL".into(),
        format!("file://{}/objects", dir.path().display()),
    );
    vars.remove("ULTRA_FILES_STORAGE_DIR");
    let config = ultra_files::Config::from_env(&vars).expect("a URL without a directory");
    assert_eq!(config.storage_dir, None);
}
