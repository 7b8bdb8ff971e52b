//! The audit log and the login hardening end to end over HTTP (`ultra serve` in this
//! process, SQLite files): actions recorded with who, where and the outcome; `GET
//! /v1/audit` filtered and paged, for admins only; `GET /v1/audit/verify` intact, then
//! reporting the row edited directly in the users service's database; the login lockout
//! with `Retry-After`; the password policy; the security headers on real responses.

mod serve_common;

use std::collections::HashSet;
use std::time::Duration;

use serde_json::{Value, json};
use serve_common::{Api, start_platform};
use sqlx::{Connection, SqliteConnection};
use ultra_auth::{PlanTier, Role, TokenIssuer};
use ultra_cli::http_client::{self, HttpResponse};
use ultra_cli::platform::{Platform, PlatformOptions, RunningPlatform};

const PROBLEM: &str = "https://ultra.dev/problems/";
const ALICE_PASSWORD: &str = "correct horse battery";
const BOB_PASSWORD: &str = "another good password";

fn multipart(filename: &str, bytes: &[u8]) -> (String, Vec<u8>) {
    let boundary = "ultra-audit-boundary-5c2e";
    let mut body = format!(
        "--{boundary}\r\ncontent-disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\n\
         content-type: application/json\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

fn assert_security_headers(response: &HttpResponse, what: &str) {
    assert_eq!(
        response.header("x-content-type-options"),
        Some("nosniff"),
        "{what}"
    );
    assert_eq!(response.header("x-frame-options"), Some("DENY"), "{what}");
    assert_eq!(
        response.header("referrer-policy"),
        Some("no-referrer"),
        "{what}"
    );
    assert_eq!(response.header("cache-control"), Some("no-store"), "{what}");
    assert!(
        response
            .header("content-security-policy")
            .is_some_and(|csp| csp.contains("frame-ancestors 'none'")),
        "{what}"
    );
    // Plain HTTP: no HSTS (browsers would ignore it; the TLS case is in gateway/tests).
    assert_eq!(response.header("strict-transport-security"), None, "{what}");
}

/// Every entry of the caller's audit log matching `query` (`&`-joined filters), following
/// the page tokens `page_size` at a time.
async fn audit_entries(api: &Api, token: &str, query: &str, page_size: u32) -> Vec<Value> {
    let mut entries = Vec::new();
    let mut page_token = String::new();
    loop {
        let path = format!("/v1/audit?page_size={page_size}&page_token={page_token}&{query}");
        let page = api.get(&path, Some(token)).await;
        assert_eq!(page.status, 200, "{path}: {}", page.json());
        let page = page.json();
        let batch = page["entries"].as_array().expect("entries").clone();
        assert!(batch.len() <= page_size as usize);
        entries.extend(batch);
        match page["next_page_token"].as_str() {
            Some("") | None => return entries,
            Some(next) => page_token = next.to_owned(),
        }
    }
}

/// Waits until the caller's log holds `count` entries: the gateway appends its entries
/// after answering, in the background.
async fn wait_for_entries(api: &Api, token: &str, count: usize) -> Vec<Value> {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let entries = audit_entries(api, token, "", 100).await;
        if entries.len() >= count || std::time::Instant::now() > deadline {
            return entries;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn audit_log_lockout_and_password_policy_over_http() {
    let (platform, data_dir) = start_platform(&[("ULTRA_LOGIN_LOCKOUT_SECONDS", "2")]).await;
    let api = Api::new(&platform.base_url);

    // The password policy, at registration.
    let weak = api
        .post_json("/v1/auth/register", None, &json!({"email": "alice@a.example", "password": "password1234", "organization_name": "Org A"}))
        .await;
    assert_eq!(weak.status, 400, "{}", weak.json());
    assert_eq!(weak.json()["type"], format!("{PROBLEM}invalid-argument"));
    assert!(
        weak.json()["detail"]
            .as_str()
            .is_some_and(|detail| detail.contains("common"))
    );
    assert_security_headers(&weak, "400 problem+json");

    let alice = api
        .post_json("/v1/auth/register", None, &json!({"email": "alice@a.example", "password": ALICE_PASSWORD, "organization_name": "Org A"}))
        .await;
    assert_eq!(alice.status, 201, "{}", alice.json());
    let alice_id = alice.json()["id"].as_str().expect("id").to_owned();
    let org_a = alice.json()["org_id"].as_str().expect("org").to_owned();
    let bob = api
        .post_json("/v1/auth/register", None, &json!({"email": "bob@b.example", "password": BOB_PASSWORD, "organization_name": "Org B"}))
        .await;
    assert_eq!(bob.status, 201, "{}", bob.json());

    // Alice logs in (with a user agent), refreshes, uploads two models, deletes one, runs
    // a simulation, and logs out of the refreshed session.
    let login = http_client::request(
        &platform.base_url,
        "POST",
        "/v1/auth/token",
        &[
            ("content-type", "application/json"),
            ("user-agent", "audit-test/1.0"),
        ],
        json!({"email": "alice@a.example", "password": ALICE_PASSWORD})
            .to_string()
            .as_bytes(),
    )
    .await
    .expect("login");
    assert_eq!(login.status, 200, "{}", login.json());
    assert_security_headers(&login, "200 login");
    let alice_token = login.json()["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    let refreshed = api
        .post_json(
            "/v1/auth/refresh",
            None,
            &json!({"refresh_token": login.json()["refresh_token"]}),
        )
        .await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.json());
    let model_bytes = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/npv10.json"
    ))
    .expect("npv10.json");
    let (content_type, body) = multipart("npv10.json", &model_bytes);
    let mut model_ids = Vec::new();
    let mut upload_request_id = String::new();
    for _ in 0..2 {
        let upload = api
            .post("/v1/models", Some(&alice_token), &content_type, &body)
            .await;
        assert_eq!(upload.status, 201, "{}", upload.json());
        model_ids.push(upload.json()["id"].as_str().expect("id").to_owned());
        upload_request_id = upload
            .header("x-request-id")
            .expect("request id")
            .to_owned();
    }
    let deleted = api
        .delete(&format!("/v1/models/{}", model_ids[0]), &alice_token)
        .await;
    assert_eq!(deleted.status, 204);
    let run = api
        .post_json(
            "/v1/simulations",
            Some(&alice_token),
            &json!({"model_id": model_ids[1], "iterations": 1000, "seed": 7}),
        )
        .await;
    assert_eq!(run.status, 202, "{}", run.json());
    let simulation_id = run.json()["id"].as_str().expect("id").to_owned();
    // The gateway appends its entries after answering, in order; wait for them before the
    // users service appends the next one itself, so that the chain's order is this one.
    assert_eq!(wait_for_entries(&api, &alice_token, 7).await.len(), 7);
    let logout = api
        .post_json(
            "/v1/auth/logout",
            None,
            &json!({"refresh_token": refreshed.json()["refresh_token"]}),
        )
        .await;
    assert_eq!(logout.status, 204);
    // A failed attempt is recorded too: a foreign model id is 404, outcome failure.
    let missing = api.delete("/v1/models/no-such-model", &alice_token).await;
    assert_eq!(missing.status, 404);
    assert_security_headers(&missing, "404 problem+json");

    // register, login, refresh, 2 uploads, delete, run, logout, failed delete.
    let entries = wait_for_entries(&api, &alice_token, 9).await;
    let actions: Vec<(&str, &str)> = entries
        .iter()
        .rev()
        .map(|entry| {
            (
                entry["action"].as_str().unwrap_or_default(),
                entry["outcome"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        actions,
        [
            ("auth.register", "success"),
            ("auth.login", "success"),
            ("auth.refresh", "success"),
            ("model.upload", "success"),
            ("model.upload", "success"),
            ("model.delete", "success"),
            ("simulation.run", "success"),
            ("auth.logout", "success"),
            ("model.delete", "failure"),
        ]
    );
    let seqs: Vec<i64> = entries
        .iter()
        .map(|entry| entry["seq"].as_i64().unwrap_or(0))
        .collect();
    assert_eq!(
        seqs,
        (1..=9).rev().collect::<Vec<i64>>(),
        "newest first, no gaps"
    );
    for entry in &entries {
        assert_eq!(entry["ip"], "127.0.0.1", "{entry}");
        assert!(
            entry["request_id"]
                .as_str()
                .is_some_and(|id| !id.is_empty()),
            "{entry}"
        );
        assert_eq!(entry["actor_id"], alice_id.as_str(), "{entry}");
        assert_eq!(entry["hash"].as_str().map(str::len), Some(64), "{entry}");
    }
    let by_action = |action: &str| -> Vec<&Value> {
        entries
            .iter()
            .filter(|entry| entry["action"] == action)
            .collect()
    };
    assert_eq!(by_action("auth.login")[0]["user_agent"], "audit-test/1.0");
    let uploads = by_action("model.upload");
    assert_eq!(
        uploads[0]["target_id"],
        model_ids[1].as_str(),
        "the created model"
    );
    assert_eq!(uploads[0]["request_id"], upload_request_id.as_str());
    assert_eq!(
        by_action("simulation.run")[0]["target_id"],
        simulation_id.as_str()
    );
    assert_eq!(
        by_action("model.delete")[1]["target_id"],
        model_ids[0].as_str()
    );

    // Filters and pages.
    let uploads = audit_entries(&api, &alice_token, "action=model.upload", 1).await;
    assert_eq!(uploads.len(), 2);
    let mine = audit_entries(&api, &alice_token, &format!("actor={alice_id}"), 2).await;
    assert_eq!(mine.len(), 9);
    let unique: HashSet<i64> = mine
        .iter()
        .filter_map(|entry| entry["seq"].as_i64())
        .collect();
    assert_eq!(unique.len(), 9, "pages do not repeat entries");
    assert!(
        audit_entries(&api, &alice_token, "actor=someone-else", 5)
            .await
            .is_empty()
    );
    let first_upload_at = uploads[1]["occurred_at_ms"].as_i64().expect("time");
    let until_first_upload =
        audit_entries(&api, &alice_token, &format!("to={first_upload_at}"), 50).await;
    assert_eq!(
        until_first_upload.len(),
        4,
        "register, login, refresh, first upload"
    );
    let since_first_upload =
        audit_entries(&api, &alice_token, &format!("from={first_upload_at}"), 50).await;
    assert_eq!(since_first_upload.len(), 6);
    let bad = api
        .get("/v1/audit?page_token=garbage", Some(&alice_token))
        .await;
    assert_eq!(bad.status, 400, "{}", bad.json());
    let bad = api.get("/v1/audit?actor_id=x", Some(&alice_token)).await;
    assert_eq!(
        bad.status,
        400,
        "unknown filters are refused: {}",
        bad.json()
    );

    // Admins only: an analyst of the same organisation gets 403.
    let secret = platform.env["ULTRA_JWT_SECRET"].clone();
    let analyst = TokenIssuer::new(
        secret.as_bytes(),
        "ultra",
        "ultra-api",
        Duration::from_secs(60),
    )
    .expect("issuer")
    .issue(&alice_id, &org_a, Role::Analyst, PlanTier::Free)
    .expect("token");
    for path in ["/v1/audit", "/v1/audit/verify"] {
        let forbidden = api.get(path, Some(&analyst)).await;
        assert_eq!(forbidden.status, 403, "{path}: {}", forbidden.json());
        assert_eq!(forbidden.json()["type"], format!("{PROBLEM}forbidden"));
        assert_security_headers(&forbidden, "403 problem+json");
    }

    // Lockout: five wrong passwords for Bob, then even the right one is refused with a
    // Retry-After, until the lock expires.
    for _ in 0..5 {
        let wrong = api
            .post_json(
                "/v1/auth/token",
                None,
                &json!({"email": "bob@b.example", "password": "not bob's password"}),
            )
            .await;
        assert_eq!(wrong.status, 401, "{}", wrong.json());
    }
    let locked = api
        .post_json(
            "/v1/auth/token",
            None,
            &json!({"email": "bob@b.example", "password": BOB_PASSWORD}),
        )
        .await;
    assert_eq!(locked.status, 429, "{}", locked.json());
    assert_eq!(
        locked.json()["type"],
        format!("{PROBLEM}too-many-login-attempts")
    );
    let retry_after: u64 = locked
        .header("retry-after")
        .and_then(|value| value.parse().ok())
        .expect("Retry-After");
    assert!((1..=2).contains(&retry_after), "{retry_after}");
    assert_security_headers(&locked, "429 problem+json");
    tokio::time::sleep(Duration::from_secs(retry_after) + Duration::from_millis(100)).await;
    let bob_token = api.login("bob@b.example", BOB_PASSWORD).await;
    let bob_entries = wait_for_entries(&api, &bob_token, 8).await;
    let bob_logins: Vec<&str> = bob_entries
        .iter()
        .rev()
        .filter(|entry| entry["action"] == "auth.login")
        .map(|entry| entry["outcome"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        bob_logins,
        [
            "failure", "failure", "failure", "failure", "failure", "denied", "success"
        ]
    );

    // The chain verifies; then a row edited in the users database is reported at its seq.
    let verified = api.get("/v1/audit/verify", Some(&alice_token)).await;
    assert_eq!(verified.status, 200, "{}", verified.json());
    assert_eq!(verified.json()["ok"], true, "{}", verified.json());
    assert_eq!(verified.json()["checked"], 9);
    assert_eq!(verified.json()["head_hash"], entries[0]["hash"]);
    let edited_seq = by_action("model.delete")[1]["seq"].as_i64().expect("seq");
    let mut users_db =
        SqliteConnection::connect(&format!("sqlite://{}", data_dir.join("users.db").display()))
            .await
            .expect("open users.db");
    let edited = sqlx::query(
        "UPDATE audit_log SET target_id = 'some-other-model' WHERE org_id = $1 AND seq = $2",
    )
    .bind(&org_a)
    .bind(edited_seq)
    .execute(&mut users_db)
    .await
    .expect("edit");
    assert_eq!(edited.rows_affected(), 1);
    users_db.close().await.expect("close");
    let broken = api.get("/v1/audit/verify", Some(&alice_token)).await.json();
    assert_eq!(broken["ok"], false, "{broken}");
    assert_eq!(broken["first_broken_seq"], edited_seq, "{broken}");
    assert_eq!(broken["checked"], edited_seq - 1, "{broken}");
    // Bob's organisation's chain is its own, and intact.
    let bob_verified = api.get("/v1/audit/verify", Some(&bob_token)).await.json();
    assert_eq!(bob_verified["ok"], true, "{bob_verified}");

    let errors = platform.shutdown(Duration::from_secs(10)).await;
    assert!(errors.is_empty(), "{errors:?}");
    let _ = std::fs::remove_dir_all(&data_dir);
}

/// `ultra serve` on `data_dir` (kept between starts) with `env`.
async fn start_on(data_dir: &std::path::Path, env: &[(&str, &str)]) -> RunningPlatform {
    let mut options =
        PlatformOptions::new(std::net::SocketAddr::from(([127, 0, 0, 1], 0)), data_dir);
    for (name, value) in env {
        options.env.insert((*name).to_owned(), (*value).to_owned());
    }
    let mut platform = Platform::start(options).await.expect("platform starts");
    platform
        .wait_ready(Duration::from_secs(20))
        .await
        .expect("platform ready");
    platform
}

async fn stop(platform: RunningPlatform) {
    let errors = platform.shutdown(Duration::from_secs(10)).await;
    assert!(errors.is_empty(), "{errors:?}");
}

/// JWT key rotation across restarts of the whole platform: tokens name their key by `kid`;
/// after the rotation the users service signs with the new secret while the gateway still
/// accepts the old one (listed as previous); once the old secret is removed, its tokens are
/// refused; a kid nobody configured is always refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn jwt_secret_rotation_across_restarts() {
    const OLD: &str = "rotation-test-old-secret-0123456789abcdef";
    const NEW: &str = "rotation-test-new-secret-fedcba9876543210";
    let data_dir =
        std::env::temp_dir().join(format!("ultra-serve-rotation-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data_dir);
    let kid = |token: &str| {
        jsonwebtoken::decode_header(token)
            .expect("header")
            .kid
            .expect("kid")
    };

    let before = start_on(&data_dir, &[("ULTRA_JWT_SECRET", OLD)]).await;
    let api = Api::new(&before.base_url);
    let registered = api
        .post_json("/v1/auth/register", None, &json!({"email": "rota@r.example", "password": ALICE_PASSWORD, "organization_name": "Rotation"}))
        .await;
    assert_eq!(registered.status, 201, "{}", registered.json());
    let old_token = api.login("rota@r.example", ALICE_PASSWORD).await;
    assert_eq!(kid(&old_token), ultra_auth::key_id(OLD.as_bytes()));
    stop(before).await;

    let during = start_on(
        &data_dir,
        &[
            ("ULTRA_JWT_SECRET", NEW),
            ("ULTRA_JWT_PREVIOUS_SECRETS", OLD),
        ],
    )
    .await;
    let api = Api::new(&during.base_url);
    let new_token = api.login("rota@r.example", ALICE_PASSWORD).await;
    assert_eq!(kid(&new_token), ultra_auth::key_id(NEW.as_bytes()));
    assert_eq!(
        api.get("/v1/me", Some(&old_token)).await.status,
        200,
        "previous key"
    );
    assert_eq!(
        api.get("/v1/me", Some(&new_token)).await.status,
        200,
        "current key"
    );
    let stranger = TokenIssuer::new(
        b"a-secret-no-process-was-configured-with-0123",
        "ultra",
        "ultra-api",
        Duration::from_secs(60),
    )
    .expect("issuer")
    .issue("someone", "somewhere", Role::Admin, PlanTier::Free)
    .expect("token");
    let refused = api.get("/v1/me", Some(&stranger)).await;
    assert_eq!(refused.status, 401);
    assert_eq!(refused.json()["type"], format!("{PROBLEM}invalid-token"));
    stop(during).await;

    let after = start_on(&data_dir, &[("ULTRA_JWT_SECRET", NEW)]).await;
    let api = Api::new(&after.base_url);
    let retired = api.get("/v1/me", Some(&old_token)).await;
    assert_eq!(retired.status, 401, "{}", retired.json());
    assert!(
        retired.json()["detail"]
            .as_str()
            .is_some_and(|detail| detail.contains("key id")),
        "{}",
        retired.json()
    );
    assert_eq!(api.get("/v1/me", Some(&new_token)).await.status, 200);
    stop(after).await;
    let _ = std::fs::remove_dir_all(&data_dir);
}
