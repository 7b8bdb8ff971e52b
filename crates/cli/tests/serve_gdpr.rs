//! GDPR end to end on `ultra serve` (in this process, SQLite files and the in-process bus):
//! a user who uploaded a model and ran a simulation (metered by billing and analytics)
//! exports their data, then erases themselves with `DELETE /v1/me`; the erasure's status,
//! read with its status token, follows each service's own record until all six report
//! completed; afterwards no table of any service's database holds the user's id, email or
//! name (the audit log excepted: the organisation's hash-chained security record, kept
//! under GDPR art. 17(3)), billing keeps the organisation's usage totals under a pseudonym,
//! and another organisation's data is untouched. Then that other organisation's admin
//! deletes it with `DELETE /v1/org`.

mod serve_common;

use std::time::Duration;

use serde_json::{Value, json};
use serve_common::{Api, Cluster, metered, start_platform, start_platform_on, usage_now};
use sqlx::{Connection, PgConnection, SqliteConnection};
use ultra_cli::platform::{RunningPlatform, SERVICES};

const ENV: &[(&str, &str)] = &[("ULTRA_MAX_UPLOAD_BYTES", "65536")];

fn multipart(filename: &str, bytes: &[u8]) -> (String, Vec<u8>) {
    let boundary = "ultra-gdpr-boundary-51c2";
    let mut body = format!(
        "--{boundary}\r\ncontent-disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\n\
         content-type: application/json\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

struct Member {
    id: String,
    org_id: String,
    token: String,
}

async fn register(api: &Api, email: &str, name: &str, org: &str) -> Member {
    let password = "a long enough password 7";
    let registered = api
        .post_json(
            "/v1/auth/register",
            None,
            &json!({"email": email, "password": password, "display_name": name,
                    "organization_name": org}),
        )
        .await;
    assert_eq!(registered.status, 201, "register: {}", registered.json());
    let user = registered.json();
    Member {
        id: user["id"].as_str().expect("id").to_owned(),
        org_id: user["org_id"].as_str().expect("org").to_owned(),
        token: api.login(email, password).await,
    }
}

async fn upload_model(api: &Api, token: &str) -> String {
    let bytes = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/npv10.json"
    ))
    .expect("npv10.json");
    let (content_type, body) = multipart("npv10.json", &bytes);
    let upload = api
        .post("/v1/models", Some(token), &content_type, &body)
        .await;
    assert_eq!(upload.status, 201, "upload: {}", upload.json());
    upload.json()["id"].as_str().expect("model id").to_owned()
}

/// Submits a small run and waits until it completed.
async fn run_simulation(api: &Api, token: &str, model_id: &str) -> String {
    let submitted = api
        .post_json(
            "/v1/simulations",
            Some(token),
            &json!({"model_id": model_id, "iterations": 20_000, "seed": 7}),
        )
        .await;
    assert_eq!(submitted.status, 202, "submit: {}", submitted.json());
    let id = submitted.json()["id"].as_str().expect("id").to_owned();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let simulation = api.get(&format!("/v1/simulations/{id}"), Some(token)).await;
        if simulation.json()["status"] == "completed" {
            return id;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "simulation not completed: {}",
            simulation.json()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Follows `GET /v1/erasures/{id}` until every service reports completed (30 s at most).
async fn erasure_completed(api: &Api, erasure: &Value) -> Value {
    let url = erasure["status_url"].as_str().expect("status_url");
    let token = erasure["status_token"].as_str().expect("status_token");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let status = api.get(url, Some(token)).await;
        assert_eq!(status.status, 200, "status: {}", status.json());
        let body = status.json();
        if body["status"] == "completed" {
            return body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "erasure not completed in time: {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every `table.column` of every service's database (SQLite or PostgreSQL, as the platform
/// runs) whose value contains one of `needles`, tables in `exempt` aside.
async fn find_everywhere(
    platform: &RunningPlatform,
    needles: &[&str],
    exempt: &[&str],
) -> Vec<String> {
    let mut found = Vec::new();
    for service in SERVICES {
        let variable = format!("ULTRA_{}_DATABASE_URL", service.to_ascii_uppercase());
        let url = &platform.env[&variable];
        let hits = if url.starts_with("sqlite:") {
            let mut db = SqliteConnection::connect(url).await.expect("open sqlite");
            let columns: Vec<(String, String)> = sqlx::query_as(
                "SELECT m.name, p.name FROM sqlite_master m, pragma_table_info(m.name) p \
                 WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' \
                 AND m.name <> '_sqlx_migrations'",
            )
            .fetch_all(&mut db)
            .await
            .expect("columns");
            let mut hits = Vec::new();
            for (table, column) in columns_to_search(&columns, exempt, service) {
                for needle in needles {
                    let count: i64 = sqlx::query_scalar(&format!(
                        "SELECT COUNT(*) FROM \"{table}\" WHERE instr(CAST(\"{column}\" AS TEXT), $1) > 0"
                    ))
                    .bind(*needle)
                    .fetch_one(&mut db)
                    .await
                    .expect("search");
                    hits.push((table.clone(), column.clone(), *needle, count));
                }
            }
            db.close().await.expect("close");
            hits
        } else {
            let mut db = PgConnection::connect(url).await.expect("open postgres");
            let columns: Vec<(String, String)> = sqlx::query_as(
                "SELECT c.table_name::TEXT, c.column_name::TEXT FROM information_schema.columns c \
                 JOIN information_schema.tables t ON t.table_schema = c.table_schema \
                 AND t.table_name = c.table_name WHERE c.table_schema = 'public' \
                 AND t.table_type = 'BASE TABLE' AND c.table_name <> '_sqlx_migrations'",
            )
            .fetch_all(&mut db)
            .await
            .expect("columns");
            let mut hits = Vec::new();
            for (table, column) in columns_to_search(&columns, exempt, service) {
                for needle in needles {
                    let count: i64 = sqlx::query_scalar(&format!(
                        "SELECT COUNT(*) FROM \"{table}\" WHERE strpos(CAST(\"{column}\" AS TEXT), $1) > 0"
                    ))
                    .bind(*needle)
                    .fetch_one(&mut db)
                    .await
                    .expect("search");
                    hits.push((table.clone(), column.clone(), *needle, count));
                }
            }
            db.close().await.expect("close");
            hits
        };
        for (table, column, needle, count) in hits {
            if count > 0 {
                found.push(format!(
                    "{service}: {table}.{column} holds {needle:?} ({count} rows)"
                ));
            }
        }
    }
    found
}

/// The `(table, column)` pairs to search, exempt tables aside; a database without any is a
/// broken search, not a clean one.
fn columns_to_search<'a>(
    columns: &'a [(String, String)],
    exempt: &[&str],
    service: &str,
) -> Vec<&'a (String, String)> {
    assert!(!columns.is_empty(), "{service} has tables");
    columns
        .iter()
        .filter(|(table, _)| !exempt.contains(&table.as_str()))
        .collect()
}

/// Like [`find_everywhere`], retried for a few seconds: an event row is deleted from its
/// producer's outbox a moment after the bus took it, and the consumers may finish first.
async fn eventually_nowhere(platform: &RunningPlatform, needles: &[&str], exempt: &[&str]) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let found = find_everywhere(platform, needles, exempt).await;
        if found.is_empty() {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "personal data left after the erasure:\n{}",
            found.join("\n")
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn export_then_erasure_leaves_no_personal_data_in_any_service() {
    let (platform, _data_dir) = start_platform(ENV).await;
    export_and_erase(&platform).await;
}

/// The same on the cluster backends: a PostgreSQL database per service and the Redis bus.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn export_then_erasure_on_postgres_and_redis() {
    let cluster = Cluster::start();
    let (platform, _data_dir) = start_platform_on(ENV, cluster.backend()).await;
    assert!(platform.env["ULTRA_USERS_DATABASE_URL"].starts_with("postgres"));
    export_and_erase(&platform).await;
    drop(cluster);
}

async fn export_and_erase(platform: &RunningPlatform) {
    let api = Api::new(&platform.base_url);
    let alice = register(&api, "alice.gdpr@a.example", "Alice Gdprtest", "Org Alice").await;
    let bob = register(&api, "bob.gdpr@b.example", "Bob Keepsdata", "Org Bob").await;

    let model_id = upload_model(&api, &alice.token).await;
    let simulation_id = run_simulation(&api, &alice.token, &model_id).await;
    let (usage_before, _) = metered(platform, &alice.org_id, &alice.id, 1).await;
    let bob_model = upload_model(&api, &bob.token).await;

    // The export: profile, memberships, models, simulations and usage, from each service.
    let export = api.get("/v1/me/export", Some(&alice.token)).await;
    assert_eq!(export.status, 200, "export: {}", export.json());
    let export = export.json();
    let services = &export["services"];
    assert_eq!(export["user_id"], alice.id.as_str());
    assert_eq!(
        services["users"]["profile"]["email"],
        "alice.gdpr@a.example"
    );
    assert_eq!(
        services["users"]["profile"]["display_name"],
        "Alice Gdprtest"
    );
    assert_eq!(
        services["users"]["memberships"][0]["org_id"],
        alice.org_id.as_str()
    );
    assert_eq!(services["users"]["memberships"][0]["role"], "admin");
    assert_eq!(services["files"]["models"][0]["id"], model_id.as_str());
    assert_eq!(
        services["files"]["models"].as_array().map(Vec::len),
        Some(1),
        "only Alice's"
    );
    let simulation = &services["simulation"]["simulations"][0];
    assert_eq!(simulation["id"], simulation_id.as_str());
    assert_eq!(simulation["status"], "completed");
    assert_eq!(
        simulation["results"],
        format!("/v1/simulations/{simulation_id}/results")
    );
    assert_eq!(
        services["billing"]["usage_ledger"][0]["simulation_id"],
        simulation_id.as_str()
    );
    assert_eq!(services["billing"]["usage_ledger"][0]["iterations"], 20_000);
    assert_eq!(
        services["analytics"]["usage_events"][0]["simulation_id"],
        simulation_id.as_str()
    );
    let export_text = export.to_string();
    assert!(!export_text.contains(&bob.id) && !export_text.contains(&bob_model));

    // Before: the scan below finds Alice in every service that holds data of hers.
    let before = find_everywhere(platform, &[&alice.id], &["audit_log"]).await;
    for service in ["users:", "files:", "simulation:", "billing:", "analytics:"] {
        assert!(
            before.iter().any(|hit| hit.starts_with(service)),
            "{service} {before:#?}"
        );
    }

    // The erasure: 202 with each service's status as the service reports it.
    let deleted = api.delete("/v1/me", &alice.token).await;
    assert_eq!(deleted.status, 202, "delete: {}", deleted.json());
    let erasure = deleted.json();
    assert_eq!(erasure["scope"], "user");
    assert_eq!(deleted.header("location"), erasure["status_url"].as_str());
    let reported: Vec<&str> = erasure["services"]
        .as_array()
        .expect("services")
        .iter()
        .map(|service| service["service"].as_str().expect("name"))
        .collect();
    assert_eq!(reported, SERVICES, "every service reports");
    assert_eq!(
        erasure["services"][0]["status"], "completed",
        "users erased at once"
    );

    // The status needs the erasure's own token.
    let url = erasure["status_url"].as_str().expect("url");
    assert_eq!(api.get(url, None).await.status, 401);
    assert_eq!(api.get(url, Some("not-the-token")).await.status, 404);
    assert_eq!(api.get(url, Some(&bob.token)).await.status, 404);

    let done = erasure_completed(&api, &erasure).await;
    for service in done["services"].as_array().expect("services") {
        assert_eq!(service["status"], "completed", "{done}");
        assert!(service["completed_at_ms"].as_i64() >= erasure["requested_at_ms"].as_i64());
    }
    eprintln!("erasure status: {done}");

    // Nothing of Alice is left in any table of any service.
    eventually_nowhere(
        platform,
        &[&alice.id, "alice.gdpr@a.example", "Alice Gdprtest"],
        &["audit_log"],
    )
    .await;

    // She can neither log in nor use her still-unexpired access token.
    let login = api
        .post_json(
            "/v1/auth/token",
            None,
            &json!({"email": "alice.gdpr@a.example", "password": "a long enough password 7"}),
        )
        .await;
    assert_eq!(login.status, 401);
    assert_eq!(api.get("/v1/me", Some(&alice.token)).await.status, 404);

    // Billing keeps the organisation's totals (financial records), under a pseudonym;
    // analytics' per-user row too.
    let (usage_after, report_after) = usage_now(platform, &alice.org_id, &bob.id).await;
    assert_eq!(usage_after.simulations, usage_before.simulations);
    assert_eq!(usage_after.compute_units, usage_before.compute_units);
    assert_eq!(report_after.simulations, 1);
    assert!(
        report_after.by_user[0].user_id.starts_with("erased-"),
        "{report_after:?}"
    );

    // Bob and his organisation are untouched.
    let bob_model_now = api
        .get(&format!("/v1/models/{bob_model}"), Some(&bob.token))
        .await;
    assert_eq!(bob_model_now.status, 200);
    assert_eq!(bob_model_now.json()["user_id"], bob.id.as_str());

    // Bob deletes his organisation: everything of it goes, and with it Bob's profile.
    let org_deleted = api.delete("/v1/org", &bob.token).await;
    assert_eq!(
        org_deleted.status,
        202,
        "delete org: {}",
        org_deleted.json()
    );
    assert_eq!(org_deleted.json()["scope"], "organization");
    erasure_completed(&api, &org_deleted.json()).await;
    eventually_nowhere(
        platform,
        &[&bob.id, "bob.gdpr@b.example", "Bob Keepsdata", &bob_model],
        &["audit_log"],
    )
    .await;
    // The organisation's id stays only where the erasure itself is recorded: its audit
    // chain went with it, and the deletion itself does not start a new one.
    let org_left = find_everywhere(platform, &[&bob.org_id], &["erasures"]).await;
    assert!(org_left.is_empty(), "{org_left:#?}");
}
