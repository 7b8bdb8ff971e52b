//! The object store on the local filesystem through `object_store`: the same layout as
//! before it (`ROOT/{org}/{object}`), listing by key prefix, keys that cannot escape, and
//! URLs that are refused at start rather than at the first upload. (S3 and GCS cannot be
//! exercised here: no MinIO or cloud endpoint is reachable offline. With the `cloud`
//! feature the URLs are at least parsed and their clients built.)

use ultra_store::{ObjectStore, StoreError};

#[tokio::test]
async fn put_get_delete_and_list_under_a_prefix() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = ObjectStore::open(dir.path()).await.expect("open");
    for key in ["org-1/m1", "org-1/m2", "org-10/m1", "org-2/raw/sim-1.bin"] {
        store.put(key, key.as_bytes()).await.expect("put");
    }
    assert_eq!(
        store.list("org-1").await.expect("list"),
        ["org-1/m1", "org-1/m2"],
        "a prefix is whole segments: org-10 is not under org-1"
    );
    assert_eq!(
        store.list("org-2").await.expect("list"),
        ["org-2/raw/sim-1.bin"]
    );
    assert_eq!(
        store.list("org-3").await.expect("list"),
        Vec::<String>::new()
    );
    assert_eq!(
        store.get("org-10/m1").await.expect("get"),
        Some(b"org-10/m1".to_vec())
    );
    assert!(store.delete("org-1/m1").await.expect("delete"));
    assert!(!store.delete("org-1/m1").await.expect("delete again"));
    assert_eq!(store.get("org-1/m1").await.expect("get"), None);
    assert_eq!(store.list("org-1").await.expect("list"), ["org-1/m2"]);
    // An empty object is an object.
    store.put("org-1/empty", b"").await.expect("put");
    assert_eq!(
        store.get("org-1/empty").await.expect("get"),
        Some(Vec::new())
    );
}

/// Objects written by the hand-written store this one replaced stay readable: the same
/// files under the same root.
#[tokio::test]
async fn the_on_disk_layout_is_root_slash_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("org-1")).expect("mkdir");
    std::fs::write(dir.path().join("org-1/old"), b"sealed bytes").expect("write");
    let store = ObjectStore::open(dir.path()).await.expect("open");
    assert_eq!(
        store.get("org-1/old").await.expect("get"),
        Some(b"sealed bytes".to_vec())
    );
    store.put("org-2/new", b"x").await.expect("put");
    assert_eq!(
        std::fs::read(dir.path().join("org-2/new")).expect("on disk"),
        b"x"
    );
    // Deleting the last object of an org removes its emptied directory.
    assert!(store.delete("org-2/new").await.expect("delete"));
    assert!(!dir.path().join("org-2").exists());
}

#[tokio::test]
async fn keys_that_could_escape_are_refused_by_every_call() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("objects");
    let store = ObjectStore::open(&root).await.expect("open");
    std::fs::write(dir.path().join("secret"), b"outside").expect("write");
    for key in [
        "",
        "..",
        "../secret",
        "a/../../secret",
        "/etc/passwd",
        "a//b",
        "a/",
        ".hidden/x",
        "a/b c",
        "a\\b",
        "a/b#1",
        "%2e%2e/secret",
    ] {
        let refused = |error: StoreError| matches!(error, StoreError::InvalidKey(_));
        assert!(refused(store.put(key, b"x").await.expect_err(key)), "{key}");
        assert!(refused(store.get(key).await.expect_err(key)), "{key}");
        assert!(refused(store.delete(key).await.expect_err(key)), "{key}");
        assert!(refused(store.list(key).await.expect_err(key)), "{key}");
    }
    assert_eq!(
        std::fs::read(dir.path().join("secret")).expect("untouched"),
        b"outside"
    );
}

#[tokio::test]
async fn a_file_url_is_a_local_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("file://{}/objects", dir.path().display());
    let store = ObjectStore::from_url(&url).await.expect("file url");
    assert_eq!(
        store.location(),
        format!("file://{}/objects", dir.path().display())
    );
    store.put("org-1/m1", b"bytes").await.expect("put");
    assert_eq!(
        std::fs::read(dir.path().join("objects/org-1/m1")).expect("on disk"),
        b"bytes"
    );
}

#[tokio::test]
async fn bad_urls_are_refused_with_the_reason() {
    for (url, reason) in [
        ("objects", "relative URL without a base"),
        ("ftp://host/objects", "unsupported scheme \"ftp\""),
        ("azure://container/x", "unsupported scheme \"azure\""),
        ("file://host/objects", "file:///PATH"),
        ("s3:///prefix", "the bucket is missing"),
    ] {
        let error = ObjectStore::from_url(url).await.expect_err(url);
        assert!(
            matches!(error, StoreError::InvalidObjectStoreUrl { .. }),
            "{url}: {error}"
        );
        assert!(error.to_string().contains(reason), "{url}: {error}");
    }
}

#[cfg(not(feature = "cloud"))]
#[tokio::test]
async fn cloud_urls_name_the_missing_feature() {
    for url in ["s3://bucket/ultra", "gs://bucket"] {
        let error = ObjectStore::from_url(url).await.expect_err(url);
        assert!(
            error.to_string().contains("`cloud` feature"),
            "{url}: {error}"
        );
    }
}

/// With the `cloud` feature the S3 and GCS clients are built from the URL (and the AWS_*
/// variables) without touching the network; requests would need a reachable endpoint.
#[cfg(feature = "cloud")]
#[tokio::test]
async fn cloud_urls_build_their_clients() {
    let store = ObjectStore::from_url("s3://bucket/ultra/files")
        .await
        .expect("s3 url");
    assert_eq!(store.location(), "s3://bucket/ultra/files");
}
