//! Members and API keys (`OrganizationsService`) over real gRPC, with the service verifying
//! signed caller metadata as it does in a deployment: invitations, roles, the last admin,
//! removal, and keys (scopes within the creator's role, shown once, verified by hash,
//! revocable, expiring, recorded when used).

use std::collections::HashMap;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::Code;
use tonic::transport::Channel;
use ultra_auth::{Principal, Role};
use ultra_proto::v1 as pb;
use ultra_proto::v1::organizations_service_client::OrganizationsServiceClient;
use ultra_proto::v1::users_service_client::UsersServiceClient;

const JWT_SECRET: &str = "orgs-test-jwt-secret-0123456789abcdef";
const SERVICE_SECRET: &str = "orgs-test-service-secret-0123456789ab";
const PASSWORD: &str = "a decent passphrase 42";

struct Harness {
    users: UsersServiceClient<Channel>,
    orgs: OrganizationsServiceClient<Channel>,
    signer: ultra_rpc::CallerAuth,
    shutdown: CancellationToken,
    server: tokio::task::JoinHandle<ultra_users::Result<()>>,
    _dir: tempfile::TempDir,
}

/// A member as the gateway would sign them.
#[derive(Clone, Debug)]
struct Member {
    org_id: String,
    user_id: String,
    role: Role,
}

impl Member {
    fn caller(&self) -> pb::Caller {
        pb::Caller {
            org_id: self.org_id.clone(),
            user_id: self.user_id.clone(),
            role: self.role.to_proto() as i32,
        }
    }
}

async fn start() -> Harness {
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
    Harness {
        users: UsersServiceClient::new(channel.clone()),
        orgs: OrganizationsServiceClient::new(channel),
        signer,
        shutdown,
        server,
        _dir: dir,
    }
}

impl Harness {
    async fn register(&self, email: &str, organization: &str) -> Member {
        let user = self
            .users
            .clone()
            .register(pb::RegisterRequest {
                email: email.to_owned(),
                password: PASSWORD.to_owned(),
                organization_name: organization.to_owned(),
                ..Default::default()
            })
            .await
            .expect("register")
            .into_inner()
            .user
            .expect("user");
        Member {
            org_id: user.org_id,
            user_id: user.id,
            role: Role::Admin,
        }
    }

    fn signed<T>(&self, member: &Member, message: T) -> tonic::Request<T> {
        let principal = Principal::member(&member.org_id, &member.user_id, member.role);
        self.signer.request(&principal, message).expect("signed")
    }

    async fn login(&self, email: &str, password: &str) -> Result<pb::TokenPair, tonic::Status> {
        self.users
            .clone()
            .login(pb::LoginRequest {
                email: email.to_owned(),
                password: password.to_owned(),
                ..Default::default()
            })
            .await
            .map(tonic::Response::into_inner)
    }

    /// Invites `email` as `role` into `admin`'s organisation and accepts the invitation.
    async fn member(&self, admin: &Member, email: &str, role: Role) -> Member {
        let added = self
            .orgs
            .clone()
            .add_member(self.signed(
                admin,
                pb::AddMemberRequest {
                    caller: Some(admin.caller()),
                    email: email.to_owned(),
                    role: role.to_proto() as i32,
                    display_name: String::new(),
                },
            ))
            .await
            .expect("invite")
            .into_inner();
        self.orgs
            .clone()
            .accept_invite(pb::AcceptInviteRequest {
                invite_token: added.invite_token,
                password: PASSWORD.to_owned(),
                display_name: String::new(),
            })
            .await
            .expect("accept");
        Member {
            org_id: admin.org_id.clone(),
            user_id: added.member.expect("member").user_id,
            role,
        }
    }

    async fn set_role(
        &self,
        admin: &Member,
        user_id: &str,
        role: Role,
    ) -> Result<pb::Member, tonic::Status> {
        self.orgs
            .clone()
            .update_member_role(self.signed(
                admin,
                pb::UpdateMemberRoleRequest {
                    caller: Some(admin.caller()),
                    user_id: user_id.to_owned(),
                    role: role.to_proto() as i32,
                },
            ))
            .await
            .map(tonic::Response::into_inner)
    }

    async fn remove(&self, admin: &Member, user_id: &str) -> Result<(), tonic::Status> {
        self.orgs
            .clone()
            .remove_member(self.signed(
                admin,
                pb::RemoveMemberRequest {
                    caller: Some(admin.caller()),
                    user_id: user_id.to_owned(),
                },
            ))
            .await
            .map(|_| ())
    }

    async fn create_key(
        &self,
        creator: &Member,
        scopes: &[&str],
        expires_at_ms: i64,
    ) -> Result<pb::CreatedApiKey, tonic::Status> {
        self.orgs
            .clone()
            .create_api_key(self.signed(
                creator,
                pb::CreateApiKeyRequest {
                    caller: Some(creator.caller()),
                    name: "pipeline".to_owned(),
                    scopes: scopes.iter().map(|scope| (*scope).to_owned()).collect(),
                    expires_at_ms,
                },
            ))
            .await
            .map(tonic::Response::into_inner)
    }

    async fn verify(&self, secret: &str) -> Result<pb::VerifiedApiKey, tonic::Status> {
        self.orgs
            .clone()
            .verify_api_key(pb::VerifyApiKeyRequest {
                secret: secret.to_owned(),
            })
            .await
            .map(tonic::Response::into_inner)
    }

    async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(5), self.server)
            .await
            .expect("stops")
            .expect("join")
            .expect("clean exit");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invitations_roles_and_the_last_admin() {
    let harness = start().await;
    let admin = harness.register("ada@a.example", "Org A").await;
    let other = harness.register("eve@b.example", "Org B").await;

    // Invite: a user without a password and a one-time token.
    let added = harness
        .orgs
        .clone()
        .add_member(harness.signed(
            &admin,
            pb::AddMemberRequest {
                caller: Some(admin.caller()),
                email: "Bob@A.example".to_owned(),
                role: pb::Role::Analyst as i32,
                display_name: "Bob".to_owned(),
            },
        ))
        .await
        .expect("invite")
        .into_inner();
    let invited = added.member.expect("member");
    assert_eq!(
        (invited.email.as_str(), invited.status.as_str()),
        ("bob@a.example", "invited")
    );
    assert!(added.invite_token.len() >= 43 && added.invite_expires_at_ms > 0);
    // No login before the password is set: the same answer as an unknown email.
    let refused = harness
        .login("bob@a.example", PASSWORD)
        .await
        .expect_err("no password yet");
    assert_eq!(refused.code(), Code::Unauthenticated);
    let weak = harness
        .orgs
        .clone()
        .accept_invite(pb::AcceptInviteRequest {
            invite_token: added.invite_token.clone(),
            password: "short".to_owned(),
            display_name: String::new(),
        })
        .await
        .expect_err("weak password");
    assert_eq!(weak.code(), Code::InvalidArgument);
    let accepted = harness
        .orgs
        .clone()
        .accept_invite(pb::AcceptInviteRequest {
            invite_token: added.invite_token.clone(),
            password: PASSWORD.to_owned(),
            display_name: String::new(),
        })
        .await
        .expect("accept")
        .into_inner();
    assert_eq!(
        (accepted.status.as_str(), accepted.role),
        ("active", pb::Role::Analyst as i32)
    );
    let reused = harness
        .orgs
        .clone()
        .accept_invite(pb::AcceptInviteRequest {
            invite_token: added.invite_token,
            password: PASSWORD.to_owned(),
            display_name: String::new(),
        })
        .await
        .expect_err("one-time token");
    assert_eq!(reused.code(), Code::Unauthenticated);
    let bob_tokens = harness
        .login("bob@a.example", PASSWORD)
        .await
        .expect("bob logs in");
    let bob = Member {
        org_id: admin.org_id.clone(),
        user_id: invited.user_id.clone(),
        role: Role::Analyst,
    };

    // Emails with an account elsewhere, or here already, are conflicts.
    for email in ["eve@b.example", "bob@a.example"] {
        let conflict = harness
            .orgs
            .clone()
            .add_member(harness.signed(
                &admin,
                pb::AddMemberRequest {
                    caller: Some(admin.caller()),
                    email: email.to_owned(),
                    role: pb::Role::Viewer as i32,
                    display_name: String::new(),
                },
            ))
            .await
            .expect_err("conflict");
        assert_eq!(conflict.code(), Code::AlreadyExists, "{email}");
    }

    // Only admins manage members; any member lists them.
    let denied = harness
        .orgs
        .clone()
        .add_member(harness.signed(
            &bob,
            pb::AddMemberRequest {
                caller: Some(bob.caller()),
                email: "carol@a.example".to_owned(),
                role: pb::Role::Admin as i32,
                display_name: String::new(),
            },
        ))
        .await
        .expect_err("analyst invites");
    assert_eq!(denied.code(), Code::PermissionDenied);
    let listed = harness
        .orgs
        .clone()
        .list_members(harness.signed(
            &bob,
            pb::ListMembersRequest {
                caller: Some(bob.caller()),
            },
        ))
        .await
        .expect("list")
        .into_inner()
        .members;
    let emails: Vec<&str> = listed.iter().map(|member| member.email.as_str()).collect();
    assert_eq!(emails, ["ada@a.example", "bob@a.example"]);

    // The last admin can be neither demoted nor removed.
    let demoted = harness
        .set_role(&admin, &admin.user_id, Role::Viewer)
        .await
        .expect_err("last admin demoted");
    assert_eq!(demoted.code(), Code::FailedPrecondition);
    assert!(demoted.message().contains("last admin"), "{demoted:?}");
    let removed = harness
        .remove(&admin, &admin.user_id)
        .await
        .expect_err("last admin removed");
    assert_eq!(removed.code(), Code::FailedPrecondition);
    // With a second admin, the first may step down.
    let promoted = harness
        .set_role(&admin, &bob.user_id, Role::Admin)
        .await
        .expect("promote");
    assert_eq!(promoted.role, pb::Role::Admin as i32);
    harness
        .set_role(&admin, &admin.user_id, Role::PowerUser)
        .await
        .expect("no longer the last admin");

    // Another organisation's member is not found, never forbidden.
    let foreign = harness
        .set_role(&other, &bob.user_id, Role::Viewer)
        .await
        .expect_err("foreign member");
    assert_eq!(foreign.code(), Code::NotFound);
    let foreign = harness
        .remove(&other, &bob.user_id)
        .await
        .expect_err("foreign member");
    assert_eq!(foreign.code(), Code::NotFound);

    // Removal ends the member's sessions and logins.
    let bob_admin = Member {
        role: Role::Admin,
        ..bob.clone()
    };
    harness
        .remove(&bob_admin, &admin.user_id)
        .await
        .expect("remove");
    let login = harness
        .login("ada@a.example", PASSWORD)
        .await
        .expect_err("removed");
    assert_eq!(login.code(), Code::Unauthenticated);
    // And an account without an organisation can be added back directly.
    let readded = harness
        .orgs
        .clone()
        .add_member(harness.signed(
            &bob_admin,
            pb::AddMemberRequest {
                caller: Some(bob_admin.caller()),
                email: "ada@a.example".to_owned(),
                role: pb::Role::Viewer as i32,
                display_name: String::new(),
            },
        ))
        .await
        .expect("re-add")
        .into_inner();
    assert!(readded.invite_token.is_empty());
    assert_eq!(readded.member.expect("member").status, "active");
    harness
        .login("ada@a.example", PASSWORD)
        .await
        .expect("back in");
    assert!(!bob_tokens.access_token.is_empty());
    harness.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_keys_are_scoped_shown_once_revocable_and_expire() {
    let harness = start().await;
    let admin = harness.register("ada@a.example", "Org A").await;
    let other = harness.register("eve@b.example", "Org B").await;
    let analyst = harness.member(&admin, "bob@a.example", Role::Analyst).await;

    let created = harness
        .create_key(&admin, &["results.view", "simulation.read"], 0)
        .await
        .expect("create");
    let secret = created.secret.clone();
    let key = created.key.expect("key");
    assert!(
        secret.starts_with("ultra_") && secret.starts_with(&key.prefix),
        "{secret}"
    );
    assert_eq!(key.scopes, ["simulation.read", "results.view"]);
    let verified = harness.verify(&secret).await.expect("verify");
    assert_eq!(
        (
            verified.org_id.as_str(),
            verified.user_id.as_str(),
            verified.key_id.as_str()
        ),
        (
            admin.org_id.as_str(),
            admin.user_id.as_str(),
            key.id.as_str()
        )
    );
    assert_eq!(verified.scopes, ["simulation.read", "results.view"]);

    // Listed without the secret, with its last use.
    let listed = harness
        .orgs
        .clone()
        .list_api_keys(harness.signed(
            &admin,
            pb::ListApiKeysRequest {
                caller: Some(admin.caller()),
            },
        ))
        .await
        .expect("list")
        .into_inner()
        .keys;
    assert_eq!(listed.len(), 1);
    assert!(listed[0].last_used_at_ms > 0, "{listed:?}");
    assert!(!format!("{listed:?}").contains(&secret));

    // Scopes: known, never organization.manage, within the creator's role; admins only.
    for (scopes, code) in [
        (&["results.launch"][..], Code::InvalidArgument),
        (&["organization.manage"][..], Code::InvalidArgument),
        (&[][..], Code::InvalidArgument),
    ] {
        let refused = harness
            .create_key(&admin, scopes, 0)
            .await
            .expect_err("refused");
        assert_eq!(refused.code(), code, "{scopes:?}");
    }
    let refused = harness
        .create_key(&analyst, &["results.view"], 0)
        .await
        .expect_err("analyst");
    assert_eq!(refused.code(), Code::PermissionDenied);
    let past = harness
        .create_key(&admin, &["results.view"], 1)
        .await
        .expect_err("expired at creation");
    assert_eq!(past.code(), Code::InvalidArgument);

    // Unknown and malformed keys are refused alike.
    for bogus in [
        "ultra_nope",
        &format!("ultra_{}", "A".repeat(43)),
        "eyJhbGciOi",
    ] {
        let status = harness.verify(bogus).await.expect_err("bogus");
        assert_eq!(status.code(), Code::Unauthenticated, "{bogus}");
    }

    // Expiry.
    let expiring = harness
        .create_key(&admin, &["results.view"], ultra_bus::now_ms() + 1_500)
        .await
        .expect("expiring key");
    harness
        .verify(&expiring.secret)
        .await
        .expect("not yet expired");
    tokio::time::sleep(Duration::from_millis(1_700)).await;
    let expired = harness.verify(&expiring.secret).await.expect_err("expired");
    assert_eq!(expired.code(), Code::Unauthenticated);

    // Revocation: another org cannot (not found); the admin can, idempotently.
    let revoke = |member: &Member, key_id: &str| {
        harness.signed(
            member,
            pb::RevokeApiKeyRequest {
                caller: Some(member.caller()),
                key_id: key_id.to_owned(),
            },
        )
    };
    let foreign = harness
        .orgs
        .clone()
        .revoke_api_key(revoke(&other, &key.id))
        .await
        .expect_err("foreign key");
    assert_eq!(foreign.code(), Code::NotFound);
    harness.verify(&secret).await.expect("still valid");
    for _ in 0..2 {
        harness
            .orgs
            .clone()
            .revoke_api_key(revoke(&admin, &key.id))
            .await
            .expect("revoke");
    }
    let revoked = harness.verify(&secret).await.expect_err("revoked");
    assert_eq!(revoked.code(), Code::Unauthenticated);

    // A key follows its creator: demoted, its scopes shrink to the new role; removed, it dies.
    let second_admin = harness.member(&admin, "carol@a.example", Role::Admin).await;
    let broad = harness
        .create_key(
            &second_admin,
            &["file.upload", "results.view", "organization.billing"],
            0,
        )
        .await
        .expect("broad key");
    harness
        .set_role(&admin, &second_admin.user_id, Role::Viewer)
        .await
        .expect("demote");
    let narrowed = harness.verify(&broad.secret).await.expect("still valid");
    assert_eq!(narrowed.scopes, ["results.view"]);
    harness
        .remove(&admin, &second_admin.user_id)
        .await
        .expect("remove");
    let dead = harness
        .verify(&broad.secret)
        .await
        .expect_err("creator removed");
    assert_eq!(dead.code(), Code::Unauthenticated);
    harness.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_without_signed_caller_metadata_are_refused() {
    let harness = start().await;
    let admin = harness.register("ada@a.example", "Org A").await;
    let unsigned = harness
        .orgs
        .clone()
        .list_members(pb::ListMembersRequest {
            caller: Some(admin.caller()),
        })
        .await
        .expect_err("unsigned");
    assert_eq!(unsigned.code(), Code::Unauthenticated);
    // Signed for the admin of org A, claiming org B in the message.
    let mut claimed = admin.caller();
    claimed.org_id = "someone-elses-org".to_owned();
    let mismatched = harness
        .orgs
        .clone()
        .list_members(harness.signed(
            &admin,
            pb::ListMembersRequest {
                caller: Some(claimed),
            },
        ))
        .await
        .expect_err("mismatch");
    assert_eq!(mismatched.code(), Code::Unauthenticated);
    // GetMe goes through the same check.
    let me = harness
        .users
        .clone()
        .get_me(pb::GetMeRequest {
            caller: Some(admin.caller()),
        })
        .await
        .expect_err("unsigned");
    assert_eq!(me.code(), Code::Unauthenticated);
    harness.stop().await;
}
