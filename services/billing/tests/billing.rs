//! The billing service over real gRPC, fed through the in-process bus: a duplicated event
//! is counted once, organisations are separate, ranges filter by event time.

use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use ultra_proto::v1;
use ultra_proto::v1::billing_service_client::BillingServiceClient;
use ultra_proto::v1::event::Payload;

fn completed(org_id: &str, user_id: &str, iterations: u64, at_ms: i64) -> v1::Event {
    let mut event = ultra_bus::new_event(
        "simulation.completed",
        org_id,
        user_id,
        Payload::SimulationCompleted(v1::SimulationCompleted {
            simulation_id: format!("sim-{iterations}"),
            model_id: "m".to_owned(),
            iterations,
            evaluated_cells: 50,
            compute_units: iterations as f64 * 50.0 / 1e9,
            gpu_seconds: 0.5,
            wall_seconds: 1.0,
            engine: "cpu".to_owned(),
        }),
    );
    event.occurred_at_ms = at_ms;
    event
}

fn request(org_id: &str, from_ms: i64, to_ms: i64) -> v1::GetUsageRequest {
    v1::GetUsageRequest {
        caller: Some(v1::Caller {
            org_id: org_id.to_owned(),
            user_id: "u".to_owned(),
            role: v1::Role::Admin as i32,
        }),
        from_ms,
        to_ms,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_is_counted_once_per_event_and_per_organisation() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bus = ultra_bus::Bus::in_process();
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let shutdown = CancellationToken::new();
    let config = ultra_billing::Config::new(&format!(
        "sqlite://{}",
        dir.path().join("billing.db").display()
    ));
    let server = tokio::spawn(ultra_billing::serve(
        config,
        bus.clone(),
        listener,
        shutdown.clone(),
    ));
    let mut client = BillingServiceClient::new(ultra_rpc::lazy_channel(&url).expect("channel"));

    let first = completed("org-a", "alice", 1000, 1_000);
    bus.publish(&first).await.expect("publish");
    bus.publish(&first).await.expect("publish the duplicate");
    bus.publish(&completed("org-a", "bob", 3000, 2_000))
        .await
        .expect("publish");
    bus.publish(&completed("org-b", "carol", 7000, 1_500))
        .await
        .expect("publish");
    // Not usage: ignored.
    bus.publish(&ultra_bus::new_event(
        "simulation.failed",
        "org-a",
        "alice",
        Payload::SimulationFailed(v1::SimulationFailed::default()),
    ))
    .await
    .expect("publish");

    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let usage_a = loop {
        let usage = client
            .get_usage(request("org-a", 0, 0))
            .await
            .expect("usage")
            .into_inner();
        let usage_b = client
            .get_usage(request("org-b", 0, 0))
            .await
            .expect("usage")
            .into_inner();
        if usage.simulations >= 2 && usage_b.simulations >= 1 {
            break usage;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "events not consumed: {usage:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(usage_a.org_id, "org-a");
    assert_eq!(usage_a.simulations, 2);
    assert_eq!(usage_a.iterations, 4000);
    assert!((usage_a.compute_units - 4000.0 * 50.0 / 1e9).abs() < 1e-15);
    assert!((usage_a.gpu_seconds - 1.0).abs() < 1e-12);

    let usage_b = client
        .get_usage(request("org-b", 0, 0))
        .await
        .expect("usage")
        .into_inner();
    assert_eq!((usage_b.simulations, usage_b.iterations), (1, 7000));

    // [1000, 2000) holds only the first event of org-a.
    let ranged = client
        .get_usage(request("org-a", 1_000, 2_000))
        .await
        .expect("usage")
        .into_inner();
    assert_eq!((ranged.simulations, ranged.iterations), (1, 1000));
    let status = client
        .get_usage(request("org-a", 5, 4))
        .await
        .expect_err("inverted range");
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    let mut anonymous = request("org-a", 0, 0);
    anonymous.caller = None;
    let status = client.get_usage(anonymous).await.expect_err("no caller");
    assert_eq!(status.code(), tonic::Code::Unauthenticated);

    shutdown.cancel();
    server.await.expect("joins").expect("stops cleanly");
}

/// GDPR: `user.deleted` replaces the user's id in the ledger by the erasure's pseudonym and
/// keeps the amounts; usage of theirs delivered after the erasure (committed before it,
/// delivered late) goes under the pseudonym too; the erasure is reported completed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erasure_pseudonymises_the_ledger_including_late_usage() {
    use sqlx::Connection as _;
    use ultra_proto::v1::privacy_service_client::PrivacyServiceClient;

    let dir = tempfile::tempdir().expect("temp dir");
    let database_url = format!("sqlite://{}", dir.path().join("billing.db").display());
    let bus = ultra_bus::Bus::in_process();
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(ultra_billing::serve(
        ultra_billing::Config::new(&database_url),
        bus.clone(),
        listener,
        shutdown.clone(),
    ));
    let channel = ultra_rpc::lazy_channel(&url).expect("channel");
    let client = BillingServiceClient::new(channel.clone());
    let mut privacy = PrivacyServiceClient::new(channel);
    let counted = |expected: u64| {
        let mut client = client.clone();
        async move {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
            loop {
                let usage = client
                    .get_usage(request("org-a", 0, 0))
                    .await
                    .expect("usage")
                    .into_inner();
                if usage.simulations >= expected {
                    return usage;
                }
                assert!(tokio::time::Instant::now() < deadline, "{usage:?}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };

    bus.publish(&completed("org-a", "alice", 1000, 1_000))
        .await
        .expect("publish");
    counted(1).await;
    let erasure = ultra_bus::new_event(
        "user.deleted",
        "org-a",
        "alice",
        Payload::UserDeleted(v1::UserDeleted {
            erasure_id: "erasure-1".into(),
            pseudonym: "erased-1".into(),
        }),
    );
    bus.publish(&erasure).await.expect("publish");
    let status_request = v1::GetErasureStatusRequest {
        erasure_id: "erasure-1".into(),
        org_id: "org-a".into(),
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let status = privacy
            .get_erasure_status(status_request.clone())
            .await
            .expect("status")
            .into_inner();
        if status.completed {
            assert_eq!(status.service, "billing");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "erasure not done");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    bus.publish(&completed("org-a", "alice", 2000, 3_000))
        .await
        .expect("publish late usage");
    let usage = counted(2).await;
    assert_eq!((usage.simulations, usage.iterations), (2, 3000));

    let mut db = sqlx::SqliteConnection::connect(&database_url)
        .await
        .expect("open");
    let by_user: Vec<(String, i64)> = sqlx::query_as(
        "SELECT user_id, COUNT(*) FROM usage_ledger GROUP BY user_id ORDER BY user_id",
    )
    .fetch_all(&mut db)
    .await
    .expect("ledger");
    assert_eq!(by_user, [("erased-1".to_owned(), 2)]);

    // `org.deleted` names no members: a run of the organisation that completes after it
    // goes under the erasure's pseudonym all the same.
    let org_erasure = ultra_bus::new_event(
        "org.deleted",
        "org-b",
        "bob",
        Payload::OrganizationDeleted(v1::OrganizationDeleted {
            erasure_id: "erasure-2".into(),
            pseudonym: "erased-2".into(),
        }),
    );
    bus.publish(&org_erasure).await.expect("publish");
    let status_request = v1::GetErasureStatusRequest {
        erasure_id: "erasure-2".into(),
        org_id: "org-b".into(),
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !privacy
        .get_erasure_status(status_request.clone())
        .await
        .expect("status")
        .into_inner()
        .completed
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "org erasure not done"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    bus.publish(&completed("org-b", "carol", 500, 4_000))
        .await
        .expect("publish late usage");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let late: Vec<String> = loop {
        let users: Vec<String> =
            sqlx::query_scalar("SELECT user_id FROM usage_ledger WHERE org_id = 'org-b'")
                .fetch_all(&mut db)
                .await
                .expect("ledger");
        if !users.is_empty() {
            break users;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "late usage not counted"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(late, ["erased-2"]);
    db.close().await.expect("close");

    shutdown.cancel();
    server.await.expect("joins").expect("stops cleanly");
}
