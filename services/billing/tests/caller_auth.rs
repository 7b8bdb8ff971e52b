//! Defence in depth over real gRPC: with `ULTRA_SERVICE_SECRET` configured, the billing
//! service acts only for the caller signed into the request's `x-ultra-caller` metadata.
//! A request without it, with a bad signature, or whose message names another caller than
//! the signed one is UNAUTHENTICATED; a signed analyst is PERMISSION_DENIED (billing is for
//! admins: `organization.billing`); a signed admin is served.

use std::collections::HashMap;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::Code;
use ultra_proto::v1;
use ultra_proto::v1::billing_service_client::BillingServiceClient;

const SECRET: &str = "billing-test-internal-secret-0123456789";

fn caller(org_id: &str, user_id: &str, role: v1::Role) -> v1::Caller {
    v1::Caller {
        org_id: org_id.to_owned(),
        user_id: user_id.to_owned(),
        role: role as i32,
    }
}

fn usage_of(caller: &v1::Caller) -> v1::GetUsageRequest {
    v1::GetUsageRequest {
        caller: Some(caller.clone()),
        from_ms: 0,
        to_ms: 0,
    }
}

fn auth(secret: &str) -> ultra_rpc::CallerAuth {
    let env = HashMap::from([(ultra_rpc::SERVICE_SECRET_ENV.to_owned(), secret.to_owned())]);
    ultra_rpc::CallerAuth::from_env(&env).expect("a valid secret")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_callers_signed_with_the_service_secret_are_served() {
    let dir = tempfile::tempdir().expect("temp dir");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let shutdown = CancellationToken::new();
    let mut config = ultra_billing::Config::new(&format!(
        "sqlite://{}",
        dir.path().join("billing.db").display()
    ));
    config.caller_auth = auth(SECRET);
    let server = tokio::spawn(ultra_billing::serve(
        config,
        ultra_bus::Bus::in_process(),
        listener,
        shutdown.clone(),
    ));
    let mut client = BillingServiceClient::new(ultra_rpc::lazy_channel(&url).expect("channel"));
    let signer = auth(SECRET);
    let admin = caller("org-a", "alice", v1::Role::Admin);

    // No metadata: a bare caller in the message is not trusted.
    let status = client
        .get_usage(usage_of(&admin))
        .await
        .expect_err("unsigned");
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    assert!(status.message().contains("x-ultra-caller"), "{status:?}");

    // Signed with another secret.
    let forged = auth("not-the-platform-secret-0123456789abcdef")
        .peer_request(&admin, usage_of(&admin))
        .expect("signed");
    let status = client.get_usage(forged).await.expect_err("bad signature");
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");

    // Garbage metadata.
    let mut garbage = tonic::Request::new(usage_of(&admin));
    garbage
        .metadata_mut()
        .insert("x-ultra-caller", "not.a.token".parse().expect("ascii"));
    let status = client.get_usage(garbage).await.expect_err("garbage");
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");

    // Signed for org-a, the message asks for org-b: refused, whatever the role.
    let other_org = caller("org-b", "alice", v1::Role::Admin);
    let mismatched = signer
        .peer_request(&admin, usage_of(&other_org))
        .expect("signed");
    let status = client
        .get_usage(mismatched)
        .await
        .expect_err("caller mismatch");
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    assert!(status.message().contains("does not match"), "{status:?}");

    // The message claims admin, the signature says analyst: refused as a mismatch too.
    let analyst = caller("org-a", "bob", v1::Role::Analyst);
    let promoted = caller("org-a", "bob", v1::Role::Admin);
    let status = client
        .get_usage(
            signer
                .peer_request(&analyst, usage_of(&promoted))
                .expect("signed"),
        )
        .await
        .expect_err("role mismatch");
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");

    // A signed analyst: authenticated, but billing is not theirs to see.
    let status = client
        .get_usage(
            signer
                .peer_request(&analyst, usage_of(&analyst))
                .expect("signed"),
        )
        .await
        .expect_err("analyst");
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    assert!(
        status.message().contains("organization.billing"),
        "{status:?}"
    );

    // A signed admin is served.
    let usage = client
        .get_usage(
            signer
                .peer_request(&admin, usage_of(&admin))
                .expect("signed"),
        )
        .await
        .expect("admin reads usage")
        .into_inner();
    assert_eq!(usage.simulations, 0);

    shutdown.cancel();
    server
        .await
        .expect("server task")
        .expect("server stops cleanly");
}
