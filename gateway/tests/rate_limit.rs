//! Per-organisation rate limits by plan, end to end through the router: a fake users
//! service (real gRPC on a loopback port) answers `GET /v1/me`, so a request the limiter
//! lets through is a 200 and one it refuses is a 429 problem with `Retry-After`.
//! The FREE tier is configured small (`ULTRA_PLAN_LIMITS`): a burst of 5, refilled at 5/s.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use futures_util::future::join_all;
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;
use ultra_auth::{PlanTier, Role, TokenIssuer};
use ultra_proto::v1;
use ultra_proto::v1::users_service_server::{UsersService, UsersServiceServer};

const SECRET: &str = "0123456789abcdef0123456789abcdef-rate-limit";

/// The FREE tier of these tests: 5 requests at once, then one every 200 ms.
const SMALL_FREE_PLAN: &str = r#"{"free": {"api_requests_per_minute": 300, "api_burst": 5}}"#;

/// Answers `GetMe` with the caller it was given; nothing else is needed here.
struct FakeUsers;

#[tonic::async_trait]
impl UsersService for FakeUsers {
    async fn register(
        &self,
        _: tonic::Request<v1::RegisterRequest>,
    ) -> Result<tonic::Response<v1::RegisterResponse>, tonic::Status> {
        Err(tonic::Status::unimplemented("fake"))
    }

    async fn login(
        &self,
        _: tonic::Request<v1::LoginRequest>,
    ) -> Result<tonic::Response<v1::TokenPair>, tonic::Status> {
        Err(tonic::Status::unimplemented("fake"))
    }

    async fn refresh(
        &self,
        _: tonic::Request<v1::RefreshRequest>,
    ) -> Result<tonic::Response<v1::TokenPair>, tonic::Status> {
        Err(tonic::Status::unimplemented("fake"))
    }

    async fn revoke(
        &self,
        _: tonic::Request<v1::RevokeRequest>,
    ) -> Result<tonic::Response<v1::RevokeResponse>, tonic::Status> {
        Err(tonic::Status::unimplemented("fake"))
    }

    async fn get_me(
        &self,
        request: tonic::Request<v1::GetMeRequest>,
    ) -> Result<tonic::Response<v1::User>, tonic::Status> {
        let caller = request.into_inner().caller.unwrap_or_default();
        Ok(tonic::Response::new(v1::User {
            id: caller.user_id,
            email: "someone@example.com".into(),
            display_name: "Someone".into(),
            org_id: caller.org_id,
            org_name: "Org".into(),
            role: caller.role,
            created_at_ms: 0,
            org_plan_tier: v1::PlanTier::Free as i32,
        }))
    }

    async fn append_audit(
        &self,
        _: tonic::Request<v1::AppendAuditRequest>,
    ) -> Result<tonic::Response<v1::AppendAuditResponse>, tonic::Status> {
        Err(tonic::Status::unimplemented("fake"))
    }

    async fn list_audit(
        &self,
        _: tonic::Request<v1::ListAuditRequest>,
    ) -> Result<tonic::Response<v1::ListAuditResponse>, tonic::Status> {
        Err(tonic::Status::unimplemented("fake"))
    }

    async fn verify_audit(
        &self,
        _: tonic::Request<v1::VerifyAuditRequest>,
    ) -> Result<tonic::Response<v1::VerifyAuditResponse>, tonic::Status> {
        Err(tonic::Status::unimplemented("fake"))
    }
}

/// Serves [`FakeUsers`] on an ephemeral loopback port; returns its URL.
async fn fake_users() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(UsersServiceServer::new(FakeUsers))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    format!("http://{addr}")
}

fn env(users_url: &str, extra: &[(&str, &str)]) -> HashMap<String, String> {
    // The other services are unreachable (port 9): only /v1/me is called.
    let mut env: HashMap<String, String> = [
        ("ULTRA_JWT_SECRET", SECRET),
        ("ULTRA_USERS_URL", users_url),
        ("ULTRA_FILES_URL", "http://127.0.0.1:9"),
        ("ULTRA_SIMULATION_URL", "http://127.0.0.1:9"),
        ("ULTRA_RESULTS_URL", "http://127.0.0.1:9"),
        ("ULTRA_BILLING_URL", "http://127.0.0.1:9"),
        ("ULTRA_ANALYTICS_URL", "http://127.0.0.1:9"),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_string(), value.to_string()))
    .collect();
    for (name, value) in extra {
        env.insert((*name).to_string(), (*value).to_string());
    }
    env
}

/// One gateway (one set of buckets) for the whole test: clones share its state.
async fn gateway(extra: &[(&str, &str)]) -> axum::Router {
    let users = fake_users().await;
    let config = ultra_gateway::Config::from_env(&env(&users, extra)).expect("valid config");
    ultra_gateway::app(&config, CancellationToken::new()).expect("app")
}

fn token(org: &str, plan: PlanTier) -> String {
    TokenIssuer::new(
        SECRET.as_bytes(),
        "ultra",
        "ultra-api",
        Duration::from_secs(900),
    )
    .expect("issuer")
    .issue(&format!("user-of-{org}"), org, Role::Viewer, plan)
    .expect("token")
}

struct Answer {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: Value,
}

async fn me(app: &axum::Router, bearer: Option<&str>) -> Answer {
    let mut request = Request::get("/v1/me");
    if let Some(token) = bearer {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::empty()).expect("request"))
        .await
        .expect("infallible");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .expect("body");
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Answer {
        status,
        headers,
        body,
    }
}

/// `n` requests of `bearer` at once.
async fn burst(app: &axum::Router, bearer: &str, n: usize) -> Vec<Answer> {
    join_all((0..n).map(|_| me(app, Some(bearer)))).await
}

fn retry_after(answer: &Answer) -> u64 {
    answer
        .headers
        .get(header::RETRY_AFTER)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(|| panic!("no Retry-After in {:?}", answer.headers))
}

#[tokio::test]
async fn a_burst_beyond_the_plan_is_429_and_other_orgs_are_unaffected() {
    let app = gateway(&[("ULTRA_PLAN_LIMITS", SMALL_FREE_PLAN)]).await;
    let alpha = token("org-alpha", PlanTier::Free);
    let beta = token("org-beta", PlanTier::Free);

    // Within the burst: served.
    let started = Instant::now();
    for _ in 0..5 {
        let answer = me(&app, Some(&alpha)).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        assert_eq!(answer.body["org_id"], "org-alpha");
    }
    // Beyond it: 20 at once. At 5 tokens a second only what refilled meanwhile gets in.
    let answers = burst(&app, &alpha, 20).await;
    let elapsed = started.elapsed().as_secs_f64();
    let served = answers
        .iter()
        .filter(|answer| answer.status == StatusCode::OK)
        .count();
    let refused: Vec<&Answer> = answers
        .iter()
        .filter(|answer| answer.status == StatusCode::TOO_MANY_REQUESTS)
        .collect();
    assert_eq!(served + refused.len(), 20, "only 200s and 429s");
    assert!(
        (served as f64) <= (elapsed * 5.0).ceil(),
        "{served} served in {elapsed:.2} s beyond a burst of 5 at 5/s"
    );
    assert!(!refused.is_empty(), "the burst was not limited");
    let limited = refused[0];
    assert_eq!(
        limited
            .headers
            .get(header::CONTENT_TYPE)
            .map(|v| v.as_bytes()),
        Some(&b"application/problem+json"[..])
    );
    assert_eq!(
        limited.body["type"],
        "https://ultra.dev/problems/quota-exceeded"
    );
    assert_eq!(limited.body["status"], 429);
    assert_eq!(limited.body["instance"], "/v1/me");
    let detail = limited.body["detail"].as_str().expect("detail");
    assert!(
        detail.contains("free plan") && detail.contains("300 API requests per minute"),
        "{detail}"
    );
    // Refilling at 5/s, the next token is at most 200 ms away: whole seconds, at least 1.
    let wait = retry_after(limited);
    assert_eq!(wait, 1, "Retry-After");
    assert!(detail.contains("retry after 1 s"), "{detail}");

    // Another organisation of the same tier has its own, untouched bucket.
    for answer in burst(&app, &beta, 5).await {
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        assert_eq!(answer.body["org_id"], "org-beta");
    }

    // Waiting out Retry-After, the first organisation is served again.
    tokio::time::sleep(Duration::from_secs(wait)).await;
    let answer = me(&app, Some(&alpha)).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
}

#[tokio::test]
async fn the_tier_in_the_token_sets_the_rate() {
    let app = gateway(&[("ULTRA_PLAN_LIMITS", SMALL_FREE_PLAN)]).await;
    // Enterprise keeps its default burst (3,000): 20 at once are nothing to it.
    let enterprise = token("org-big", PlanTier::Enterprise);
    for answer in burst(&app, &enterprise, 20).await {
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    }
    // The same 20 from a FREE organisation are not all served.
    let free = token("org-small", PlanTier::Free);
    let limited = burst(&app, &free, 20)
        .await
        .into_iter()
        .filter(|answer| answer.status == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert!(limited > 0, "a FREE burst of 20 went through a bucket of 5");
}

#[tokio::test]
async fn unauthenticated_requests_take_no_tokens() {
    let app = gateway(&[("ULTRA_PLAN_LIMITS", SMALL_FREE_PLAN)]).await;
    // Refused before the limiter: 401, never 429, however many.
    for answer in join_all((0..20).map(|_| me(&app, None))).await {
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    }
    for answer in join_all((0..20).map(|_| me(&app, Some("not-a-token")))).await {
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    }
    let health = app
        .clone()
        .oneshot(
            Request::get("/healthz")
                .body(Body::empty())
                .expect("request"),
        )
        .await
        .expect("infallible");
    assert_eq!(health.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_limit_can_be_switched_off() {
    let app = gateway(&[
        ("ULTRA_PLAN_LIMITS", SMALL_FREE_PLAN),
        ("ULTRA_RATE_LIMIT", "off"),
    ])
    .await;
    let free = token("org-unlimited", PlanTier::Free);
    for answer in burst(&app, &free, 20).await {
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    }
}

#[tokio::test]
async fn the_openapi_document_declares_the_429() {
    let app = gateway(&[]).await;
    let response = app
        .oneshot(
            Request::get("/openapi.json")
                .body(Body::empty())
                .expect("request"),
        )
        .await
        .expect("infallible");
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 22)
        .await
        .expect("body");
    let document: Value = serde_json::from_slice(&bytes).expect("json");
    let limited = &document["paths"]["/v1/simulations/{id}/progress"]["get"]["responses"]["429"];
    assert!(limited["headers"]["Retry-After"].is_object(), "{limited}");
    // Routes without a token are not limited, and say so by not declaring it.
    assert!(document["paths"]["/v1/auth/register"]["post"]["responses"]["429"].is_null());
    // Login's 429 is the lockout after failed logins, not the plan's rate.
    let login = &document["paths"]["/v1/auth/token"]["post"]["responses"]["429"];
    assert!(
        login["description"]
            .as_str()
            .is_some_and(|text| text.contains("too-many-login-attempts")),
        "{login}"
    );
}

#[test]
fn bad_limits_and_switches_are_refused_at_startup() {
    let users = "http://127.0.0.1:9";
    let refused = |extra: &[(&str, &str)]| {
        ultra_gateway::Config::from_env(&env(users, extra))
            .expect_err("refused")
            .to_string()
    };
    let error = refused(&[("ULTRA_PLAN_LIMITS", r#"{"free": {"requests": 5}}"#)]);
    assert!(
        error.contains("ULTRA_PLAN_LIMITS") && error.contains("requests"),
        "{error}"
    );
    let error = refused(&[("ULTRA_PLAN_LIMITS", r#"{"free": {"api_burst": 0}}"#)]);
    assert!(
        error.contains("free.api_burst must be at least 1"),
        "{error}"
    );
    let error = refused(&[("ULTRA_RATE_LIMIT", "sometimes")]);
    assert!(error.contains("ULTRA_RATE_LIMIT"), "{error}");
}
