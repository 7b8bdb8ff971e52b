//! `SsoService.ConfigureOidc` over real gRPC with signed caller metadata: the signed
//! principal's permission is checked, not only the stored role of its user, so an API key
//! created by an admin (whose scopes never include organization.manage) cannot configure
//! single sign-on, while the admin themself can.

use std::collections::HashMap;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::Code;
use ultra_auth::{PermissionSet, Principal, Role};
use ultra_proto::v1 as pb;
use ultra_proto::v1::sso_service_client::SsoServiceClient;
use ultra_proto::v1::users_service_client::UsersServiceClient;

const JWT_SECRET: &str = "sso-test-jwt-secret-0123456789abcdef0";
const SERVICE_SECRET: &str = "sso-test-service-secret-0123456789abc";

fn configure_request(org_id: &str, user_id: &str, role: i32) -> pb::ConfigureOidcRequest {
    pb::ConfigureOidcRequest {
        caller: Some(pb::Caller {
            org_id: org_id.to_owned(),
            user_id: user_id.to_owned(),
            role,
        }),
        issuer: "https://login.example.com".to_owned(),
        client_id: "ultra".to_owned(),
        client_secret: "secret".to_owned(),
        default_role: 0,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configure_oidc_needs_the_signed_organization_manage_permission() {
    let dir = tempfile::tempdir().expect("tempdir");
    let env = HashMap::from([
        (
            "ULTRA_USERS_DATABASE_URL".to_owned(),
            format!("sqlite://{}/users.db", dir.path().display()),
        ),
        ("ULTRA_JWT_SECRET".to_owned(), JWT_SECRET.to_owned()),
        ("ULTRA_SERVICE_SECRET".to_owned(), SERVICE_SECRET.to_owned()),
    ]);
    let config = ultra_users::Config::from_env(&env).expect("config");
    let signer = ultra_rpc::CallerAuth::from_env(&env).expect("signer");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(ultra_users::serve(
        config,
        ultra_bus::Bus::in_process(),
        listener,
        shutdown.clone(),
    ));
    let channel = ultra_rpc::lazy_channel(&url).expect("channel");
    let mut users = UsersServiceClient::new(channel.clone());
    let mut sso = SsoServiceClient::new(channel);

    let admin = users
        .register(pb::RegisterRequest {
            email: "admin@sso-grpc.example".to_owned(),
            password: "a decent passphrase 42".to_owned(),
            organization_name: "SSO gRPC".to_owned(),
            ..Default::default()
        })
        .await
        .expect("register")
        .into_inner()
        .user
        .expect("user");

    // An API key the admin created, with every scope a key can have: its user is an admin
    // in the database, but the key's principal lacks organization.manage.
    let key = Principal::api_key(
        &admin.org_id,
        &admin.id,
        "key-1",
        PermissionSet::api_key_scopes(),
    );
    let request = signer
        .request(&key, configure_request(&admin.org_id, &admin.id, 0))
        .expect("signed");
    let refused = sso
        .configure_oidc(request)
        .await
        .expect_err("an API key cannot configure SSO");
    assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");

    // The admin with their role can.
    let member = Principal::member(&admin.org_id, &admin.id, Role::Admin);
    let request = signer
        .request(
            &member,
            configure_request(&admin.org_id, &admin.id, pb::Role::Admin as i32),
        )
        .expect("signed");
    let configured = sso
        .configure_oidc(request)
        .await
        .expect("the admin configures SSO")
        .into_inner();
    assert_eq!(configured.issuer, "https://login.example.com");

    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("stops")
        .expect("join")
        .expect("clean exit");
}
