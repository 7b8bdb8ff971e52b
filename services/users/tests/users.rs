//! The users service over real gRPC on 127.0.0.1:0 with a SQLite file in a temp dir.

use std::collections::HashMap;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::Code;
use tonic::transport::Channel;
use ultra_auth::{PlanTier, Role, TokenIssuer};
use ultra_bus::Bus;
use ultra_proto::v1::users_service_client::UsersServiceClient;
use ultra_proto::v1::{
    Caller, GetMeRequest, LoginRequest, RefreshRequest, RegisterRequest, RevokeRequest, TokenPair,
};
use ultra_users::{Config, ConfigError};

const SECRET: &str = "test-secret-test-secret-test-secret!";

struct Harness {
    client: UsersServiceClient<Channel>,
    bus: Bus,
    shutdown: CancellationToken,
    server: tokio::task::JoinHandle<ultra_users::Result<()>>,
    _dir: tempfile::TempDir,
}

fn env(dir: &tempfile::TempDir) -> HashMap<String, String> {
    HashMap::from([
        (
            "ULTRA_USERS_DATABASE_URL".into(),
            format!("sqlite://{}/users.db", dir.path().display()),
        ),
        ("ULTRA_JWT_SECRET".into(), SECRET.into()),
        ("ULTRA_ACCESS_TOKEN_TTL_SECONDS".into(), "60".into()),
    ])
}

async fn start() -> Harness {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = Config::from_env(&env(&dir)).expect("config");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let bus = Bus::in_process();
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(ultra_users::serve(
        config,
        bus.clone(),
        listener,
        shutdown.clone(),
    ));
    let client = UsersServiceClient::new(ultra_rpc::lazy_channel(&url).expect("channel"));
    Harness {
        client,
        bus,
        shutdown,
        server,
        _dir: dir,
    }
}

impl Harness {
    async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(5), self.server)
            .await
            .expect("stops")
            .expect("join")
            .expect("clean exit");
    }
}

fn registration(email: &str, org: &str) -> RegisterRequest {
    RegisterRequest {
        client: None,
        email: email.into(),
        password: "correct horse battery".into(),
        display_name: "Ada".into(),
        organization_name: org.into(),
    }
}

async fn login(client: &mut UsersServiceClient<Channel>, email: &str) -> TokenPair {
    client
        .login(LoginRequest {
            client: None,
            email: email.into(),
            password: "correct horse battery".into(),
        })
        .await
        .expect("login")
        .into_inner()
}

fn issuer() -> TokenIssuer {
    TokenIssuer::new(
        SECRET.as_bytes(),
        "ultra",
        "ultra-api",
        Duration::from_secs(60),
    )
    .expect("issuer")
}

#[tokio::test]
async fn register_login_and_get_me() {
    let mut harness = start().await;
    let mut events = harness.bus.subscribe("test").await;
    let user = harness
        .client
        .register(registration("Ada@Example.com", "Analytical Engines"))
        .await
        .expect("register")
        .into_inner()
        .user
        .expect("user");
    assert_eq!(user.email, "ada@example.com");
    assert_eq!(user.org_name, "Analytical Engines");
    assert_eq!(user.role, ultra_proto::v1::Role::Admin as i32);

    let event = tokio::time::timeout(Duration::from_secs(5), events.next())
        .await
        .expect("user.registered relayed")
        .expect("open");
    assert_eq!(event.event().r#type, "user.registered");
    assert_eq!(event.event().org_id, user.org_id);
    assert_eq!(event.event().user_id, user.id);

    let tokens = login(&mut harness.client, "ADA@example.com ").await;
    assert_eq!(tokens.token_type, "Bearer");
    assert_eq!(tokens.expires_in_seconds, 60);
    let claims = issuer()
        .verify(&tokens.access_token)
        .expect("valid access token");
    assert_eq!(
        (claims.sub.as_str(), claims.org.as_str()),
        (user.id.as_str(), user.org_id.as_str())
    );
    assert_eq!(claims.role, Role::Admin);
    assert_eq!(claims.plan, Some(PlanTier::Free));
    assert_eq!(user.org_plan_tier, ultra_proto::v1::PlanTier::Free as i32);

    let caller = Caller {
        org_id: user.org_id.clone(),
        user_id: user.id.clone(),
        role: user.role,
    };
    let me = harness
        .client
        .get_me(GetMeRequest {
            caller: Some(caller),
        })
        .await
        .expect("me")
        .into_inner();
    assert_eq!(me, user);
    harness.stop().await;
}

/// The org's plan tier is in the access token (the gateway reads it from there); a change
/// reaches the next refresh, and `GetMe` shows it.
#[tokio::test]
async fn the_plan_tier_travels_in_the_access_token() {
    let mut harness = start().await;
    let user = harness
        .client
        .register(registration("ada@example.com", "Org"))
        .await
        .expect("register")
        .into_inner()
        .user
        .expect("user");
    let tokens = login(&mut harness.client, "ada@example.com").await;
    let plan = |tokens: &TokenPair| issuer().verify(&tokens.access_token).expect("valid").plan;
    assert_eq!(plan(&tokens), Some(PlanTier::Free));

    // No RPC changes tiers yet: the store does, on the service's own database.
    let url = format!("sqlite://{}/users.db", harness._dir.path().display());
    let db = ultra_store::open(&url, &ultra_users::MIGRATOR)
        .await
        .expect("open");
    let store = ultra_users::store::UsersStore::new(db.clone());
    assert!(
        store
            .set_plan_tier(&user.org_id, PlanTier::Enterprise)
            .await
            .expect("set tier")
    );
    assert!(
        !store
            .set_plan_tier("no-such-org", PlanTier::Enterprise)
            .await
            .expect("set tier")
    );
    db.close().await;

    let refreshed = harness
        .client
        .refresh(RefreshRequest {
            client: None,
            refresh_token: tokens.refresh_token,
        })
        .await
        .expect("refresh")
        .into_inner();
    assert_eq!(plan(&refreshed), Some(PlanTier::Enterprise));
    let relogged = login(&mut harness.client, "ada@example.com").await;
    assert_eq!(plan(&relogged), Some(PlanTier::Enterprise));
    let me = harness
        .client
        .get_me(GetMeRequest {
            caller: Some(Caller {
                org_id: user.org_id.clone(),
                user_id: user.id.clone(),
                role: user.role,
            }),
        })
        .await
        .expect("me")
        .into_inner();
    assert_eq!(
        me.org_plan_tier,
        ultra_proto::v1::PlanTier::Enterprise as i32
    );
    harness.stop().await;
}

#[tokio::test]
async fn registration_input_is_validated() {
    let mut harness = start().await;
    let cases = [
        registration("not-an-email", "Org"),
        registration("ada@example.com", ""),
        RegisterRequest {
            client: None,
            password: "short".into(),
            ..registration("ada@example.com", "Org")
        },
        RegisterRequest {
            client: None,
            password: "x".repeat(257),
            ..registration("ada@example.com", "Org")
        },
        RegisterRequest {
            client: None,
            display_name: "x".repeat(101),
            ..registration("ada@example.com", "Org")
        },
    ];
    for request in cases {
        let status = harness
            .client
            .register(request.clone())
            .await
            .expect_err("invalid");
        assert_eq!(
            status.code(),
            Code::InvalidArgument,
            "{request:?}: {status:?}"
        );
    }
    harness
        .client
        .register(registration("ada@example.com", "Org"))
        .await
        .expect("register");
    let duplicate = harness
        .client
        .register(registration("ADA@example.com", "Other org"))
        .await
        .expect_err("duplicate");
    assert_eq!(duplicate.code(), Code::AlreadyExists);
    harness.stop().await;
}

#[tokio::test]
async fn wrong_password_and_unknown_email_answer_alike() {
    let mut harness = start().await;
    harness
        .client
        .register(registration("ada@example.com", "Org"))
        .await
        .expect("register");
    let wrong_password = harness
        .client
        .login(LoginRequest {
            client: None,
            email: "ada@example.com".into(),
            password: "wrong password".into(),
        })
        .await
        .expect_err("wrong password");
    let unknown_email = harness
        .client
        .login(LoginRequest {
            client: None,
            email: "bob@example.com".into(),
            password: "wrong password".into(),
        })
        .await
        .expect_err("unknown email");
    assert_eq!(wrong_password.code(), Code::Unauthenticated);
    assert_eq!(unknown_email.code(), Code::Unauthenticated);
    assert_eq!(wrong_password.message(), unknown_email.message());
    harness.stop().await;
}

#[tokio::test]
async fn refresh_rotates_and_reuse_revokes_the_family() {
    let mut harness = start().await;
    harness
        .client
        .register(registration("ada@example.com", "Org"))
        .await
        .expect("register");
    let first = login(&mut harness.client, "ada@example.com").await;
    let second = harness
        .client
        .refresh(RefreshRequest {
            client: None,
            refresh_token: first.refresh_token.clone(),
        })
        .await
        .expect("refresh")
        .into_inner();
    assert_ne!(second.refresh_token, first.refresh_token);
    issuer()
        .verify(&second.access_token)
        .expect("new access token");

    // The old token is revoked; presenting it again is reuse: the whole family goes.
    let reuse = harness
        .client
        .refresh(RefreshRequest {
            client: None,
            refresh_token: first.refresh_token,
        })
        .await
        .expect_err("reuse");
    assert_eq!(reuse.code(), Code::Unauthenticated);
    let after_reuse = harness
        .client
        .refresh(RefreshRequest {
            client: None,
            refresh_token: second.refresh_token,
        })
        .await
        .expect_err("family revoked");
    assert_eq!(after_reuse.code(), Code::Unauthenticated);

    let garbage = harness
        .client
        .refresh(RefreshRequest {
            client: None,
            refresh_token: "garbage".into(),
        })
        .await
        .expect_err("unknown");
    assert_eq!(garbage.code(), Code::Unauthenticated);
    harness.stop().await;
}

#[tokio::test]
async fn revoke_logs_out() {
    let mut harness = start().await;
    harness
        .client
        .register(registration("ada@example.com", "Org"))
        .await
        .expect("register");
    let tokens = login(&mut harness.client, "ada@example.com").await;
    let other_session = login(&mut harness.client, "ada@example.com").await;
    harness
        .client
        .revoke(RevokeRequest {
            client: None,
            refresh_token: tokens.refresh_token.clone(),
        })
        .await
        .expect("revoke");
    harness
        .client
        .revoke(RevokeRequest {
            client: None,
            refresh_token: "unknown".into(),
        })
        .await
        .expect("revoking an unknown token is a no-op");
    let refused = harness
        .client
        .refresh(RefreshRequest {
            client: None,
            refresh_token: tokens.refresh_token,
        })
        .await
        .expect_err("revoked");
    assert_eq!(refused.code(), Code::Unauthenticated);
    harness
        .client
        .refresh(RefreshRequest {
            client: None,
            refresh_token: other_session.refresh_token,
        })
        .await
        .expect("other sessions stay valid");
    harness.stop().await;
}

#[tokio::test]
async fn get_me_is_scoped_to_the_callers_org() {
    let mut harness = start().await;
    let ada = harness
        .client
        .register(registration("ada@example.com", "Org A"))
        .await
        .expect("register")
        .into_inner()
        .user
        .expect("user");
    let bob = harness
        .client
        .register(registration("bob@example.com", "Org B"))
        .await
        .expect("register")
        .into_inner()
        .user
        .expect("user");
    assert_ne!(ada.org_id, bob.org_id);
    let cross = Caller {
        org_id: bob.org_id.clone(),
        user_id: ada.id.clone(),
        role: 1,
    };
    let status = harness
        .client
        .get_me(GetMeRequest {
            caller: Some(cross),
        })
        .await
        .expect_err("other org");
    assert_eq!(status.code(), Code::NotFound);
    let missing = harness
        .client
        .get_me(GetMeRequest { caller: None })
        .await
        .expect_err("no caller");
    assert_eq!(missing.code(), Code::Unauthenticated);
    harness.stop().await;
}

#[test]
fn config_names_the_bad_variable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut vars = env(&dir);
    vars.remove("ULTRA_JWT_SECRET");
    assert!(matches!(
        Config::from_env(&vars),
        Err(ConfigError::Missing("ULTRA_JWT_SECRET"))
    ));
    vars.insert("ULTRA_JWT_SECRET".into(), "too short".into());
    let error = Config::from_env(&vars).expect_err("short");
    assert!(error.to_string().contains("ULTRA_JWT_SECRET"), "{error}");
    vars.insert("ULTRA_JWT_SECRET".into(), SECRET.into());
    vars.insert("ULTRA_ACCESS_TOKEN_TTL_SECONDS".into(), "soon".into());
    let error = Config::from_env(&vars).expect_err("ttl");
    assert!(
        error.to_string().contains("ULTRA_ACCESS_TOKEN_TTL_SECONDS"),
        "{error}"
    );
    vars.remove("ULTRA_USERS_DATABASE_URL");
    assert!(matches!(
        Config::from_env(&vars),
        Err(ConfigError::Missing("ULTRA_USERS_DATABASE_URL"))
    ));
}
