//! A generated client finds the files service the way grpcurl would: health, reflection,
//! then one real RPC.

mod common;

use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_reflection::pb::v1::ServerReflectionRequest;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
use ultra_proto::v1::ListModelsRequest;

#[tokio::test]
async fn health_reflection_and_a_real_rpc() {
    let mut harness = common::start().await;
    let mut health = HealthClient::new(harness.channel.clone());
    let status = health
        .check(HealthCheckRequest {
            service: "ultra.v1.FilesService".into(),
        })
        .await
        .expect("health")
        .into_inner()
        .status;
    assert_eq!(status, ServingStatus::Serving as i32);

    let mut reflection = ServerReflectionClient::new(harness.channel.clone());
    let list = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let describe = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::FileContainingSymbol(
            "ultra.v1.FilesService".into(),
        )),
    };
    let mut responses = reflection
        .server_reflection_info(tokio_stream::iter([list, describe]))
        .await
        .expect("reflection")
        .into_inner();
    let listed = responses.message().await.expect("message").expect("list");
    let Some(MessageResponse::ListServicesResponse(services)) = listed.message_response else {
        panic!("unexpected answer to ListServices");
    };
    let names: Vec<String> = services
        .service
        .into_iter()
        .map(|service| service.name)
        .collect();
    assert!(
        names.contains(&"ultra.v1.FilesService".to_owned()),
        "{names:?}"
    );
    let described = responses
        .message()
        .await
        .expect("message")
        .expect("descriptor");
    assert!(matches!(
        described.message_response,
        Some(MessageResponse::FileDescriptorResponse(ref files)) if !files.file_descriptor_proto.is_empty()
    ));

    let models = harness
        .client
        .list_models(ListModelsRequest {
            caller: Some(common::caller("org-a", "ada")),
            page: None,
        })
        .await
        .expect("list")
        .into_inner();
    assert!(models.models.is_empty());
    let uploaded = harness
        .upload(
            &common::caller("org-a", "ada"),
            "npv10.json",
            &common::example("npv10.json"),
        )
        .await
        .expect("upload");
    assert_eq!(uploaded.format, "json");
    harness.stop().await;
}
