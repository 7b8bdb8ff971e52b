//! The analytics service over real gRPC, fed through the in-process bus: a duplicated event
//! is counted once, organisations are separate, users are broken down, ranges filter by
//! event time.

use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use ultra_proto::v1;
use ultra_proto::v1::analytics_service_client::AnalyticsServiceClient;
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

fn request(org_id: &str, from_ms: i64, to_ms: i64) -> v1::UsageReportRequest {
    v1::UsageReportRequest {
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
async fn the_report_counts_each_event_once_per_organisation_and_user() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bus = ultra_bus::Bus::in_process();
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let shutdown = CancellationToken::new();
    let config = ultra_analytics::Config::new(&format!(
        "sqlite://{}",
        dir.path().join("analytics.db").display()
    ));
    let server = tokio::spawn(ultra_analytics::serve(
        config,
        bus.clone(),
        listener,
        shutdown.clone(),
    ));
    let mut client = AnalyticsServiceClient::new(ultra_rpc::lazy_channel(&url).expect("channel"));

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
            .get_usage_report(request("org-a", 0, 0))
            .await
            .expect("usage")
            .into_inner();
        let usage_b = client
            .get_usage_report(request("org-b", 0, 0))
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
    let by_user: Vec<(&str, u64, u64)> = usage_a
        .by_user
        .iter()
        .map(|user| (user.user_id.as_str(), user.simulations, user.iterations))
        .collect();
    assert_eq!(by_user, [("bob", 1, 3000), ("alice", 1, 1000)]);

    let usage_b = client
        .get_usage_report(request("org-b", 0, 0))
        .await
        .expect("usage")
        .into_inner();
    assert_eq!((usage_b.simulations, usage_b.iterations), (1, 7000));
    assert_eq!(usage_b.by_user.len(), 1);
    assert_eq!(usage_b.by_user[0].user_id, "carol");

    // [1000, 2000) holds only the first event of org-a.
    let ranged = client
        .get_usage_report(request("org-a", 1_000, 2_000))
        .await
        .expect("usage")
        .into_inner();
    assert_eq!((ranged.simulations, ranged.iterations), (1, 1000));
    let status = client
        .get_usage_report(request("org-a", 5, 4))
        .await
        .expect_err("inverted range");
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    let mut anonymous = request("org-a", 0, 0);
    anonymous.caller = None;
    let status = client
        .get_usage_report(anonymous)
        .await
        .expect_err("no caller");
    assert_eq!(status.code(), tonic::Code::Unauthenticated);

    shutdown.cancel();
    server.await.expect("joins").expect("stops cleanly");
}
