//! The store against real SQLite files in a temp dir: migrations, the outbox publishes
//! exactly what committed, consumption dedupes, objects are written atomically.

use std::time::Duration;

use sqlx::Row;
use sqlx::migrate::Migrator;
use tokio::time::timeout;
use tokio_util::sync::CancellationToken;
use ultra_bus::{Bus, new_event};
use ultra_proto::v1::event::Payload;
use ultra_proto::v1::{Event, ModelUploaded};
use ultra_store::{
    Db, ObjectStore, StoreError, enqueue, mark_processed, open, relay_once, spawn_relay,
};

static MIGRATOR: Migrator = sqlx::migrate!("tests/migrations");

async fn temp_db(dir: &tempfile::TempDir) -> Db {
    let url = format!("sqlite://{}/nested/service.db", dir.path().display());
    open(&url, &MIGRATOR).await.expect("open")
}

fn uploaded(model_id: &str) -> Event {
    new_event(
        "model.uploaded",
        "org-1",
        "user-1",
        Payload::ModelUploaded(ModelUploaded {
            model_id: model_id.to_owned(),
            size_bytes: 1,
        }),
    )
}

async fn outbox_len(db: &Db) -> i64 {
    sqlx::query("SELECT COUNT(*) AS n FROM outbox")
        .fetch_one(db.pool())
        .await
        .expect("count")
        .try_get("n")
        .expect("n")
}

#[tokio::test]
async fn open_creates_the_file_runs_migrations_and_reopens() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = temp_db(&dir).await;
    sqlx::query("INSERT INTO widgets (id, org_id) VALUES ($1, $2)")
        .bind("w1")
        .bind("org-1")
        .execute(db.pool())
        .await
        .expect("insert");
    let mode: String = sqlx::query("PRAGMA journal_mode")
        .fetch_one(db.pool())
        .await
        .expect("pragma")
        .try_get(0)
        .expect("mode");
    assert_eq!(mode.to_lowercase(), "wal");
    db.close().await;
    let reopened = temp_db(&dir).await;
    let count: i64 = sqlx::query("SELECT COUNT(*) FROM widgets")
        .fetch_one(reopened.pool())
        .await
        .expect("count")
        .try_get(0)
        .expect("n");
    assert_eq!(count, 1, "data survives, migrations are not re-applied");
}

#[tokio::test]
async fn unsupported_urls_are_refused() {
    let error = open("mysql://localhost/x", &MIGRATOR)
        .await
        .expect_err("unsupported");
    assert!(matches!(error, StoreError::UnsupportedUrl(_)), "{error}");
}

#[tokio::test]
async fn the_relay_publishes_committed_events_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = temp_db(&dir).await;
    let bus = Bus::in_process();
    let mut subscription = bus.subscribe("test").await;

    let committed = uploaded("kept");
    let mut tx = db.begin().await.expect("begin");
    enqueue(&mut tx, &committed).await.expect("enqueue");
    tx.commit().await.expect("commit");

    let rolled_back = uploaded("rolled-back");
    let mut tx = db.begin().await.expect("begin");
    enqueue(&mut tx, &rolled_back).await.expect("enqueue");
    tx.rollback().await.expect("rollback");

    assert_eq!(relay_once(&db, &bus).await.expect("relay"), 1);
    let delivery = timeout(Duration::from_secs(2), subscription.next())
        .await
        .expect("in time")
        .expect("open");
    assert_eq!(delivery.event(), &committed);
    delivery.ack();
    assert!(
        timeout(Duration::from_millis(50), subscription.next())
            .await
            .is_err()
    );
    assert_eq!(outbox_len(&db).await, 0, "published rows are removed");
    assert_eq!(relay_once(&db, &bus).await.expect("relay"), 0);
}

#[tokio::test]
async fn the_background_relay_publishes_in_order_and_stops() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = temp_db(&dir).await;
    let bus = Bus::in_process();
    let mut subscription = bus.subscribe("test").await;
    let shutdown = CancellationToken::new();
    let relay = spawn_relay(db.clone(), bus.clone(), shutdown.clone());
    let events: Vec<Event> = (0..5).map(|i| uploaded(&format!("m{i}"))).collect();
    let mut tx = db.begin().await.expect("begin");
    for event in &events {
        enqueue(&mut tx, event).await.expect("enqueue");
    }
    tx.commit().await.expect("commit");
    db.wake_relay();
    for expected in &events {
        let delivery = timeout(Duration::from_secs(2), subscription.next())
            .await
            .expect("in time")
            .expect("open");
        assert_eq!(delivery.event().id, expected.id);
        delivery.ack();
    }
    shutdown.cancel();
    timeout(Duration::from_secs(2), relay)
        .await
        .expect("stops")
        .expect("join");
}

#[tokio::test]
async fn mark_processed_dedupes_within_committed_transactions() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = temp_db(&dir).await;

    // A handler that failed (rolled back) has not processed the event.
    let mut tx = db.begin().await.expect("begin");
    assert!(mark_processed(&mut tx, "event-1").await.expect("mark"));
    tx.rollback().await.expect("rollback");

    let mut tx = db.begin().await.expect("begin");
    assert!(mark_processed(&mut tx, "event-1").await.expect("mark"));
    tx.commit().await.expect("commit");

    let mut tx = db.begin().await.expect("begin");
    assert!(
        !mark_processed(&mut tx, "event-1").await.expect("mark"),
        "redelivery"
    );
    assert!(mark_processed(&mut tx, "event-2").await.expect("mark"));
    tx.commit().await.expect("commit");
}

#[tokio::test]
async fn objects_round_trip_and_replace_atomically() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = ObjectStore::open(dir.path().join("objects"))
        .await
        .expect("open");
    assert_eq!(store.get("org-1/m1").await.expect("get"), None);
    store.put("org-1/m1", b"first").await.expect("put");
    store.put("org-1/m1", b"second version").await.expect("put");
    assert_eq!(
        store.get("org-1/m1").await.expect("get"),
        Some(b"second version".to_vec())
    );
    let entries: Vec<_> = std::fs::read_dir(dir.path().join("objects/org-1"))
        .expect("org dir")
        .map(|entry| entry.expect("entry").file_name())
        .collect();
    assert_eq!(entries, ["m1"], "no staging file is left behind");
    assert!(store.delete("org-1/m1").await.expect("delete"));
    assert!(!store.delete("org-1/m1").await.expect("delete"));
    assert_eq!(store.get("org-1/m1").await.expect("get"), None);
}

#[tokio::test]
async fn object_keys_cannot_escape_the_root() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = ObjectStore::open(dir.path()).await.expect("open");
    for key in [
        "",
        "../x",
        "a/../../x",
        "/etc/passwd",
        "a//b",
        ".tmp/x",
        "a/b c",
        "a\\b",
    ] {
        let error = store.put(key, b"x").await.expect_err(key);
        assert!(matches!(error, StoreError::InvalidKey(_)), "{key}: {error}");
    }
}
