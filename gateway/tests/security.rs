//! The gateway's hardening without upstreams (unreachable ports): security headers on every
//! response, and JWT key rotation by `kid`. A token the gateway accepts reaches the (absent)
//! users service and answers 503; one it refuses answers 401 `invalid-token`.

use std::collections::HashMap;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;
use ultra_auth::{PlanTier, Role, TokenIssuer};

const OLD_SECRET: &str = "the-secret-before-the-rotation-0123456789";
const NEW_SECRET: &str = "the-secret-after-the-rotation-9876543210";

fn app(extra: &[(&str, &str)]) -> axum::Router {
    // Port 9 (discard) on loopback: nothing listens, so upstream calls fail fast.
    let mut env: HashMap<String, String> = [
        ("ULTRA_USERS_URL", "http://127.0.0.1:9"),
        ("ULTRA_FILES_URL", "http://127.0.0.1:9"),
        ("ULTRA_SIMULATION_URL", "http://127.0.0.1:9"),
        ("ULTRA_RESULTS_URL", "http://127.0.0.1:9"),
        ("ULTRA_BILLING_URL", "http://127.0.0.1:9"),
        ("ULTRA_ANALYTICS_URL", "http://127.0.0.1:9"),
        ("ULTRA_CORS_ORIGINS", "https://console.example"),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_string(), value.to_string()))
    .collect();
    for (name, value) in extra {
        env.insert((*name).to_string(), (*value).to_string());
    }
    let config = ultra_gateway::Config::from_env(&env).expect("valid config");
    ultra_gateway::app(&config, CancellationToken::new()).expect("app")
}

async fn send(app: &axum::Router, request: Request<Body>) -> (StatusCode, HeaderMap, Value) {
    let response = app.clone().oneshot(request).await.expect("infallible");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .expect("body");
    (
        status,
        headers,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn get(path: &str, bearer: Option<&str>) -> Request<Body> {
    let mut builder = Request::get(path);
    if let Some(token) = bearer {
        builder = builder.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    builder.body(Body::empty()).expect("request")
}

fn assert_security_headers(headers: &HeaderMap, hsts: bool, what: &str) {
    let value = |name: header::HeaderName| {
        headers
            .get(&name)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
    };
    assert_eq!(
        value(header::X_CONTENT_TYPE_OPTIONS).as_deref(),
        Some("nosniff"),
        "{what}"
    );
    assert_eq!(
        value(header::X_FRAME_OPTIONS).as_deref(),
        Some("DENY"),
        "{what}"
    );
    assert!(
        value(header::CONTENT_SECURITY_POLICY)
            .is_some_and(|csp| csp.contains("frame-ancestors 'none'")),
        "{what}"
    );
    assert_eq!(
        value(header::REFERRER_POLICY).as_deref(),
        Some("no-referrer"),
        "{what}"
    );
    assert_eq!(
        value(header::CACHE_CONTROL).as_deref(),
        Some("no-store"),
        "{what}"
    );
    assert_eq!(
        value(header::STRICT_TRANSPORT_SECURITY).is_some_and(|hsts| hsts.contains("max-age=")),
        hsts,
        "{what}"
    );
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    for tls in [false, true] {
        let extra: &[(&str, &str)] = if tls {
            // Only whether TLS is on matters to the router; the files are read by `serve`.
            &[
                ("ULTRA_JWT_SECRET", NEW_SECRET),
                ("ULTRA_TLS_CERT", "/nonexistent/cert.pem"),
                ("ULTRA_TLS_KEY", "/nonexistent/key.pem"),
            ]
        } else {
            &[("ULTRA_JWT_SECRET", NEW_SECRET)]
        };
        let app = app(extra);
        let (status, headers, _) = send(&app, get("/healthz", None)).await;
        assert_eq!(status, StatusCode::OK);
        assert_security_headers(&headers, tls, "200 /healthz");

        let (status, headers, body) = send(&app, get("/v1/no-such-route", None)).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(body["type"], "https://ultra.dev/problems/not-found");
        assert_security_headers(&headers, tls, "404 problem");

        let (status, headers, body) = send(&app, get("/v1/audit", None)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(
            headers.get(header::CONTENT_TYPE).map(|v| v.as_bytes()),
            Some(&b"application/problem+json"[..]),
            "{body}"
        );
        assert_security_headers(&headers, tls, "401 problem+json");

        let bad_body = Request::post("/v1/auth/token")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from("{not json"))
            .expect("request");
        let (status, headers, _) = send(&app, bad_body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_security_headers(&headers, tls, "400 problem+json");

        let preflight = Request::builder()
            .method(Method::OPTIONS)
            .uri("/v1/models")
            .header(header::ORIGIN, "https://console.example")
            .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
            .body(Body::empty())
            .expect("request");
        let (status, headers, _) = send(&app, preflight).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        assert_security_headers(&headers, tls, "CORS preflight");
    }
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

/// The detail of a refused token, or `None` when the token was accepted (the request then
/// reached the unreachable users service: 503).
async fn refusal(app: &axum::Router, token: &str) -> Option<String> {
    let (status, _, body) = send(app, get("/v1/me", Some(token))).await;
    match status {
        StatusCode::SERVICE_UNAVAILABLE => None,
        StatusCode::UNAUTHORIZED => {
            assert_eq!(body["type"], "https://ultra.dev/problems/invalid-token");
            Some(body["detail"].as_str().unwrap_or_default().to_owned())
        }
        other => panic!("unexpected {other}: {body}"),
    }
}

/// Rotation: the gateway takes the new secret and keeps the old one as previous; tokens of
/// both verify (by kid). A kid it does not hold is refused. Once the old secret is removed
/// from the configuration, its tokens are refused.
#[tokio::test]
async fn jwt_keys_rotate_by_kid() {
    let old_token = issuer(OLD_SECRET)
        .issue("user-1", "org-1", Role::Analyst, PlanTier::Free)
        .expect("token");
    let new_token = issuer(NEW_SECRET)
        .issue("user-1", "org-1", Role::Analyst, PlanTier::Free)
        .expect("token");

    let before = app(&[("ULTRA_JWT_SECRET", OLD_SECRET)]);
    assert_eq!(refusal(&before, &old_token).await, None);
    assert!(
        refusal(&before, &new_token)
            .await
            .is_some_and(|detail| detail.contains("key id")),
        "a gateway not yet rotated does not know the new kid"
    );

    let during = app(&[
        ("ULTRA_JWT_SECRET", NEW_SECRET),
        ("ULTRA_JWT_PREVIOUS_SECRETS", OLD_SECRET),
    ]);
    assert_eq!(refusal(&during, &old_token).await, None, "previous key");
    assert_eq!(refusal(&during, &new_token).await, None, "current key");
    let unknown = issuer("a-third-secret-nobody-configured-0123456789")
        .issue("user-1", "org-1", Role::Admin, PlanTier::Free)
        .expect("token");
    assert!(
        refusal(&during, &unknown)
            .await
            .is_some_and(|detail| detail.contains("key id")),
        "unknown kid"
    );

    let after = app(&[("ULTRA_JWT_SECRET", NEW_SECRET)]);
    assert!(refusal(&after, &old_token).await.is_some(), "retired key");
    assert_eq!(refusal(&after, &new_token).await, None);

    // A previous secret must be as strong as a current one.
    let mut env: HashMap<String, String> = HashMap::new();
    for (name, value) in [
        ("ULTRA_USERS_URL", "http://127.0.0.1:9"),
        ("ULTRA_FILES_URL", "http://127.0.0.1:9"),
        ("ULTRA_SIMULATION_URL", "http://127.0.0.1:9"),
        ("ULTRA_RESULTS_URL", "http://127.0.0.1:9"),
        ("ULTRA_BILLING_URL", "http://127.0.0.1:9"),
        ("ULTRA_ANALYTICS_URL", "http://127.0.0.1:9"),
        ("ULTRA_JWT_SECRET", NEW_SECRET),
        ("ULTRA_JWT_PREVIOUS_SECRETS", "too-short"),
    ] {
        env.insert(name.into(), value.into());
    }
    let error = ultra_gateway::Config::from_env(&env).expect_err("weak previous secret");
    assert!(
        error.to_string().contains("ULTRA_JWT_PREVIOUS_SECRETS"),
        "{error}"
    );
    // Secrets never reach the logs through Debug.
    env.insert("ULTRA_JWT_PREVIOUS_SECRETS".into(), OLD_SECRET.into());
    env.insert(
        "ULTRA_REDIS_URL".into(),
        "redis://default:redis-password-42@redis:6379".into(),
    );
    let config = ultra_gateway::Config::from_env(&env).expect("config");
    let printed = format!("{config:?}");
    for secret in [NEW_SECRET, OLD_SECRET, "redis-password-42"] {
        assert!(!printed.contains(secret), "{secret} in {printed}");
    }
}

#[tokio::test]
async fn the_audit_routes_are_documented() {
    let app = app(&[("ULTRA_JWT_SECRET", NEW_SECRET)]);
    let (status, _, document) = send(&app, get("/openapi.json", None)).await;
    assert_eq!(status, StatusCode::OK);
    for path in ["/v1/audit", "/v1/audit/verify", "/v1/auth/logout"] {
        assert!(document["paths"][path].is_object(), "{path} is documented");
    }
    let list = &document["paths"]["/v1/audit"]["get"];
    for parameter in ["action", "actor", "from", "to", "page_size", "page_token"] {
        assert!(
            list["parameters"]
                .as_array()
                .is_some_and(|all| all.iter().any(|p| p["name"] == parameter)),
            "{parameter}"
        );
    }
    assert!(list["responses"]["403"].is_object());
    assert!(document["paths"]["/v1/auth/token"]["post"]["responses"]["429"].is_object());
}
