//! Load tool for `scripts/bench/progress.sh`: against a running `ultra serve`, registers a
//! user, uploads `examples/npv10.json`, starts a long simulation, then fires N
//! `GET /v1/simulations/{id}/progress` requests over C keep-alive connections and prints
//! the latency percentiles. Raw HTTP/1.1 over tokio (no HTTP client library).
//!
//! `cargo run --release --example progress_load -- BASE_URL [REQUESTS] [CONNECTIONS] [ITERATIONS]`

use std::time::{Duration, Instant};

use serde_json::json;
use ultra_cli::http_client::{HttpConnection, encode_request, request};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

async fn post_json(
    base: &str,
    path: &str,
    token: Option<&str>,
    body: serde_json::Value,
) -> Result<serde_json::Value> {
    let bearer = token.map(|token| format!("Bearer {token}"));
    let mut headers = vec![("content-type", "application/json")];
    if let Some(bearer) = &bearer {
        headers.push(("authorization", bearer));
    }
    let response = request(base, "POST", path, &headers, body.to_string().as_bytes()).await?;
    if response.status >= 300 {
        return Err(format!("POST {path}: {} {}", response.status, response.json()).into());
    }
    Ok(response.json())
}

/// Registers a fresh user, uploads the model and submits the simulation; its id and a token.
async fn set_up(base: &str, iterations: u64) -> Result<(String, String)> {
    let email = format!("bench-{}@example.com", std::process::id());
    let password = "benchmark password";
    post_json(
        base,
        "/v1/auth/register",
        None,
        json!({"email": email, "password": password, "organization_name": "Bench"}),
    )
    .await?;
    let token = post_json(
        base,
        "/v1/auth/token",
        None,
        json!({"email": email, "password": password}),
    )
    .await?["access_token"]
        .as_str()
        .ok_or("no access token")?
        .to_string();
    let model = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/npv10.json"
    ))?;
    let boundary = "bench-boundary";
    let mut body = format!("--{boundary}\r\ncontent-disposition: form-data; name=\"file\"; filename=\"npv10.json\"\r\n\r\n").into_bytes();
    body.extend_from_slice(&model);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let bearer = format!("Bearer {token}");
    let content_type = format!("multipart/form-data; boundary={boundary}");
    let upload = request(
        base,
        "POST",
        "/v1/models",
        &[("authorization", &bearer), ("content-type", &content_type)],
        &body,
    )
    .await?;
    let model_id = upload.json()["id"]
        .as_str()
        .ok_or_else(|| format!("upload: {} {}", upload.status, upload.json()))?
        .to_string();
    let simulation = post_json(
        base,
        "/v1/simulations",
        Some(&token),
        json!({"model_id": model_id, "iterations": iterations, "seed": 1}),
    )
    .await?;
    let id = simulation["id"]
        .as_str()
        .ok_or("no simulation id")?
        .to_string();
    Ok((id, token))
}

async fn progress_status(base: &str, id: &str, token: &str) -> Result<String> {
    let bearer = format!("Bearer {token}");
    let response = request(
        base,
        "GET",
        &format!("/v1/simulations/{id}/progress"),
        &[("authorization", &bearer)],
        b"",
    )
    .await?;
    let body = response.json();
    Ok(format!(
        "{} ({} of {})",
        body["status"], body["completed_iterations"], body["total_iterations"]
    ))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p / 100.0).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

#[tokio::main]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let base = args
        .get(1)
        .cloned()
        .unwrap_or_else(|| "http://127.0.0.1:8080".into());
    let total: usize = args
        .get(2)
        .map(|v| v.parse())
        .transpose()?
        .unwrap_or(20_000);
    let connections: usize = args.get(3).map(|v| v.parse()).transpose()?.unwrap_or(200);
    let iterations: u64 = args
        .get(4)
        .map(|v| v.parse())
        .transpose()?
        .unwrap_or(5_000_000);

    let (id, token) = set_up(&base, iterations).await?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    println!(
        "simulation {id} before: {}",
        progress_status(&base, &id, &token).await?
    );

    let request_bytes = encode_request(
        "GET",
        &format!("/v1/simulations/{id}/progress"),
        &[("authorization", &format!("Bearer {token}"))],
        b"",
    );
    let started = Instant::now();
    let mut tasks = Vec::new();
    for connection_index in 0..connections {
        let count = total / connections + usize::from(connection_index < total % connections);
        let base = base.clone();
        let request_bytes = request_bytes.clone();
        tasks.push(tokio::spawn(async move {
            let mut connection = HttpConnection::connect(&base).await?;
            let mut latencies = Vec::with_capacity(count);
            for _ in 0..count {
                let sent = Instant::now();
                let response = connection.send_encoded(&request_bytes).await?;
                latencies.push(sent.elapsed());
                if response.status != 200 {
                    return Err(format!("status {}", response.status).into());
                }
            }
            Result::Ok(latencies)
        }));
    }
    let mut latencies = Vec::with_capacity(total);
    for task in tasks {
        latencies.extend(task.await??);
    }
    let elapsed = started.elapsed();
    latencies.sort();
    println!(
        "simulation {id} after:  {}",
        progress_status(&base, &id, &token).await?
    );
    println!(
        "{} requests, {connections} connections, {:.2} s, {:.0} req/s",
        latencies.len(),
        elapsed.as_secs_f64(),
        latencies.len() as f64 / elapsed.as_secs_f64()
    );
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "latency ms: p50 {:.3}  p90 {:.3}  p99 {:.3}  max {:.3}",
        ms(percentile(&latencies, 50.0)),
        ms(percentile(&latencies, 90.0)),
        ms(percentile(&latencies, 99.0)),
        ms(latencies[latencies.len() - 1])
    );
    let bearer = format!("Bearer {token}");
    let _ = request(
        &base,
        "POST",
        &format!("/v1/simulations/{id}/cancel"),
        &[
            ("authorization", &bearer),
            ("content-type", "application/json"),
        ],
        b"{}",
    )
    .await;
    Ok(())
}
