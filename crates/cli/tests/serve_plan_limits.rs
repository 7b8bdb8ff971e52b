//! The simulation service holds each submission to its organisation's plan (the table of
//! `ULTRA_PLAN_LIMITS`, here a FREE tier of one run at once and 400,000,000 iterations per
//! run): more iterations than the tier allows is 403 `plan-limit-exceeded`; a second run
//! while one is queued or running is 429 `plan-limit-exceeded`, and is accepted once the
//! first has ended.

mod serve_common;

use std::time::Duration;

use serde_json::json;
use serve_common::{Api, start_platform};

const PROBLEM: &str = "https://ultra.dev/problems/plan-limit-exceeded";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn submissions_are_held_to_the_plan() {
    let (platform, _data_dir) = start_platform(&[
        ("ULTRA_MAX_ITERATIONS", "1000000000"),
        (
            "ULTRA_PLAN_LIMITS",
            r#"{"free": {"api_requests_per_minute": 1000000, "max_concurrent_simulations": 1, "max_iterations_per_run": 400000000}}"#,
        ),
    ])
    .await;
    let api = Api::new(&platform.base_url);
    let registered = api
        .post_json("/v1/auth/register", None, &json!({"email": "dana@d.example", "password": "within the plan limits", "organization_name": "Org D"}))
        .await;
    assert_eq!(registered.status, 201, "register: {}", registered.json());
    let token = api.login("dana@d.example", "within the plan limits").await;
    let model = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/npv10.json"
    ))
    .expect("npv10.json");
    let boundary = "plan-limits-boundary";
    let mut body = format!(
        "--{boundary}\r\ncontent-disposition: form-data; name=\"file\"; filename=\"npv10.json\"\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(&model);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let upload = api
        .post(
            "/v1/models",
            Some(&token),
            &format!("multipart/form-data; boundary={boundary}"),
            &body,
        )
        .await;
    assert_eq!(upload.status, 201, "upload: {}", upload.json());
    let model_id = upload.json()["id"].as_str().expect("id").to_string();
    let submit = |iterations: u64| {
        let api = &api;
        let token = &token;
        let model_id = &model_id;
        async move {
            api.post_json(
                "/v1/simulations",
                Some(token),
                &json!({"model_id": model_id, "iterations": iterations, "seed": 1}),
            )
            .await
        }
    };

    // Above the tier's iterations per run: refused whatever else runs, with the limit named.
    let too_many = submit(400_000_001).await;
    assert_eq!(too_many.status, 403, "{}", too_many.json());
    assert_eq!(too_many.json()["type"], PROBLEM);
    let detail = too_many.json()["detail"].as_str().unwrap_or("").to_string();
    assert!(
        detail.contains("400000000") && detail.contains("free"),
        "{detail}"
    );

    // One long run is allowed; a second while it is queued or running is not.
    let first = submit(400_000_000).await;
    assert_eq!(first.status, 202, "{}", first.json());
    let first_id = first.json()["id"].as_str().expect("id").to_string();
    let second = submit(1_000).await;
    assert_eq!(second.status, 429, "{}", second.json());
    assert_eq!(second.json()["type"], PROBLEM);

    // Once the first has ended (cancelled here), the next is accepted.
    let cancelled = api
        .post_json(
            &format!("/v1/simulations/{first_id}/cancel"),
            Some(&token),
            &json!({}),
        )
        .await;
    assert_eq!(cancelled.status, 200, "{}", cancelled.json());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let status = api
            .get(&format!("/v1/simulations/{first_id}"), Some(&token))
            .await
            .json()["status"]
            .clone();
        if status == "cancelled" {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "still {status} after the cancellation"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let third = submit(1_000).await;
    assert_eq!(third.status, 202, "{}", third.json());

    let errors = platform.shutdown(Duration::from_secs(10)).await;
    assert!(errors.is_empty(), "shutdown: {errors:?}");
}
