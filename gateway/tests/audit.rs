//! The gateway's audit recording against a fake users service (real gRPC on loopback) that
//! is down when the request is answered and comes up later: the entry is delivered once it
//! does, with the caller, the client, the request id and the outcome.

use std::collections::HashMap;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;
use ultra_auth::{PlanTier, Role, TokenIssuer};
use ultra_proto::v1;
use ultra_proto::v1::users_service_server::{UsersService, UsersServiceServer};

const SECRET: &str = "0123456789abcdef0123456789abcdef-audit-test";

/// Passes every appended entry to the test; nothing else is needed here.
struct RecordingUsers(mpsc::UnboundedSender<v1::AppendAuditRequest>);

fn fake() -> tonic::Status {
    tonic::Status::unimplemented("fake")
}

#[tonic::async_trait]
impl UsersService for RecordingUsers {
    async fn register(
        &self,
        _: tonic::Request<v1::RegisterRequest>,
    ) -> Result<tonic::Response<v1::RegisterResponse>, tonic::Status> {
        Err(fake())
    }

    async fn login(
        &self,
        _: tonic::Request<v1::LoginRequest>,
    ) -> Result<tonic::Response<v1::TokenPair>, tonic::Status> {
        Err(fake())
    }

    async fn refresh(
        &self,
        _: tonic::Request<v1::RefreshRequest>,
    ) -> Result<tonic::Response<v1::TokenPair>, tonic::Status> {
        Err(fake())
    }

    async fn revoke(
        &self,
        _: tonic::Request<v1::RevokeRequest>,
    ) -> Result<tonic::Response<v1::RevokeResponse>, tonic::Status> {
        Err(fake())
    }

    async fn get_me(
        &self,
        _: tonic::Request<v1::GetMeRequest>,
    ) -> Result<tonic::Response<v1::User>, tonic::Status> {
        Err(fake())
    }

    async fn append_audit(
        &self,
        request: tonic::Request<v1::AppendAuditRequest>,
    ) -> Result<tonic::Response<v1::AppendAuditResponse>, tonic::Status> {
        let _ = self.0.send(request.into_inner());
        Ok(tonic::Response::new(v1::AppendAuditResponse {
            seq: 1,
            hash: "0".repeat(64),
        }))
    }

    async fn list_audit(
        &self,
        _: tonic::Request<v1::ListAuditRequest>,
    ) -> Result<tonic::Response<v1::ListAuditResponse>, tonic::Status> {
        Err(fake())
    }

    async fn verify_audit(
        &self,
        _: tonic::Request<v1::VerifyAuditRequest>,
    ) -> Result<tonic::Response<v1::VerifyAuditResponse>, tonic::Status> {
        Err(fake())
    }
}

#[tokio::test]
async fn entries_are_delivered_after_a_users_service_outage() {
    // A free port for the users service, which is not listening yet.
    let port = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let users_url = format!("http://127.0.0.1:{port}");
    let env: HashMap<String, String> = [
        ("ULTRA_JWT_SECRET", SECRET),
        ("ULTRA_USERS_URL", users_url.as_str()),
        // The files service is unreachable too: the delete fails, and is recorded so.
        ("ULTRA_FILES_URL", "http://127.0.0.1:9"),
        ("ULTRA_SIMULATION_URL", "http://127.0.0.1:9"),
        ("ULTRA_RESULTS_URL", "http://127.0.0.1:9"),
        ("ULTRA_BILLING_URL", "http://127.0.0.1:9"),
        ("ULTRA_ANALYTICS_URL", "http://127.0.0.1:9"),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_owned(), value.to_owned()))
    .collect();
    let config = ultra_gateway::Config::from_env(&env).expect("config");
    let shutdown = CancellationToken::new();
    let app = ultra_gateway::app(&config, shutdown.clone()).expect("app");
    let token = TokenIssuer::new(
        SECRET.as_bytes(),
        "ultra",
        "ultra-api",
        Duration::from_secs(60),
    )
    .expect("issuer")
    .issue("user-7", "org-7", Role::PowerUser, PlanTier::Free)
    .expect("token");

    let request = Request::delete("/v1/models/model-42")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::USER_AGENT, "outage-test/2")
        .header("x-request-id", "req-outage-1")
        .body(Body::empty())
        .expect("request");
    let response = app.clone().oneshot(request).await.expect("infallible");
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    // Not audited: a read, and a request without a valid credential.
    for (method, authorization) in [
        ("GET", format!("Bearer {token}")),
        ("DELETE", "Bearer x".into()),
    ] {
        let request = Request::builder()
            .method(method)
            .uri("/v1/models/model-43")
            .header(header::AUTHORIZATION, authorization)
            .body(Body::empty())
            .expect("request");
        let _ = app.clone().oneshot(request).await.expect("infallible");
    }

    // The users service comes up a while later.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (sender, mut received) = mpsc::unbounded_channel();
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("bind the users port");
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(UsersServiceServer::new(RecordingUsers(sender)))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    let entry = tokio::time::timeout(Duration::from_secs(15), received.recv())
        .await
        .expect("delivered after the outage")
        .expect("entry");
    let caller = entry.caller.clone().expect("caller");
    let client = entry.client.clone().expect("client");
    assert_eq!(
        (caller.org_id.as_str(), caller.user_id.as_str()),
        ("org-7", "user-7")
    );
    assert_eq!(
        (entry.actor_type.as_str(), entry.actor_id.as_str()),
        ("user", "user-7")
    );
    assert_eq!(
        (
            entry.action.as_str(),
            entry.target_id.as_str(),
            entry.outcome.as_str(),
            entry.detail.as_str()
        ),
        ("model.delete", "model-42", "failure", "HTTP 503")
    );
    assert_eq!(client.user_agent, "outage-test/2");
    assert_eq!(client.request_id, "req-outage-1");
    assert!(entry.occurred_at_ms > 0 && !entry.id.is_empty());
    // Nothing else was recorded.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(received.try_recv().is_err());
    shutdown.cancel();
}
