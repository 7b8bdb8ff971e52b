//! gRPC straight to the services of a running platform, with the generated clients: every
//! service answers health SERVING and lists itself in reflection, and real RPCs work
//! without the gateway (register and log in, then list models as the new user).

mod serve_common;

use std::time::Duration;

use serve_common::start_platform;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_reflection::pb::v1::ServerReflectionRequest;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
use ultra_proto::v1 as pb;
use ultra_proto::v1::files_service_client::FilesServiceClient;
use ultra_proto::v1::users_service_client::UsersServiceClient;

async fn reflected_services(channel: tonic::transport::Channel) -> Vec<String> {
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = ServerReflectionClient::new(channel)
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
    list.service
        .into_iter()
        .map(|service| service.name)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn services_answer_health_reflection_and_real_rpcs() {
    let (platform, data_dir) = start_platform(&[]).await;
    for (name, url) in &platform.service_urls {
        let channel = tonic::transport::Endpoint::from_shared(url.clone())
            .expect("url")
            .connect()
            .await
            .expect("connect");
        let status = HealthClient::new(channel.clone())
            .check(HealthCheckRequest {
                service: String::new(),
            })
            .await
            .expect("health")
            .into_inner()
            .status;
        assert_eq!(status, ServingStatus::Serving as i32, "{name}");
        let names = reflected_services(channel).await;
        let mut capitalised = name.to_string();
        capitalised[..1].make_ascii_uppercase();
        let expected = format!("ultra.v1.{capitalised}Service");
        assert!(names.contains(&expected), "{name}: {names:?}");
    }

    let users_channel =
        tonic::transport::Endpoint::from_shared(platform.service_urls["users"].clone())
            .expect("url")
            .connect()
            .await
            .expect("connect");
    let mut users = UsersServiceClient::new(users_channel);
    let registered = users
        .register(pb::RegisterRequest {
            client: None,
            email: "grpc@example.com".into(),
            password: "a long enough password".into(),
            display_name: "gRPC".into(),
            organization_name: "Direct".into(),
        })
        .await
        .expect("register")
        .into_inner()
        .user
        .expect("user");
    let tokens = users
        .login(pb::LoginRequest {
            client: None,
            email: "grpc@example.com".into(),
            password: "a long enough password".into(),
        })
        .await
        .expect("login")
        .into_inner();
    assert!(!tokens.access_token.is_empty() && !tokens.refresh_token.is_empty());
    let wrong = users
        .login(pb::LoginRequest {
            client: None,
            email: "grpc@example.com".into(),
            password: "wrong".into(),
        })
        .await
        .expect_err("bad password");
    assert_eq!(wrong.code(), tonic::Code::Unauthenticated);

    let caller = pb::Caller {
        org_id: registered.org_id.clone(),
        user_id: registered.id.clone(),
        role: registered.role,
    };
    let files_channel =
        tonic::transport::Endpoint::from_shared(platform.service_urls["files"].clone())
            .expect("url")
            .connect()
            .await
            .expect("connect");
    // The services act only for callers signed with the platform's internal secret.
    let signer = ultra_rpc::CallerAuth::from_env(&platform.env).expect("service secret");
    assert!(
        signer.is_enforced(),
        "ultra serve configures a service secret"
    );
    let unsigned = FilesServiceClient::new(files_channel.clone())
        .list_models(pb::ListModelsRequest {
            caller: Some(caller.clone()),
            page: None,
        })
        .await
        .expect_err("a bare caller is not trusted");
    assert_eq!(unsigned.code(), tonic::Code::Unauthenticated);
    let request = signer
        .peer_request(
            &caller,
            pb::ListModelsRequest {
                caller: Some(caller.clone()),
                page: None,
            },
        )
        .expect("signed");
    let listed = FilesServiceClient::new(files_channel)
        .list_models(request)
        .await
        .expect("list models")
        .into_inner();
    assert!(listed.models.is_empty());

    let errors = platform.shutdown(Duration::from_secs(10)).await;
    assert!(errors.is_empty(), "{errors:?}");
    let _ = std::fs::remove_dir_all(data_dir);
}
