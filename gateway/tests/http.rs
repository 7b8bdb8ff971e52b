//! The gateway's own behaviour, without upstreams (they are unreachable ports): errors are
//! problem documents, tokens are verified locally, request ids, CORS, health, OpenAPI.
//! Requests go through `Router::oneshot`, no sockets.

use std::collections::HashMap;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;
use ultra_auth::{Claims, PlanTier, Role, TokenIssuer};

const SECRET: &str = "0123456789abcdef0123456789abcdef-test-secret";

fn config(extra: &[(&str, &str)]) -> ultra_gateway::Config {
    // Port 9 (discard) on loopback: nothing listens, so upstream calls fail fast.
    let mut env: HashMap<String, String> = [
        ("ULTRA_JWT_SECRET", SECRET),
        ("ULTRA_USERS_URL", "http://127.0.0.1:9"),
        ("ULTRA_FILES_URL", "http://127.0.0.1:9"),
        ("ULTRA_SIMULATION_URL", "http://127.0.0.1:9"),
        ("ULTRA_RESULTS_URL", "http://127.0.0.1:9"),
        ("ULTRA_BILLING_URL", "http://127.0.0.1:9"),
        ("ULTRA_ANALYTICS_URL", "http://127.0.0.1:9"),
        ("ULTRA_MAX_UPLOAD_BYTES", "1024"),
        ("ULTRA_CORS_ORIGINS", "https://console.example"),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_string(), value.to_string()))
    .collect();
    for (name, value) in extra {
        env.insert((*name).to_string(), (*value).to_string());
    }
    ultra_gateway::Config::from_env(&env).expect("valid config")
}

fn app() -> axum::Router {
    ultra_gateway::app(&config(&[]), CancellationToken::new()).expect("app")
}

fn issuer(secret: &str) -> TokenIssuer {
    TokenIssuer::new(
        secret.as_bytes(),
        "ultra",
        "ultra-api",
        Duration::from_secs(900),
    )
    .expect("issuer")
}

fn token(role: Role) -> String {
    issuer(SECRET)
        .issue("user-1", "org-1", role, PlanTier::Free)
        .expect("token")
}

async fn send(request: Request<Body>) -> (StatusCode, axum::http::HeaderMap, Value) {
    let response = app().oneshot(request).await.expect("infallible");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .expect("body");
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, headers, body)
}

fn get(path: &str, bearer: Option<&str>) -> Request<Body> {
    let mut builder = Request::get(path);
    if let Some(token) = bearer {
        builder = builder.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    builder.body(Body::empty()).expect("request")
}

/// Asserts a problem+json answer with `status` and `type` ending in `slug`.
fn assert_problem(answer: &(StatusCode, axum::http::HeaderMap, Value), status: u16, slug: &str) {
    let (code, headers, body) = answer;
    assert_eq!(code.as_u16(), status, "body: {body}");
    assert_eq!(
        headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok()),
        Some("application/problem+json")
    );
    assert_eq!(
        body["type"],
        format!("https://ultra.dev/problems/{slug}"),
        "body: {body}"
    );
    assert_eq!(body["status"], status);
    assert!(
        body["title"].is_string() && body["detail"].is_string(),
        "body: {body}"
    );
    assert!(
        body["instance"]
            .as_str()
            .is_some_and(|i| i.starts_with('/')),
        "body: {body}"
    );
    assert!(
        body["request_id"].as_str().is_some_and(|id| !id.is_empty()),
        "body: {body}"
    );
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

#[tokio::test]
async fn health_is_up_and_readiness_reports_unreachable_upstreams() {
    let (status, _, body) = send(get("/healthz", None)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "ok");
    let (status, _, body) = send(get("/readyz", None)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["upstreams"]["simulation"], "not_serving");
}

#[tokio::test]
async fn unknown_routes_and_methods_are_problems() {
    assert_problem(&send(get("/v1/nothing-here", None)).await, 404, "not-found");
    let put_me = Request::put("/v1/me").body(Body::empty()).expect("request");
    let answer = send(put_me).await;
    assert_problem(&answer, 405, "method-not-allowed");
    assert!(answer.1.contains_key(header::ALLOW));
}

#[tokio::test]
async fn tokens_are_verified_locally() {
    assert_problem(&send(get("/v1/me", None)).await, 401, "unauthenticated");
    let forged = issuer("another-secret-another-secret-another-secret")
        .issue("user-1", "org-1", Role::Admin, PlanTier::Free)
        .expect("token");
    assert_problem(
        &send(get("/v1/me", Some(&forged))).await,
        401,
        "invalid-token",
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let expired = issuer(SECRET)
        .sign(&Claims {
            sub: "user-1".into(),
            org: "org-1".into(),
            role: Role::Admin,
            plan: None,
            iss: "ultra".into(),
            aud: "ultra-api".into(),
            iat: now - 7200,
            exp: now - 3600,
            jti: "expired".into(),
        })
        .expect("signed");
    assert_problem(
        &send(get("/v1/me", Some(&expired))).await,
        401,
        "invalid-token",
    );
    let header = base64url(br#"{"alg":"none","typ":"JWT"}"#);
    let claims = base64url(
        format!(r#"{{"sub":"user-1","org":"org-1","role":"admin","iss":"ultra","aud":"ultra-api","iat":{now},"exp":{}}}"#, now + 600)
            .as_bytes(),
    );
    let unsigned = format!("{header}.{claims}.");
    let answer = send(get("/v1/me", Some(&unsigned))).await;
    assert_problem(&answer, 401, "invalid-token");
    assert_eq!(
        answer.1.get(header::WWW_AUTHENTICATE).map(|v| v.as_bytes()),
        Some(&b"Bearer"[..])
    );
}

#[tokio::test]
async fn a_valid_token_reaches_the_upstream_and_its_absence_is_503() {
    // The token passes; the users service is unreachable: 503, still a problem document.
    let answer = send(get("/v1/me", Some(&token(Role::Viewer)))).await;
    assert_problem(&answer, 503, "service-unavailable");
}

#[tokio::test]
async fn roles_lacking_a_permission_get_403() {
    let body = r#"{"model_id":"m","iterations":10}"#;
    let request = Request::post("/v1/simulations")
        .header(
            header::AUTHORIZATION,
            format!("Bearer {}", token(Role::Viewer)),
        )
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body))
        .expect("request");
    assert_problem(&send(request).await, 403, "forbidden");
}

#[tokio::test]
async fn bad_bodies_are_problems() {
    let post = |content_type: &str, body: &'static str| {
        Request::post("/v1/auth/token")
            .header(header::CONTENT_TYPE, content_type)
            .body(Body::from(body))
            .expect("request")
    };
    assert_problem(
        &send(post("application/json", "{\"email\": ")).await,
        400,
        "malformed-json",
    );
    assert_problem(
        &send(post("text/plain", "{}")).await,
        415,
        "unsupported-media-type",
    );
    assert_problem(
        &send(post("application/json", "{\"email\": 3}")).await,
        400,
        "invalid-argument",
    );
}

#[tokio::test]
async fn uploads_over_the_limit_are_413_and_non_multipart_415() {
    let bearer = format!("Bearer {}", token(Role::Analyst));
    let big = "x".repeat(4096);
    let body = format!(
        "--B\r\ncontent-disposition: form-data; name=\"file\"; filename=\"m.json\"\r\n\r\n{big}\r\n--B--\r\n"
    );
    let request = Request::post("/v1/models")
        .header(header::AUTHORIZATION, &bearer)
        .header(header::CONTENT_TYPE, "multipart/form-data; boundary=B")
        .body(Body::from(body))
        .expect("request");
    assert_problem(&send(request).await, 413, "payload-too-large");
    let request = Request::post("/v1/models")
        .header(header::AUTHORIZATION, &bearer)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from("{}"))
        .expect("request");
    assert_problem(&send(request).await, 415, "unsupported-media-type");
}

#[tokio::test]
async fn request_ids_are_echoed_or_generated() {
    let request = Request::get("/healthz")
        .header("x-request-id", "abc-123")
        .body(Body::empty())
        .expect("request");
    let (_, headers, _) = send(request).await;
    assert_eq!(
        headers.get("x-request-id").map(|v| v.as_bytes()),
        Some(&b"abc-123"[..])
    );
    let (_, headers, body) = send(get("/nowhere", None)).await;
    let generated = headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .expect("generated");
    assert_eq!(body["request_id"], generated);
}

#[tokio::test]
async fn the_trace_context_is_continued_or_started() {
    let client = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let traceparent = |headers: &axum::http::HeaderMap| {
        headers
            .get("traceparent")
            .and_then(|v| v.to_str().ok())
            .and_then(ultra_telemetry::TraceContext::parse)
            .expect("a valid traceparent on the response")
    };
    let request = Request::get("/healthz")
        .header("traceparent", client)
        .body(Body::empty())
        .expect("request");
    let (_, headers, _) = send(request).await;
    let answered = traceparent(&headers);
    // The client's trace, with the gateway's own span in it.
    assert_eq!(answered.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_ne!(answered.to_string(), client);

    // A malformed one is ignored (a new trace starts), as is none at all.
    let request = Request::get("/healthz")
        .header("traceparent", "00-XYZ-00f067aa0ba902b7-01")
        .body(Body::empty())
        .expect("request");
    let (_, headers, _) = send(request).await;
    assert_ne!(
        traceparent(&headers).trace_id(),
        "4bf92f3577b34da6a3ce929d0e0e4736"
    );
    let (_, first, _) = send(get("/healthz", None)).await;
    let (_, second, _) = send(get("/healthz", None)).await;
    assert_ne!(
        traceparent(&first).trace_id(),
        traceparent(&second).trace_id()
    );
}

#[tokio::test]
async fn cors_allows_configured_origins_only() {
    let preflight = |origin: &str| {
        Request::options("/v1/models")
            .header(header::ORIGIN, origin)
            .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
            .body(Body::empty())
            .expect("request")
    };
    let (status, headers, _) = send(preflight("https://console.example")).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        headers
            .get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
            .map(|v| v.as_bytes()),
        Some(&b"https://console.example"[..])
    );
    let (_, headers, _) = send(preflight("https://evil.example")).await;
    assert!(!headers.contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN));
}

#[tokio::test]
async fn openapi_lists_every_route() {
    let (status, _, document) = send(get("/openapi.json", None)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        document["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1"))
    );
    let expected = [
        ("/v1/auth/register", "post"),
        ("/v1/auth/token", "post"),
        ("/v1/auth/refresh", "post"),
        ("/v1/me", "get"),
        ("/v1/models", "post"),
        ("/v1/models", "get"),
        ("/v1/models/{id}", "get"),
        ("/v1/models/{id}", "delete"),
        ("/v1/simulations", "post"),
        ("/v1/simulations", "get"),
        ("/v1/simulations/{id}", "get"),
        ("/v1/simulations/{id}/progress", "get"),
        ("/v1/simulations/{id}/events", "get"),
        ("/v1/simulations/{id}/cancel", "post"),
        ("/v1/simulations/{id}/results", "get"),
        ("/healthz", "get"),
        ("/readyz", "get"),
    ];
    for (path, method) in expected {
        assert!(
            document["paths"][path][method].is_object(),
            "{method} {path} missing"
        );
    }
    // The simulation request documents its optional input/output overrides.
    let schemas = &document["components"]["schemas"];
    for schema in ["InputOverride", "OutputOverride"] {
        assert!(schemas[schema].is_object(), "{schema} missing");
    }
    assert!(schemas["SubmitBody"]["properties"]["inputs"].is_object());
}

#[test]
fn tls_needs_both_the_certificate_and_the_key() {
    let mut env = HashMap::new();
    env.insert("ULTRA_TLS_CERT".to_string(), "/etc/cert.pem".to_string());
    let error = ultra_gateway::Config::from_env(&env).expect_err("refused");
    assert!(error.to_string().contains("ULTRA_TLS_KEY"), "{error}");
    let mut env = HashMap::new();
    env.insert("ULTRA_TLS_KEY".to_string(), "/etc/key.pem".to_string());
    let error = ultra_gateway::Config::from_env(&env).expect_err("refused");
    assert!(error.to_string().contains("ULTRA_TLS_CERT"), "{error}");
}
