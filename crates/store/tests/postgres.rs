//! The store against a real PostgreSQL (ultra-testkit, one private server per test): the same
//! migrations and queries as on SQLite, a start that waits for the database, and a pool
//! that outlives a database restart.

use std::time::{Duration, Instant};

use sqlx::Row;
use sqlx::migrate::Migrator;
use tokio::time::timeout;
use ultra_bus::{Bus, new_event};
use ultra_proto::v1::ModelUploaded;
use ultra_proto::v1::event::Payload;
use ultra_store::{Backend, DbOptions, enqueue, mark_processed, open, open_with, relay_once};
use ultra_testkit::PostgresServer;

static MIGRATOR: Migrator = sqlx::migrate!("tests/migrations");

fn server() -> PostgresServer {
    PostgresServer::start().expect("start postgres")
}

async fn widgets(db: &ultra_store::Db) -> i64 {
    sqlx::query("SELECT COUNT(*) AS n FROM widgets")
        .fetch_one(db.pool())
        .await
        .expect("count")
        .try_get("n")
        .expect("n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_outbox_and_dedupe_work_on_postgres() {
    let server = server();
    let url = server.create_database("store").expect("create database");
    let db = open(&url, &MIGRATOR).await.expect("open");
    assert_eq!(db.backend(), Backend::Postgres);
    db.close().await;
    // Reopening does not re-apply the migrations.
    let db = open(&url, &MIGRATOR).await.expect("reopen");

    let bus = Bus::in_process();
    let mut subscription = bus.subscribe("test").await;
    let event = new_event(
        "model.uploaded",
        "org-1",
        "user-1",
        Payload::ModelUploaded(ModelUploaded {
            model_id: "m1".to_owned(),
            size_bytes: 1,
        }),
    );
    let mut tx = db.begin().await.expect("begin");
    enqueue(&mut tx, &event).await.expect("enqueue");
    tx.commit().await.expect("commit");
    assert_eq!(relay_once(&db, &bus).await.expect("relay"), 1);
    let delivery = timeout(Duration::from_secs(2), subscription.next())
        .await
        .expect("in time")
        .expect("open");
    assert_eq!(delivery.event(), &event);
    delivery.ack();
    assert_eq!(relay_once(&db, &bus).await.expect("relay"), 0);

    let mut tx = db.begin().await.expect("begin");
    assert!(mark_processed(&mut tx, &event.id).await.expect("mark"));
    tx.commit().await.expect("commit");
    let mut tx = db.begin().await.expect("begin");
    assert!(
        !mark_processed(&mut tx, &event.id).await.expect("mark"),
        "a redelivery is seen as such"
    );
    tx.commit().await.expect("commit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pool_reconnects_after_the_database_restarts() {
    let mut server = server();
    let url = server.create_database("store").expect("create database");
    let options = DbOptions {
        acquire_timeout: Duration::from_secs(2),
        ..DbOptions::default()
    };
    let db = open_with(&url, &MIGRATOR, &options).await.expect("open");
    sqlx::query("INSERT INTO widgets (id, org_id) VALUES ($1, $2)")
        .bind("w1")
        .bind("org-1")
        .execute(db.pool())
        .await
        .expect("insert");
    assert_eq!(widgets(&db).await, 1);

    // Every pooled connection dies with the server; the next query gets a new one.
    tokio::task::block_in_place(|| server.restart()).expect("restart");
    assert_eq!(
        widgets(&db).await,
        1,
        "the first query after a restart works"
    );
    db.ping().await.expect("ping");

    // While the server is down queries fail (within the acquire timeout), and work again
    // once it is back, on the same pool.
    tokio::task::block_in_place(|| server.stop());
    assert!(db.ping().await.is_err(), "no database, no answer");
    tokio::task::block_in_place(|| server.restart()).expect("start again");
    assert_eq!(widgets(&db).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_waits_for_the_database_to_come_up() {
    let mut server = server();
    let url = server.create_database("store").expect("create database");
    tokio::task::block_in_place(|| server.stop());
    let options = DbOptions {
        startup_timeout: Duration::from_secs(30),
        acquire_timeout: Duration::from_secs(2),
        ..DbOptions::default()
    };
    let started = Instant::now();
    let opening = tokio::spawn(async move { open_with(&url, &MIGRATOR, &options).await });
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(!opening.is_finished(), "still waiting for the database");
    tokio::task::block_in_place(|| server.restart()).expect("start");
    let db = timeout(Duration::from_secs(20), opening)
        .await
        .expect("opens once the database is up")
        .expect("join")
        .expect("open");
    assert_eq!(widgets(&db).await, 0);
    eprintln!("opened after {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_gives_up_after_the_startup_timeout() {
    // A port nobody listens on: refused at once, every time.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("free port")
        .port();
    let url = format!("postgres://postgres@127.0.0.1:{port}/nothing");
    let options = DbOptions {
        startup_timeout: Duration::from_millis(1200),
        acquire_timeout: Duration::from_millis(500),
        ..DbOptions::default()
    };
    let started = Instant::now();
    let error = open_with(&url, &MIGRATOR, &options)
        .await
        .expect_err("nothing to connect to");
    assert!(error.is_unreachable(), "{error}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "bounded by the startup timeout: {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_database_fails_at_once() {
    let server = server();
    let options = DbOptions {
        startup_timeout: Duration::from_secs(30),
        ..DbOptions::default()
    };
    let started = Instant::now();
    let error = open_with(&server.url("does_not_exist"), &MIGRATOR, &options)
        .await
        .expect_err("no such database");
    assert!(!error.is_unreachable(), "{error}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

/// The other layout the issue allows: one database, one schema per service, chosen by the
/// URL (`?options[search_path]=SCHEMA`, the schema created beforehand). Each service's
/// tables, outbox and migration history stay apart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn services_can_share_a_database_through_schemas() {
    let server = server();
    let url = server.create_database("shared").expect("create database");
    let admin = open(&url, &MIGRATOR).await.expect("open");
    for schema in ["users", "billing"] {
        sqlx::query(&format!("CREATE SCHEMA {schema}"))
            .execute(admin.pool())
            .await
            .expect("create schema");
    }
    let users = open(&format!("{url}?options[search_path]=users"), &MIGRATOR)
        .await
        .expect("users schema");
    let billing = open(&format!("{url}?options[search_path]=billing"), &MIGRATOR)
        .await
        .expect("billing schema");
    sqlx::query("INSERT INTO widgets (id, org_id) VALUES ('w1', 'org-1')")
        .execute(users.pool())
        .await
        .expect("insert");
    assert_eq!(widgets(&users).await, 1);
    assert_eq!(widgets(&billing).await, 0, "separate tables");
    let migrated: i64 = sqlx::query(
        "SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_name = '_sqlx_migrations'",
    )
    .fetch_one(admin.pool())
    .await
    .expect("count")
    .try_get("n")
    .expect("n");
    assert_eq!(migrated, 3, "one migration history per schema (and public)");
}

/// Replicas of a service each run a relay on the one outbox they share: every event goes
/// out once, not once per replica (rows are claimed `FOR UPDATE SKIP LOCKED`). Two relays on
/// two pools (two processes, as far as PostgreSQL can tell) start on a backlog of full
/// batches, so without claims both would read and publish the same first rows; more events
/// arrive while they run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_relays_on_one_outbox_publish_each_event_once() {
    use std::collections::HashMap;

    use tokio_util::sync::CancellationToken;
    use ultra_store::spawn_relay;

    const BACKLOG: usize = 600;
    const LATER: usize = 400;
    let server = server();
    let url = server.create_database("store").expect("create database");
    let replica_a = open(&url, &MIGRATOR).await.expect("open a");
    let replica_b = open(&url, &MIGRATOR).await.expect("open b");
    let event = |i: usize| {
        new_event(
            "model.uploaded",
            "org-1",
            "user-1",
            Payload::ModelUploaded(ModelUploaded {
                model_id: format!("m{i}"),
                size_bytes: 1,
            }),
        )
    };
    let enqueue_all = |db: ultra_store::Db, range: std::ops::Range<usize>| async move {
        let mut ids = Vec::new();
        let mut tx = db.begin().await.expect("begin");
        for i in range {
            let event = event(i);
            enqueue(&mut tx, &event).await.expect("enqueue");
            ids.push(event.id);
        }
        tx.commit().await.expect("commit");
        ids
    };
    let mut expected = enqueue_all(replica_a.clone(), 0..BACKLOG).await;

    let bus = Bus::in_process();
    let mut subscription = bus.subscribe("test").await;
    let shutdown = CancellationToken::new();
    let relays = [
        spawn_relay(replica_a.clone(), bus.clone(), shutdown.clone()),
        spawn_relay(replica_b.clone(), bus.clone(), shutdown.clone()),
    ];
    for chunk in 0..4 {
        let start = BACKLOG + chunk * LATER / 4;
        let producer = if chunk % 2 == 0 {
            &replica_a
        } else {
            &replica_b
        };
        expected.extend(enqueue_all(producer.clone(), start..start + LATER / 4).await);
        replica_a.wake_relay();
        replica_b.wake_relay();
    }

    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut deliveries = 0;
    while deliveries < expected.len() {
        let delivery = timeout(Duration::from_secs(20), subscription.next())
            .await
            .unwrap_or_else(|_| panic!("only {deliveries} deliveries arrived"))
            .expect("open");
        *seen.entry(delivery.event().id.clone()).or_default() += 1;
        deliveries += 1;
        delivery.ack();
    }
    shutdown.cancel();
    for relay in relays {
        timeout(Duration::from_secs(5), relay)
            .await
            .expect("relay stops")
            .expect("join");
    }
    // Anything published twice would be queued behind the last expected delivery.
    while let Ok(Some(delivery)) = timeout(Duration::from_millis(300), subscription.next()).await {
        *seen.entry(delivery.event().id.clone()).or_default() += 1;
        delivery.ack();
    }
    let twice: Vec<_> = seen.iter().filter(|(_, count)| **count > 1).collect();
    assert!(
        twice.is_empty(),
        "{} events published more than once",
        twice.len()
    );
    assert_eq!(seen.len(), expected.len());
    assert!(expected.iter().all(|id| seen.get(id) == Some(&1)));
    let left: i64 = sqlx::query("SELECT COUNT(*) AS n FROM outbox")
        .fetch_one(replica_a.pool())
        .await
        .expect("count")
        .try_get("n")
        .expect("n");
    assert_eq!(left, 0, "the outbox is drained");
}
