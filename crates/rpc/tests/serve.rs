//! `serve_named` answers health and reflection over real gRPC on 127.0.0.1:0, and stops on
//! cancellation; `caller` refuses requests without an org or user.

use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::service::Routes;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_reflection::pb::v1::ServerReflectionRequest;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
use ultra_proto::v1::Caller;

#[tokio::test]
async fn health_and_reflection_are_served_until_shutdown() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(ultra_rpc::serve_named(
        listener,
        Routes::default(),
        &["ultra.v1.UsersService"],
        shutdown.clone(),
    ));
    let channel = ultra_rpc::lazy_channel(&url).expect("channel");

    let mut health = HealthClient::new(channel.clone());
    for service in ["", "ultra.v1.UsersService"] {
        let status = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .expect("health")
            .into_inner()
            .status;
        assert_eq!(status, ServingStatus::Serving as i32, "{service:?}");
    }
    let unknown = health
        .check(HealthCheckRequest {
            service: "ultra.v1.Nope".into(),
        })
        .await
        .expect_err("unknown service");
    assert_eq!(unknown.code(), tonic::Code::NotFound);

    let mut reflection = ServerReflectionClient::new(channel);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = reflection
        .server_reflection_info(tokio_stream::once(request))
        .await
        .expect("reflection")
        .into_inner();
    let response = responses
        .message()
        .await
        .expect("message")
        .expect("one response");
    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
        panic!("unexpected reflection answer");
    };
    let names: Vec<String> = list
        .service
        .into_iter()
        .map(|service| service.name)
        .collect();
    assert!(
        names.contains(&"ultra.v1.UsersService".to_owned()),
        "{names:?}"
    );
    assert!(
        names.contains(&"grpc.health.v1.Health".to_owned()),
        "{names:?}"
    );

    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("stops")
        .expect("join")
        .expect("clean exit");
}

#[test]
fn caller_requires_org_and_user() {
    let valid = Caller {
        org_id: "org-1".into(),
        user_id: "user-1".into(),
        role: 1,
    };
    assert!(ultra_rpc::caller(Some(&valid)).is_ok());
    assert_eq!(
        ultra_rpc::caller(None).expect_err("none").code(),
        tonic::Code::Unauthenticated
    );
    for (org_id, user_id) in [("", "u"), ("o", ""), ("o'; DROP TABLE x", "u")] {
        let caller = Caller {
            org_id: org_id.into(),
            user_id: user_id.into(),
            role: 1,
        };
        assert!(
            ultra_rpc::caller(Some(&caller)).is_err(),
            "{org_id:?} {user_id:?}"
        );
    }
}

#[test]
fn bad_urls_are_reported() {
    assert!(ultra_rpc::lazy_channel("not a url").is_err());
}

/// The overall and the named status of `channel`'s server.
async fn statuses(channel: &tonic::transport::Channel) -> Vec<i32> {
    let mut health = HealthClient::new(channel.clone());
    let mut statuses = Vec::new();
    for service in ["", "ultra.v1.BillingService"] {
        let status = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .expect("health")
            .into_inner()
            .status;
        statuses.push(status);
    }
    statuses
}

#[tokio::test]
async fn health_follows_the_readiness_probe() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    let ready = Arc::new(AtomicBool::new(false));
    let probe = Arc::clone(&ready);
    let readiness = ultra_rpc::Readiness::new(move || {
        let ready = probe.load(Ordering::SeqCst);
        async move { ready }
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(ultra_rpc::serve_ready(
        listener,
        Routes::default(),
        &["ultra.v1.BillingService"],
        readiness,
        shutdown.clone(),
    ));
    let channel = ultra_rpc::lazy_channel(&url).expect("channel");
    let not_serving = ServingStatus::NotServing as i32;
    let serving = ServingStatus::Serving as i32;
    assert_eq!(statuses(&channel).await, [not_serving, not_serving]);

    let wait_for = |expected: i32| {
        let channel = channel.clone();
        async move {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
            loop {
                if statuses(&channel).await == [expected, expected] {
                    return;
                }
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "health did not become {expected}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    ready.store(true, Ordering::SeqCst);
    wait_for(serving).await;
    ready.store(false, Ordering::SeqCst);
    wait_for(not_serving).await;

    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("stops")
        .expect("join")
        .expect("clean exit");
}
