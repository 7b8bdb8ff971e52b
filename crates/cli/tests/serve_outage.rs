//! Redis down mid-run loses no event (DESIGN.md, Events; issue 6): the platform on
//! PostgreSQL + Redis, Redis stopped, a simulation run to completion meanwhile. The services
//! stay up and report NOT_SERVING (`/readyz` 503), the usage event waits in the simulation
//! service's outbox, and once Redis is back the relay drains it and billing's ledger holds
//! exactly one entry for the run.

mod serve_common;

use std::time::Duration;

use serde_json::{Value, json};
use serve_common::{Api, Cluster, metered, start_platform_on, usage_now};
use sqlx::{Connection, PgConnection};

fn multipart(filename: &str, bytes: &[u8]) -> (String, Vec<u8>) {
    let boundary = "ultra-outage-boundary-5e2a";
    let mut body = format!(
        "--{boundary}\r\ncontent-disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\n\
         content-type: application/json\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// The services on the event bus (results has no events).
const ON_THE_BUS: [&str; 5] = ["users", "files", "simulation", "billing", "analytics"];

/// Polls `/readyz` until it answers `status` with every service on the bus `upstream`
/// (each flips on its own probe, within a second of the bus changing); returns the body.
async fn readyz_becomes(api: &Api, status: u16, upstream: &str) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let ready = api.get("/readyz", None).await;
        let body = ready.json();
        if ready.status == status
            && ON_THE_BUS
                .iter()
                .all(|service| body["upstreams"][service] == upstream)
        {
            return body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "/readyz still {}: {}",
            ready.status,
            ready.json()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Rows of `table` in the database at `url` (the test looks into a service's own
/// database; services never do that to each other).
async fn rows(url: &str, table: &str) -> i64 {
    let mut connection = PgConnection::connect(url).await.expect("connect");
    let (count,): (i64,) = sqlx::query_as(&format!("SELECT COUNT(*) FROM {table}"))
        .fetch_one(&mut connection)
        .await
        .expect("count");
    connection.close().await.expect("close");
    count
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn usage_survives_a_redis_outage_through_the_outbox() {
    let started = std::time::Instant::now();
    let mut cluster = Cluster::start();
    let simulation_db = cluster.database_urls["simulation"].clone();
    let billing_db = cluster.database_urls["billing"].clone();
    let (platform, data_dir) = start_platform_on(&[], cluster.backend()).await;
    let api = Api::new(&platform.base_url);
    readyz_becomes(&api, 200, "serving").await;

    let alice = api
        .post_json(
            "/v1/auth/register",
            None,
            &json!({"email": "alice@a.example", "password": "correct horse battery",
                    "organization_name": "Org A"}),
        )
        .await;
    assert_eq!(alice.status, 201, "register: {}", alice.json());
    let org_id = alice.json()["org_id"].as_str().expect("org").to_owned();
    let user_id = alice.json()["id"].as_str().expect("id").to_owned();
    let token = api.login("alice@a.example", "correct horse battery").await;
    let model = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/npv10.json"
    ))
    .expect("npv10.json");
    let (content_type, body) = multipart("npv10.json", &model);
    let upload = api
        .post("/v1/models", Some(&token), &content_type, &body)
        .await;
    assert_eq!(upload.status, 201, "upload: {}", upload.json());
    let model_id = upload.json()["id"].as_str().expect("model id").to_owned();

    // Redis goes away: every service on the bus stays up and says NOT_SERVING.
    tokio::task::block_in_place(|| cluster.redis.stop());
    let not_ready = readyz_becomes(&api, 503, "not_serving").await;
    assert_eq!(
        not_ready["upstreams"]["results"], "serving",
        "results does not use the bus: {not_ready}"
    );

    // A simulation runs to completion all the same.
    let submitted = api
        .post_json(
            "/v1/simulations",
            Some(&token),
            &json!({"model_id": model_id, "iterations": 20_000, "seed": 7}),
        )
        .await;
    assert_eq!(submitted.status, 202, "submit: {}", submitted.json());
    let simulation_id = submitted.json()["id"].as_str().expect("id").to_owned();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let simulation = api
            .get(&format!("/v1/simulations/{simulation_id}"), Some(&token))
            .await
            .json();
        if simulation["status"] == "completed" {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not completed: {simulation}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let results = api
        .get(
            &format!("/v1/simulations/{simulation_id}/results"),
            Some(&token),
        )
        .await;
    assert_eq!(results.status, 200, "results: {}", results.json());

    // Its usage event waits in the outbox; nobody has counted it.
    let mut connection = PgConnection::connect(&simulation_db)
        .await
        .expect("connect");
    let (waiting,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM outbox WHERE event_type = 'simulation.completed'")
            .fetch_one(&mut connection)
            .await
            .expect("outbox");
    connection.close().await.expect("close");
    assert_eq!(waiting, 1, "the usage event is kept in the outbox");
    let (usage, report) = usage_now(&platform, &org_id, &user_id).await;
    assert_eq!(
        (usage.simulations, report.simulations),
        (0, 0),
        "{usage:?} {report:?}"
    );

    // Redis is back: the outbox drains, the run is metered exactly once.
    tokio::task::block_in_place(|| cluster.redis.restart()).expect("restart redis");
    let (usage, report) = metered(&platform, &org_id, &user_id, 1).await;
    readyz_becomes(&api, 200, "serving").await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while rows(&simulation_db, "outbox").await > 0 {
        assert!(tokio::time::Instant::now() < deadline, "outbox not drained");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Give a duplicate delivery time to show up, then count again.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (again, report_again) = usage_now(&platform, &org_id, &user_id).await;
    assert_eq!((usage.simulations, again.simulations), (1, 1), "{again:?}");
    assert_eq!(again.iterations, 20_000);
    assert_eq!((report.simulations, report_again.simulations), (1, 1));
    assert_eq!(
        rows(&billing_db, "usage_ledger").await,
        1,
        "one ledger entry"
    );

    let errors = platform.shutdown(Duration::from_secs(10)).await;
    assert!(errors.is_empty(), "shutdown errors: {errors:?}");
    let _ = std::fs::remove_dir_all(data_dir);
    eprintln!("outage scenario took {:?}", started.elapsed());
}

/// Every service: each has its own database.
const ALL: [&str; 6] = [
    "users",
    "files",
    "simulation",
    "results",
    "billing",
    "analytics",
];

/// Polls `/readyz` until it answers `status` with every service `upstream`.
async fn readyz_all_become(api: &Api, status: u16, upstream: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let ready = api.get("/readyz", None).await;
        let body = ready.json();
        if ready.status == status
            && ALL
                .iter()
                .all(|service| body["upstreams"][service] == upstream)
        {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "/readyz still {}: {body}",
            ready.status
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// PostgreSQL down: every service stays up and says NOT_SERVING (each pings its database
/// every 500 ms), `/readyz` is 503; once PostgreSQL is back all are SERVING again and the
/// API works on the same pools.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn readiness_follows_a_database_outage() {
    let mut cluster = Cluster::start();
    let (platform, data_dir) = start_platform_on(&[], cluster.backend()).await;
    let api = Api::new(&platform.base_url);
    readyz_all_become(&api, 200, "serving").await;

    tokio::task::block_in_place(|| cluster.postgres.stop());
    readyz_all_become(&api, 503, "not_serving").await;
    assert_eq!(
        api.get("/healthz", None).await.status,
        200,
        "the gateway itself is alive"
    );

    tokio::task::block_in_place(|| cluster.postgres.restart()).expect("restart postgres");
    readyz_all_become(&api, 200, "serving").await;
    let registered = api
        .post_json(
            "/v1/auth/register",
            None,
            &json!({"email": "bob@b.example", "password": "correct horse battery",
                    "organization_name": "Org B"}),
        )
        .await;
    assert_eq!(registered.status, 201, "register: {}", registered.json());

    let errors = platform.shutdown(Duration::from_secs(10)).await;
    assert!(errors.is_empty(), "shutdown errors: {errors:?}");
    let _ = std::fs::remove_dir_all(data_dir);
}
