//! The platform end to end, over HTTP, as an analyst sees it: `ultra serve` started in this
//! process on ephemeral ports (six gRPC services + gateway), two users in two organisations,
//! a model upload, a 200,000-iteration simulation followed over SSE, results checked against
//! an independent reference, its usage metered by billing and analytics, tenant isolation,
//! and the documented errors.
//!
//! The same scenario runs on both backends: the embedded one (SQLite files, in-process bus)
//! and the cluster one (one PostgreSQL database per service, the Redis bus; real servers
//! from ultra-testkit).

mod serve_common;

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};
use serve_common::{
    Api, Cluster, metered, npv10_reference_mean, start_platform, start_platform_on,
};
use sqlx::{Connection, PgConnection};
use ultra_auth::{Claims, PlanTier, Role, TokenIssuer};
use ultra_cli::platform::RunningPlatform;

/// The settings both runs start with.
const ENV: &[(&str, &str)] = &[
    ("ULTRA_MAX_ITERATIONS", "1000000"),
    ("ULTRA_MAX_UPLOAD_BYTES", "65536"),
];

const PROBLEM: &str = "https://ultra.dev/problems/";

/// Asserts a problem+json answer with `status` and problem type `slug`.
fn assert_problem(response: &ultra_cli::http_client::HttpResponse, status: u16, slug: &str) {
    let body = response.json();
    assert_eq!(response.status, status, "body: {body}");
    assert_eq!(
        response.header("content-type"),
        Some("application/problem+json"),
        "body: {body}"
    );
    assert_eq!(body["type"], format!("{PROBLEM}{slug}"), "body: {body}");
    assert_eq!(body["status"], status, "body: {body}");
}

fn multipart(filename: &str, bytes: &[u8]) -> (String, Vec<u8>) {
    let boundary = "ultra-e2e-boundary-7d1f";
    let mut body = format!(
        "--{boundary}\r\ncontent-disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\n\
         content-type: application/json\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let triple = chunk
            .iter()
            .enumerate()
            .fold(0_u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[((triple >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn analyst_flow_over_http_with_tenant_isolation_and_documented_errors() {
    let (platform, data_dir) = start_platform(ENV).await;
    analyst_flow(platform, data_dir).await;
}

/// The same scenario with every service on its own PostgreSQL database and the Redis bus.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn analyst_flow_on_postgres_and_redis() {
    let cluster = Cluster::start();
    let (platform, data_dir) = start_platform_on(ENV, cluster.backend()).await;
    for service in ultra_cli::platform::SERVICES {
        let variable = format!("ULTRA_{}_DATABASE_URL", service.to_ascii_uppercase());
        assert_eq!(
            platform.env[&variable], cluster.database_urls[service],
            "{service} runs on its PostgreSQL database"
        );
    }
    assert_eq!(platform.env["ULTRA_REDIS_URL"], cluster.redis.url());
    analyst_flow(platform, data_dir).await;
    // The data is where it should be: in the services' PostgreSQL databases.
    let mut users = PgConnection::connect(&cluster.database_urls["users"])
        .await
        .expect("connect");
    let (registered,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM users")
        .fetch_one(&mut users)
        .await
        .expect("count");
    assert_eq!(registered, 2);
    users.close().await.expect("close");
    drop(cluster);
}

async fn analyst_flow(platform: RunningPlatform, data_dir: PathBuf) {
    let api = Api::new(&platform.base_url);

    let ready = api.get("/readyz", None).await;
    assert_eq!(ready.status, 200, "readyz: {}", ready.json());

    // Two users, two organisations.
    let alice = api
        .post_json("/v1/auth/register", None, &json!({"email": "alice@a.example", "password": "correct horse battery", "display_name": "Alice", "organization_name": "Org A"}))
        .await;
    assert_eq!(alice.status, 201, "register: {}", alice.json());
    let bob = api
        .post_json("/v1/auth/register", None, &json!({"email": "bob@b.example", "password": "another good password", "display_name": "Bob", "organization_name": "Org B"}))
        .await;
    assert_eq!(bob.status, 201, "register: {}", bob.json());
    assert_ne!(alice.json()["org_id"], bob.json()["org_id"]);

    let alice_token = api.login("alice@a.example", "correct horse battery").await;
    // A refresh rotates the pair: the new refresh token works, the old one is refused.
    let pair = api
        .post_json(
            "/v1/auth/token",
            None,
            &json!({"email": "alice@a.example", "password": "correct horse battery"}),
        )
        .await
        .json();
    let old_refresh = pair["refresh_token"].as_str().expect("refresh token");
    let rotated = api
        .post_json(
            "/v1/auth/refresh",
            None,
            &json!({"refresh_token": old_refresh}),
        )
        .await;
    assert_eq!(rotated.status, 200, "refresh: {}", rotated.json());
    let reused = api
        .post_json(
            "/v1/auth/refresh",
            None,
            &json!({"refresh_token": old_refresh}),
        )
        .await;
    assert_eq!(reused.status, 401, "reuse: {}", reused.json());
    let bob_token = api.login("bob@b.example", "another good password").await;
    let me = api.get("/v1/me", Some(&alice_token)).await;
    assert_eq!(me.status, 200);
    assert_eq!(me.json()["org_id"], alice.json()["org_id"]);
    assert_eq!(me.json()["role"], "admin");
    assert_eq!(me.json()["org_plan_tier"], "free");

    // Bad password: 401 unauthenticated.
    let bad_login = api
        .post_json(
            "/v1/auth/token",
            None,
            &json!({"email": "alice@a.example", "password": "wrong"}),
        )
        .await;
    assert_problem(&bad_login, 401, "unauthenticated");

    // Upload the model (multipart, field `file`).
    let model_bytes = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/npv10.json"
    ))
    .expect("npv10.json");
    let (content_type, body) = multipart("npv10.json", &model_bytes);
    let upload = api
        .post("/v1/models", Some(&alice_token), &content_type, &body)
        .await;
    assert_eq!(upload.status, 201, "upload: {}", upload.json());
    let model_id = upload.json()["id"].as_str().expect("model id").to_string();
    assert!(
        upload.json()["outputs"]
            .as_array()
            .is_some_and(|o| o.iter().any(|o| o["name"] == "NPV"))
    );

    // 200,000 iterations, followed over SSE to completion.
    let submitted = api
        .post_json(
            "/v1/simulations",
            Some(&alice_token),
            &json!({"model_id": model_id, "iterations": 200_000, "seed": 42}),
        )
        .await;
    assert_eq!(submitted.status, 202, "submit: {}", submitted.json());
    let simulation_id = submitted.json()["id"]
        .as_str()
        .expect("simulation id")
        .to_string();
    let (status, events) = api
        .events(
            &format!("/v1/simulations/{simulation_id}/events"),
            &alice_token,
        )
        .await;
    assert_eq!(status, 200);
    let last = events.last().expect("at least the final status");
    assert_eq!(last.event, "status", "events: {events:?}");
    let final_simulation: Value = serde_json::from_str(&last.data).expect("json");
    assert_eq!(
        final_simulation["status"], "completed",
        "final: {final_simulation}"
    );
    assert!(
        events[..events.len() - 1]
            .iter()
            .all(|e| e.event == "progress"),
        "events: {events:?}"
    );
    let progress = api
        .get(
            &format!("/v1/simulations/{simulation_id}/progress"),
            Some(&alice_token),
        )
        .await;
    assert_eq!(progress.json()["completed_iterations"], 200_000);
    // That answer is now in the gateway's progress cache; the other organisation still
    // gets a 404, not the cached body.
    let foreign_progress = api
        .get(
            &format!("/v1/simulations/{simulation_id}/progress"),
            Some(&bob_token),
        )
        .await;
    assert_problem(&foreign_progress, 404, "not-found");

    // Results: the NPV mean within 4 standard errors of the reference (numerical
    // integration of the model's closed form; see `npv10_reference_mean`).
    let results = api
        .get(
            &format!("/v1/simulations/{simulation_id}/results"),
            Some(&alice_token),
        )
        .await;
    assert_eq!(results.status, 200, "results: {}", results.json());
    let npv = &results.json()["outputs"]["NPV"];
    let mean = npv["mean"].as_f64().expect("mean");
    let std_error = npv["std_error"].as_f64().expect("std_error");
    let reference = npv10_reference_mean();
    eprintln!(
        "NPV mean {mean:.4}, reference {reference:.4}, std error {std_error:.4}, {} SSE events",
        events.len()
    );
    assert!(std_error > 0.0 && std_error < 1.0, "std_error {std_error}");
    assert!(
        (mean - reference).abs() <= 4.0 * std_error,
        "NPV mean {mean} vs reference {reference}: more than 4 standard errors ({std_error}) apart"
    );

    // Metering: one simulation.completed, counted once by billing and by analytics.
    let alice_org = alice.json()["org_id"].as_str().expect("org").to_string();
    let alice_id = alice.json()["id"].as_str().expect("id").to_string();
    let (usage, report) = metered(&platform, &alice_org, &alice_id, 1).await;
    assert_eq!(
        (usage.simulations, usage.iterations),
        (1, 200_000),
        "{usage:?}"
    );
    assert!(usage.compute_units > 0.0, "{usage:?}");
    assert_eq!((report.simulations, report.iterations), (1, 200_000));
    assert_eq!(report.by_user.len(), 1, "{report:?}");
    assert_eq!(report.by_user[0].user_id, alice_id);
    let bob_org = bob.json()["org_id"].as_str().expect("org").to_string();
    let bob_id = bob.json()["id"].as_str().expect("id").to_string();
    let (bob_usage, _) = metered(&platform, &bob_org, &bob_id, 0).await;
    assert_eq!(bob_usage.simulations, 0, "{bob_usage:?}");

    // The other organisation sees none of it: 404 everywhere, never 403, never the data.
    for path in [
        format!("/v1/models/{model_id}"),
        format!("/v1/simulations/{simulation_id}"),
        format!("/v1/simulations/{simulation_id}/progress"),
        format!("/v1/simulations/{simulation_id}/events"),
        format!("/v1/simulations/{simulation_id}/results"),
    ] {
        assert_problem(&api.get(&path, Some(&bob_token)).await, 404, "not-found");
    }
    assert_problem(
        &api.delete(&format!("/v1/models/{model_id}"), &bob_token)
            .await,
        404,
        "not-found",
    );
    let cancel = api
        .post_json(
            &format!("/v1/simulations/{simulation_id}/cancel"),
            Some(&bob_token),
            &json!({}),
        )
        .await;
    assert_problem(&cancel, 404, "not-found");
    let steal = api
        .post_json(
            "/v1/simulations",
            Some(&bob_token),
            &json!({"model_id": model_id, "iterations": 1000}),
        )
        .await;
    assert_problem(&steal, 404, "not-found");
    let bob_models = api.get("/v1/models", Some(&bob_token)).await.json();
    assert_eq!(
        bob_models["models"].as_array().map(Vec::len),
        Some(0),
        "{bob_models}"
    );
    let bob_simulations = api.get("/v1/simulations", Some(&bob_token)).await.json();
    assert_eq!(
        bob_simulations["simulations"].as_array().map(Vec::len),
        Some(0),
        "{bob_simulations}"
    );
    let alice_models = api.get("/v1/models", Some(&alice_token)).await.json();
    assert_eq!(
        alice_models["models"].as_array().map(Vec::len),
        Some(1),
        "{alice_models}"
    );

    // Tokens: expired, forged (another secret), alg=none.
    let secret = platform.env["ULTRA_JWT_SECRET"].clone();
    let issuer = TokenIssuer::new(
        secret.as_bytes(),
        "ultra",
        "ultra-api",
        Duration::from_secs(60),
    )
    .expect("issuer");
    let user_id = alice.json()["id"].as_str().expect("id").to_string();
    let org_id = alice.json()["org_id"].as_str().expect("org").to_string();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let claims = Claims {
        sub: user_id.clone(),
        org: org_id.clone(),
        role: Role::Admin,
        plan: None,
        iss: "ultra".into(),
        aud: "ultra-api".into(),
        iat: now - 7200,
        exp: now - 3600,
        jti: "expired".into(),
    };
    let expired = issuer.sign(&claims).expect("expired token");
    let forged = TokenIssuer::new(
        b"not-the-platform-secret-not-the-platform-secret",
        "ultra",
        "ultra-api",
        Duration::from_secs(60),
    )
    .expect("issuer")
    .issue(&user_id, &org_id, Role::Admin, PlanTier::Free)
    .expect("forged token");
    let unsigned = format!(
        "{}.{}.",
        base64url(br#"{"alg":"none","typ":"JWT"}"#),
        base64url(json!({"sub": user_id, "org": org_id, "role": "admin", "iss": "ultra", "aud": "ultra-api", "iat": now, "exp": now + 600, "jti": "x"}).to_string().as_bytes())
    );
    for token in [&expired, &forged, &unsigned] {
        assert_problem(
            &api.get("/v1/models", Some(token)).await,
            401,
            "invalid-token",
        );
    }
    assert_problem(&api.get("/v1/models", None).await, 401, "unauthenticated");

    // Bodies: malformed JSON, wrong content type, oversized upload.
    let malformed = api
        .post(
            "/v1/simulations",
            Some(&alice_token),
            "application/json",
            b"{\"model_id\": ",
        )
        .await;
    assert_problem(&malformed, 400, "malformed-json");
    let wrong_type = api
        .post("/v1/simulations", Some(&alice_token), "text/plain", b"{}")
        .await;
    assert_problem(&wrong_type, 415, "unsupported-media-type");
    let (content_type, body) = multipart("big.json", &vec![b' '; 70_000]);
    assert_problem(
        &api.post("/v1/models", Some(&alice_token), &content_type, &body)
            .await,
        413,
        "payload-too-large",
    );

    // Simulation requests: unknown model, iterations 0 and above the cap (1,000,000 here).
    let unknown = api
        .post_json(
            "/v1/simulations",
            Some(&alice_token),
            &json!({"model_id": "0190f0f0-0000-7000-8000-000000000000", "iterations": 1000}),
        )
        .await;
    assert_problem(&unknown, 404, "not-found");
    for iterations in [0_u64, 1_000_001] {
        let rejected = api
            .post_json(
                "/v1/simulations",
                Some(&alice_token),
                &json!({"model_id": model_id, "iterations": iterations}),
            )
            .await;
        assert_problem(&rejected, 400, "invalid-argument");
    }

    let errors = platform.shutdown(Duration::from_secs(10)).await;
    assert!(errors.is_empty(), "shutdown errors: {errors:?}");
    let _ = std::fs::remove_dir_all(data_dir);
}

/// The progress poll while a simulation runs: the gateway answers it from a cache that one
/// watch stream keeps current, so successive polls must see the count grow (a cache that
/// stopped following would repeat its first answer), and a cancellation must show up.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn progress_poll_follows_a_running_simulation_and_its_cancellation() {
    let (platform, _data_dir) = start_platform(&[("ULTRA_MAX_ITERATIONS", "1000000000")]).await;
    let api = Api::new(&platform.base_url);
    let registered = api
        .post_json("/v1/auth/register", None, &json!({"email": "carol@c.example", "password": "progress bar watcher", "organization_name": "Org C"}))
        .await;
    assert_eq!(registered.status, 201, "register: {}", registered.json());
    let token = api.login("carol@c.example", "progress bar watcher").await;
    let model_bytes = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/npv10.json"
    ))
    .expect("npv10.json");
    let (content_type, body) = multipart("npv10.json", &model_bytes);
    let upload = api
        .post("/v1/models", Some(&token), &content_type, &body)
        .await;
    assert_eq!(upload.status, 201, "upload: {}", upload.json());
    let model_id = upload.json()["id"].as_str().expect("model id").to_string();
    let submitted = api
        .post_json(
            "/v1/simulations",
            Some(&token),
            &json!({"model_id": model_id, "iterations": 500_000_000_u64, "seed": 7}),
        )
        .await;
    assert_eq!(submitted.status, 202, "submit: {}", submitted.json());
    let simulation_id = submitted.json()["id"].as_str().expect("id").to_string();
    let progress_path = format!("/v1/simulations/{simulation_id}/progress");

    let mut seen_running = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while seen_running.len() < 3 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "progress did not move: {seen_running:?}"
        );
        let progress = api.get(&progress_path, Some(&token)).await;
        assert_eq!(progress.status, 200, "progress: {}", progress.json());
        let body = progress.json();
        assert_eq!(body["total_iterations"], 500_000_000_u64);
        let completed = body["completed_iterations"].as_u64().expect("count");
        if body["status"] == "running" && seen_running.last() != Some(&completed) {
            assert!(
                seen_running.last().is_none_or(|last| *last < completed),
                "progress went backwards: {seen_running:?} then {completed}"
            );
            seen_running.push(completed);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let cancelled = api
        .post_json(
            &format!("/v1/simulations/{simulation_id}/cancel"),
            Some(&token),
            &json!({}),
        )
        .await;
    assert_eq!(cancelled.status, 200, "cancel: {}", cancelled.json());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let progress = api.get(&progress_path, Some(&token)).await.json();
        if progress["status"] == "cancelled" {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the poll still says {progress} after the cancellation"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let errors = platform.shutdown(Duration::from_secs(10)).await;
    assert!(errors.is_empty(), "shutdown: {errors:?}");
}
