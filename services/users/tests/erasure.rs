//! Who may erase what (`ErasureService`) over real gRPC with signed caller metadata: the
//! last admin of an organisation with other members cannot erase themselves, a sole admin
//! can; deleting an organisation needs the signed permission and a member, not an API key.

use std::collections::HashMap;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::Code;
use tonic::transport::Channel;
use ultra_auth::{PermissionSet, Principal, Role};
use ultra_proto::v1 as pb;
use ultra_proto::v1::erasure_service_client::ErasureServiceClient;
use ultra_proto::v1::organizations_service_client::OrganizationsServiceClient;
use ultra_proto::v1::users_service_client::UsersServiceClient;

const SERVICE_SECRET: &str = "erasure-test-service-secret-0123456789";

struct Harness {
    channel: Channel,
    signer: ultra_rpc::CallerAuth,
    shutdown: CancellationToken,
    server: tokio::task::JoinHandle<ultra_users::Result<()>>,
    _dir: tempfile::TempDir,
}

async fn start() -> Harness {
    let dir = tempfile::tempdir().expect("tempdir");
    let env = HashMap::from([
        (
            "ULTRA_USERS_DATABASE_URL".to_owned(),
            format!("sqlite://{}/users.db", dir.path().display()),
        ),
        (
            "ULTRA_JWT_SECRET".to_owned(),
            "erasure-test-jwt-secret-0123456789abcdef".to_owned(),
        ),
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
    Harness {
        channel: ultra_rpc::lazy_channel(&url).expect("channel"),
        signer,
        shutdown,
        server,
        _dir: dir,
    }
}

fn caller(principal: &Principal) -> pb::Caller {
    pb::Caller {
        org_id: principal.org_id.clone(),
        user_id: principal.user_id.clone(),
        role: principal.role.map_or(0, |role| role.to_proto() as i32),
    }
}

impl Harness {
    async fn register(&self, email: &str, organization: &str) -> Principal {
        let user = UsersServiceClient::new(self.channel.clone())
            .register(pb::RegisterRequest {
                email: email.to_owned(),
                password: "a decent passphrase 42".to_owned(),
                organization_name: organization.to_owned(),
                ..Default::default()
            })
            .await
            .expect("register")
            .into_inner()
            .user
            .expect("user");
        Principal::member(user.org_id, user.id, Role::Admin)
    }

    /// Invites `email` into `admin`'s organisation as `role`.
    async fn invite(&self, admin: &Principal, email: &str, role: Role) -> Principal {
        let request = pb::AddMemberRequest {
            caller: Some(caller(admin)),
            email: email.to_owned(),
            role: role.to_proto() as i32,
            display_name: String::new(),
        };
        let member = OrganizationsServiceClient::new(self.channel.clone())
            .add_member(self.signer.request(admin, request).expect("signed"))
            .await
            .expect("invite")
            .into_inner()
            .member
            .expect("member");
        Principal::member(admin.org_id.clone(), member.user_id, role)
    }

    async fn erase_user(&self, principal: &Principal) -> Result<pb::Erasure, tonic::Status> {
        let request = pb::EraseUserRequest {
            caller: Some(caller(principal)),
        };
        ErasureServiceClient::new(self.channel.clone())
            .erase_user(self.signer.request(principal, request).expect("signed"))
            .await
            .map(tonic::Response::into_inner)
    }

    async fn erase_org(&self, principal: &Principal) -> Result<pb::Erasure, tonic::Status> {
        let request = pb::EraseOrganizationRequest {
            caller: Some(caller(principal)),
        };
        ErasureServiceClient::new(self.channel.clone())
            .erase_organization(self.signer.request(principal, request).expect("signed"))
            .await
            .map(tonic::Response::into_inner)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_admin_stays_and_only_a_member_admin_deletes_the_organisation() {
    let harness = start().await;
    let ada = harness.register("ada@a.example", "Org A").await;
    let bob = harness.invite(&ada, "bob@a.example", Role::Analyst).await;

    // Ada is the only admin of an organisation with another member.
    let refused = harness.erase_user(&ada).await.expect_err("last admin");
    assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");
    assert!(refused.message().contains("delete the organisation"));

    // An analyst may not delete the organisation, nor may an API key with every scope.
    let denied = harness.erase_org(&bob).await.expect_err("analyst");
    assert_eq!(denied.code(), Code::PermissionDenied, "{denied:?}");
    let key = Principal::api_key(
        ada.org_id.clone(),
        ada.user_id.clone(),
        "key-1",
        PermissionSet::of_role(Role::Admin),
    );
    let denied = harness.erase_org(&key).await.expect_err("API key");
    assert_eq!(denied.code(), Code::PermissionDenied, "{denied:?}");

    // Bob goes; then Ada is the sole member, and may go too.
    harness.erase_user(&bob).await.expect("analyst erased");
    let erased = harness.erase_user(&ada).await.expect("sole admin erased");
    assert_eq!(erased.scope, "user");

    // Another organisation's sole admin deletes it.
    let eve = harness.register("eve@b.example", "Org B").await;
    let deleted = harness.erase_org(&eve).await.expect("org deleted");
    assert_eq!(
        (deleted.scope.as_str(), deleted.org_id.as_str()),
        ("organization", eve.org_id.as_str())
    );

    harness.shutdown.cancel();
    harness.server.await.expect("join").expect("clean exit");
}
