//! Shared by the `serve_*` tests: the platform on ephemeral ports (embedded or on the
//! cluster backends), a small REST helper, and the independent reference for
//! `examples/npv10.json`.

#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;
use ultra_bus::RedisOptions;
use ultra_cli::http_client::{self, HttpConnection, HttpResponse, SseEvent};
use ultra_cli::platform::{
    Backend, Platform, PlatformOptions, RedisBackend, RunningPlatform, SERVICES,
};
use ultra_proto::v1;
use ultra_proto::v1::analytics_service_client::AnalyticsServiceClient;
use ultra_proto::v1::billing_service_client::BillingServiceClient;
use ultra_testkit::{PostgresServer, RedisServer};

/// Starts the whole platform (gateway on 127.0.0.1:0) in a fresh data directory, on SQLite
/// and the in-process bus, and waits until every service answers health.
pub async fn start_platform(env: &[(&str, &str)]) -> (RunningPlatform, PathBuf) {
    start_platform_on(env, Backend::embedded()).await
}

/// The cluster backends, private to one test: a PostgreSQL server with one database per
/// service and a Redis server (ultra-testkit; killed on drop).
pub struct Cluster {
    pub postgres: PostgresServer,
    pub redis: RedisServer,
    /// Database URL by service name.
    pub database_urls: HashMap<String, String>,
}

impl Cluster {
    /// Starts both servers and creates the six databases (blocking: a few seconds).
    pub fn start() -> Cluster {
        tokio::task::block_in_place(|| {
            let postgres = PostgresServer::start().expect("start postgres");
            let redis = RedisServer::start().expect("start redis-server");
            let database_urls = SERVICES
                .iter()
                .map(|service| {
                    let url = postgres
                        .create_database(&format!("ultra_{service}"))
                        .expect("create database");
                    ((*service).to_owned(), url)
                })
                .collect();
            Cluster {
                postgres,
                redis,
                database_urls,
            }
        })
    }

    /// Every service on its PostgreSQL database, events on Redis; the bus reconnects
    /// within half a second of an outage ending (production backs off up to 5 s).
    pub fn backend(&self) -> Backend {
        Backend {
            database_urls: self.database_urls.clone(),
            redis: Some(RedisBackend {
                url: self.redis.url(),
                options: RedisOptions {
                    block: Duration::from_millis(200),
                    command_timeout: Duration::from_secs(1),
                    reconnect_min: Duration::from_millis(50),
                    reconnect_max: Duration::from_millis(500),
                    ..RedisOptions::default()
                },
            }),
        }
    }
}

/// [`start_platform`] on the given backend.
pub async fn start_platform_on(
    env: &[(&str, &str)],
    backend: Backend,
) -> (RunningPlatform, PathBuf) {
    // RUST_LOG=ultra=debug,... shows the services' logs under `--nocapture`.
    if let Ok(filter) = tracing_subscriber::EnvFilter::try_from_default_env() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_test_writer()
            .try_init();
    }
    static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let unique = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let data_dir =
        std::env::temp_dir().join(format!("ultra-serve-test-{}-{unique}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data_dir);
    let mut options = PlatformOptions::new(SocketAddr::from(([127, 0, 0, 1], 0)), &data_dir);
    options.backend = backend;
    // These tests poll progress fast and run several simulations from free organisations:
    // raise that tier's API rate, runs at once and iterations per run (the limits stay on
    // the path; `gateway/tests/rate_limit.rs` and `serve_plan_limits.rs` test them).
    options.env.insert(
        "ULTRA_PLAN_LIMITS".to_string(),
        r#"{"free": {"api_requests_per_minute": 1000000, "max_concurrent_simulations": 1000, "max_iterations_per_run": 10000000000}}"#.to_string(),
    );
    for (name, value) in env {
        options
            .env
            .insert((*name).to_string(), (*value).to_string());
    }
    let started = std::time::Instant::now();
    let mut platform = Platform::start(options).await.expect("platform starts");
    platform
        .wait_ready(Duration::from_secs(20))
        .await
        .expect("platform ready");
    eprintln!(
        "platform ready in {:?} at {}",
        started.elapsed(),
        platform.base_url
    );
    (platform, data_dir)
}

/// An admin of `org_id`, as the gateway would set the caller of a usage query.
fn admin_of(org_id: &str, user_id: &str) -> Option<v1::Caller> {
    Some(v1::Caller {
        org_id: org_id.to_owned(),
        user_id: user_id.to_owned(),
        role: v1::Role::Admin as i32,
    })
}

/// Billing's usage and analytics' report of `org_id` now (all time), over their gRPC APIs
/// (the REST API has no usage routes yet).
pub async fn usage_now(
    platform: &RunningPlatform,
    org_id: &str,
    user_id: &str,
) -> (v1::Usage, v1::UsageReport) {
    let mut billing = BillingServiceClient::connect(platform.service_urls["billing"].clone())
        .await
        .expect("billing");
    let mut analytics = AnalyticsServiceClient::connect(platform.service_urls["analytics"].clone())
        .await
        .expect("analytics");
    // Signed like the gateway signs: the services trust no bare caller.
    let signer = ultra_rpc::CallerAuth::from_env(&platform.env).expect("service secret");
    let admin = admin_of(org_id, user_id).unwrap_or_default();
    let usage_request = v1::GetUsageRequest {
        caller: Some(admin.clone()),
        from_ms: 0,
        to_ms: 0,
    };
    let usage = billing
        .get_usage(signer.peer_request(&admin, usage_request).expect("signed"))
        .await
        .expect("billing usage")
        .into_inner();
    let report_request = v1::UsageReportRequest {
        caller: Some(admin.clone()),
        from_ms: 0,
        to_ms: 0,
    };
    let report = analytics
        .get_usage_report(signer.peer_request(&admin, report_request).expect("signed"))
        .await
        .expect("analytics report")
        .into_inner();
    (usage, report)
}

/// Waits (up to 30 s) until billing and analytics both count at least `expected`
/// simulations of `org_id`: the `simulation.completed` event went through the outbox and
/// the bus to both consumer groups.
pub async fn metered(
    platform: &RunningPlatform,
    org_id: &str,
    user_id: &str,
    expected: u64,
) -> (v1::Usage, v1::UsageReport) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (usage, report) = usage_now(platform, org_id, user_id).await;
        if usage.simulations >= expected && report.simulations >= expected {
            return (usage, report);
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "usage not metered in time: billing {usage:?}, analytics {report:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// REST calls against the gateway, one connection each.
pub struct Api {
    base_url: String,
}

impl Api {
    pub fn new(base_url: &str) -> Api {
        Api {
            base_url: base_url.to_string(),
        }
    }

    async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        content_type: Option<&str>,
        body: &[u8],
    ) -> HttpResponse {
        let bearer = token.map(|token| format!("Bearer {token}"));
        let mut headers = Vec::new();
        if let Some(bearer) = &bearer {
            headers.push(("authorization", bearer.as_str()));
        }
        if let Some(content_type) = content_type {
            headers.push(("content-type", content_type));
        }
        http_client::request(&self.base_url, method, path, &headers, body)
            .await
            .unwrap_or_else(|error| panic!("{method} {path}: {error}"))
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> HttpResponse {
        self.call("GET", path, token, None, b"").await
    }

    pub async fn delete(&self, path: &str, token: &str) -> HttpResponse {
        self.call("DELETE", path, Some(token), None, b"").await
    }

    pub async fn post(
        &self,
        path: &str,
        token: Option<&str>,
        content_type: &str,
        body: &[u8],
    ) -> HttpResponse {
        self.call("POST", path, token, Some(content_type), body)
            .await
    }

    pub async fn post_json(&self, path: &str, token: Option<&str>, body: &Value) -> HttpResponse {
        self.post(path, token, "application/json", body.to_string().as_bytes())
            .await
    }

    /// Password login; the access token.
    pub async fn login(&self, email: &str, password: &str) -> String {
        let response = self
            .post_json(
                "/v1/auth/token",
                None,
                &serde_json::json!({"email": email, "password": password}),
            )
            .await;
        assert_eq!(response.status, 200, "login {email}: {}", response.json());
        response.json()["access_token"]
            .as_str()
            .expect("access_token")
            .to_string()
    }

    /// Follows an SSE route to its end (bounded by a minute).
    pub async fn events(&self, path: &str, token: &str) -> (u16, Vec<SseEvent>) {
        let bearer = format!("Bearer {token}");
        let mut connection = HttpConnection::connect(&self.base_url)
            .await
            .expect("connect");
        tokio::time::timeout(
            Duration::from_secs(60),
            connection.events(path, &[("authorization", &bearer)]),
        )
        .await
        .expect("the event stream ends within a minute")
        .expect("event stream")
    }
}

/// Standard normal CDF through `erfc` (Numerical Recipes `erfcc`, Chebyshev fit with
/// fractional error below 1.2e-7 everywhere).
fn normal_cdf(z: f64) -> f64 {
    let x = -z / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.5 * x.abs());
    let poly = -x * x - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let erfc = t * poly.exp();
    0.5 * if x >= 0.0 { erfc } else { 2.0 - erfc }
}

/// Inverse CDF of Triang(80, 100, 130).
fn triangular_quantile(u: f64) -> f64 {
    let (low, mode, high) = (80.0_f64, 100.0_f64, 130.0_f64);
    let split = (mode - low) / (high - low);
    if u < split {
        low + (u * (high - low) * (mode - low)).sqrt()
    } else {
        high - ((1.0 - u) * (high - low) * (high - mode)).sqrt()
    }
}

/// E[(m + s Z)^n] for standard normal Z: binomial expansion with E[Z^j] = (j-1)!! for even j.
fn normal_power_moment(m: f64, s: f64, n: u32) -> f64 {
    let mut total = 0.0;
    let mut binomial = 1.0_f64;
    let mut double_factorial = 1.0_f64; // (j-1)!! for the current even j
    for j in 0..=n {
        if j > 0 {
            binomial *= f64::from(n - j + 1) / f64::from(j);
        }
        if j % 2 == 0 {
            if j >= 2 {
                double_factorial *= f64::from(j - 1);
            }
            total += binomial * m.powi((n - j) as i32) * s.powi(j as i32) * double_factorial;
        }
    }
    total
}

/// E[NPV] of `examples/npv10.json`, computed without the engine.
///
/// NPV = Σ_{k=1..10} R (1+g)^{k-1} (1-c) / (1+r)^k − 250 with R ~ Triang(80,100,130),
/// g ~ Normal(0.05, 0.02), c ~ U(0.55, 0.70), r ~ U(0.07, 0.11); R and g joined by a Gaussian
/// copula with Spearman 0.3 (Pearson ρ = 2 sin(π·0.3/6), as the engine's copula), c and r
/// independent. So E[NPV] = E[1-c] Σ_k E[R(1+g)^{k-1}] E[(1+r)^{-k}] − 250 where E[1-c] =
/// 0.375, E[(1+r)^{-k}] is closed-form, and E[R(1+g)^{k-1}] = ∫ R(z₁) E[(1.05 + 0.02(ρz₁ +
/// √(1-ρ²)Z₂))^{k-1}] φ(z₁) dz₁, the inner expectation in closed form and the outer by the
/// trapezoid rule on [-9, 9] with step 1e-3 (error far below 1e-6, the CDF's 1.2e-7 included).
pub fn npv10_reference_mean() -> f64 {
    let rho = 2.0 * (std::f64::consts::PI * 0.3 / 6.0).sin();
    let residual = (1.0 - rho * rho).sqrt();
    let step = 1e-3;
    let points = 18_000;
    let mut revenue_growth = [0.0_f64; 10]; // E[R (1+g)^{k-1}], k = 1..10
    for index in 0..=points {
        let z = -9.0 + step * index as f64;
        let weight = if index == 0 || index == points {
            0.5
        } else {
            1.0
        };
        let density = (-0.5 * z * z).exp() / (2.0 * std::f64::consts::PI).sqrt();
        let revenue = triangular_quantile(normal_cdf(z).clamp(0.0, 1.0));
        let growth_mean = 1.05 + 0.02 * rho * z;
        for (k, slot) in revenue_growth.iter_mut().enumerate() {
            let moment = normal_power_moment(growth_mean, 0.02 * residual, k as u32);
            *slot += weight * step * density * revenue * moment;
        }
    }
    let discount = |k: i32| -> f64 {
        // E[(1+r)^{-k}], r ~ U(0.07, 0.11).
        if k == 1 {
            (1.11_f64 / 1.07).ln() / 0.04
        } else {
            (1.07_f64.powi(1 - k) - 1.11_f64.powi(1 - k)) / (f64::from(k - 1) * 0.04)
        }
    };
    let present_value: f64 = (1..=10)
        .map(|k| revenue_growth[(k - 1) as usize] * discount(k))
        .sum();
    0.375 * present_value - 250.0
}

#[test]
fn reference_mean_is_plausible() {
    // Without correlation and growth, E[R] = (80+100+130)/3; the annuity factor at ~9% over
    // ten years is ~6.4, so the mean NPV is of order 0.375 * 103.3 * 7.5 - 250 ≈ 40.
    let mean = npv10_reference_mean();
    assert!((20.0..80.0).contains(&mean), "{mean}");
    assert!((normal_cdf(1.959_963_985) - 0.975).abs() < 1e-6);
    assert!((normal_power_moment(1.0, 0.5, 2) - 1.25).abs() < 1e-12);
}
