//! The simulation service over real gRPC: submit to completion with results stored and the
//! usage event published, cancel, tenant isolation, bad input, paging, and recovery of jobs
//! left running by a shutdown or a crash. The scenarios that touch the database in a way
//! of their own run on SQLite and on PostgreSQL.

mod common;

use std::time::Duration;

use common::{NPV10_IR, Platform, UNIFORM_IR, caller, get, submit, wait_for};
use tokio_stream::StreamExt;
use ultra_proto::v1;
use ultra_proto::v1::event::Payload;

const LONG: Duration = Duration::from_secs(60);

/// Tests `$scenario::on_sqlite` and `$scenario::on_postgres`: the scenario
/// `$scenario(platform)` on SQLite files and on a private PostgreSQL server (same
/// migrations, same queries, same outcome).
macro_rules! on_both_backends {
    ($scenario:ident) => {
        mod $scenario {
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn on_sqlite() {
                super::$scenario(super::Platform::start().await).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn on_postgres() {
                super::$scenario(super::Platform::start_on_postgres().await).await;
            }
        }
    };
}

on_both_backends!(a_submitted_simulation_completes_with_results_and_usage);
async fn a_submitted_simulation_completes_with_results_and_usage(platform: Platform) {
    platform.models.add("org-a", "npv", NPV10_IR);
    let mut events = platform.bus.subscribe("test").await;
    let mut service = platform.start_simulation(platform.config()).await;

    let queued = service
        .client
        .submit(submit("org-a", "npv", 20_000))
        .await
        .expect("submit")
        .into_inner();
    assert_eq!(queued.status(), v1::SimulationStatus::Queued);
    assert_eq!(queued.org_id, "org-a");

    let mut progress = service
        .client
        .watch_progress(get("org-a", &queued.id))
        .await
        .expect("watch")
        .into_inner();
    let mut last = None;
    while let Some(message) = tokio::time::timeout(LONG, progress.next())
        .await
        .expect("progress in time")
    {
        last = Some(message.expect("progress message"));
    }
    let last = last.expect("at least one progress message");
    assert_eq!(last.status(), v1::SimulationStatus::Completed);
    assert_eq!(last.completed_iterations, 20_000);

    let done = wait_for(
        &mut service.client,
        "org-a",
        &queued.id,
        v1::SimulationStatus::Completed,
        LONG,
    )
    .await;
    assert!(done.compute_units > 0.0);
    assert!(done.finished_at_ms >= done.started_at_ms);

    let results = platform
        .results
        .clone()
        .get_results(v1::GetResultsRequest {
            caller: caller("org-a"),
            simulation_id: queued.id.clone(),
        })
        .await
        .expect("results stored")
        .into_inner();
    assert_eq!(results.iterations, 20_000);
    assert_eq!(results.engine, "cpu");
    let npv = results
        .outputs
        .iter()
        .find(|output| output.name == "NPV")
        .expect("NPV output");
    assert_eq!(npv.count, 20_000);
    assert!(!npv.sensitivity.is_empty());

    let mut kinds = Vec::new();
    while kinds.len() < 2 {
        let delivery = tokio::time::timeout(LONG, events.next())
            .await
            .expect("event in time")
            .expect("bus open");
        let event = delivery.event().clone();
        delivery.ack();
        if let Some(Payload::SimulationCompleted(usage)) = &event.payload {
            assert_eq!(usage.simulation_id, queued.id);
            assert_eq!(usage.iterations, 20_000);
            assert!(usage.evaluated_cells > 0);
            let expected = 20_000.0 * usage.evaluated_cells as f64 / 1e9;
            assert!((usage.compute_units - expected).abs() < 1e-12);
            assert_eq!(usage.engine, "cpu");
            assert_eq!(event.org_id, "org-a");
        }
        kinds.push(event.r#type);
    }
    assert_eq!(kinds, ["simulation.submitted", "simulation.completed"]);
    service.stop().await;
}

on_both_backends!(cancel_stops_a_running_job_and_a_queued_one);
async fn cancel_stops_a_running_job_and_a_queued_one(platform: Platform) {
    platform.models.add("org-a", "u", UNIFORM_IR);
    let mut service = platform.start_simulation(platform.config()).await;
    let client = &mut service.client;

    let running = client
        .submit(submit("org-a", "u", 5_000_000))
        .await
        .expect("submit")
        .into_inner();
    let queued = client
        .submit(submit("org-a", "u", 10))
        .await
        .expect("submit")
        .into_inner();
    wait_for(
        client,
        "org-a",
        &running.id,
        v1::SimulationStatus::Running,
        LONG,
    )
    .await;

    let cancelled = client
        .cancel(get("org-a", &queued.id))
        .await
        .expect("cancel queued")
        .into_inner();
    assert_eq!(cancelled.status(), v1::SimulationStatus::Cancelled);
    let cancelled = client
        .cancel(get("org-a", &running.id))
        .await
        .expect("cancel running")
        .into_inner();
    assert_eq!(cancelled.status(), v1::SimulationStatus::Cancelled);
    assert!(cancelled.completed_iterations < 5_000_000);

    // Cancelling again answers the same; a finished job cannot be cancelled.
    let again = client
        .cancel(get("org-a", &running.id))
        .await
        .expect("cancel again")
        .into_inner();
    assert_eq!(again.status(), v1::SimulationStatus::Cancelled);
    let small = client
        .submit(submit("org-a", "u", 100))
        .await
        .expect("submit")
        .into_inner();
    wait_for(
        client,
        "org-a",
        &small.id,
        v1::SimulationStatus::Completed,
        LONG,
    )
    .await;
    let status = client
        .cancel(get("org-a", &small.id))
        .await
        .expect_err("already completed");
    assert_eq!(status.code(), tonic::Code::FailedPrecondition);
    service.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn another_organisation_sees_nothing() {
    let platform = Platform::start().await;
    platform.models.add("org-a", "npv", NPV10_IR);
    let mut service = platform.start_simulation(platform.config()).await;
    let client = &mut service.client;
    let job = client
        .submit(submit("org-a", "npv", 1000))
        .await
        .expect("submit")
        .into_inner();
    wait_for(
        client,
        "org-a",
        &job.id,
        v1::SimulationStatus::Completed,
        LONG,
    )
    .await;

    let not_found = |result: Result<_, tonic::Status>| match result {
        Ok(_) => panic!("org-b reached org-a's simulation"),
        Err(status) => assert_eq!(status.code(), tonic::Code::NotFound, "{status:?}"),
    };
    not_found(
        client
            .get_simulation(get("org-b", &job.id))
            .await
            .map(|_| ()),
    );
    not_found(client.cancel(get("org-b", &job.id)).await.map(|_| ()));
    not_found(
        client
            .watch_progress(get("org-b", &job.id))
            .await
            .map(|_| ()),
    );
    // org-a's model is not org-b's either.
    not_found(client.submit(submit("org-b", "npv", 10)).await.map(|_| ()));
    not_found(
        platform
            .results
            .clone()
            .get_results(v1::GetResultsRequest {
                caller: caller("org-b"),
                simulation_id: job.id.clone(),
            })
            .await
            .map(|_| ()),
    );
    let listed = client
        .list_simulations(v1::ListSimulationsRequest {
            caller: caller("org-b"),
            page: None,
        })
        .await
        .expect("list")
        .into_inner();
    assert!(listed.simulations.is_empty());
    service.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_requests_are_rejected_with_their_codes() {
    let platform = Platform::start().await;
    platform.models.add("org-a", "npv", NPV10_IR);
    let mut config = platform.config();
    config.max_iterations = 1000;
    let mut service = platform.start_simulation(config).await;
    let client = &mut service.client;
    let code = |result: Result<tonic::Response<v1::Simulation>, tonic::Status>| {
        result.expect_err("rejected").code()
    };
    assert_eq!(
        code(client.submit(submit("org-a", "npv", 0)).await),
        tonic::Code::InvalidArgument
    );
    assert_eq!(
        code(client.submit(submit("org-a", "npv", 1001)).await),
        tonic::Code::InvalidArgument
    );
    assert_eq!(
        code(client.submit(submit("org-a", "nope", 10)).await),
        tonic::Code::NotFound
    );
    assert_eq!(
        code(client.submit(submit("org-a", "bad id!", 10)).await),
        tonic::Code::InvalidArgument
    );
    let mut engine = submit("org-a", "npv", 10);
    engine.engine = 7;
    assert_eq!(
        code(client.submit(engine).await),
        tonic::Code::InvalidArgument
    );
    let mut sampling = submit("org-a", "npv", 10);
    sampling.sampling = 99;
    assert_eq!(
        code(client.submit(sampling).await),
        tonic::Code::InvalidArgument
    );
    let mut anonymous = submit("org-a", "npv", 10);
    anonymous.caller = None;
    assert_eq!(
        code(client.submit(anonymous).await),
        tonic::Code::Unauthenticated
    );
    assert_eq!(
        code(client.get_simulation(get("org-a", "missing")).await),
        tonic::Code::NotFound
    );
    // The cap itself is accepted.
    client
        .submit(submit("org-a", "npv", 1000))
        .await
        .expect("at the cap");
    service.stop().await;
}

on_both_backends!(list_pages_newest_first);
async fn list_pages_newest_first(platform: Platform) {
    platform.models.add("org-a", "u", UNIFORM_IR);
    let mut service = platform.start_simulation(platform.config()).await;
    let client = &mut service.client;
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(
            client
                .submit(submit("org-a", "u", 10))
                .await
                .expect("submit")
                .into_inner()
                .id,
        );
    }
    let page = |token: &str| v1::ListSimulationsRequest {
        caller: caller("org-a"),
        page: Some(v1::PageRequest {
            page_size: 2,
            page_token: token.to_owned(),
        }),
    };
    let first = client
        .list_simulations(page(""))
        .await
        .expect("page 1")
        .into_inner();
    assert_eq!(first.simulations.len(), 2);
    assert!(!first.next_page_token.is_empty());
    let second = client
        .list_simulations(page(&first.next_page_token))
        .await
        .expect("page 2")
        .into_inner();
    assert_eq!(second.simulations.len(), 1);
    assert!(second.next_page_token.is_empty());
    let listed: Vec<String> = first
        .simulations
        .iter()
        .chain(&second.simulations)
        .map(|simulation| simulation.id.clone())
        .collect();
    ids.reverse();
    assert_eq!(listed, ids);
    let status = client
        .list_simulations(page("garbage"))
        .await
        .expect_err("bad token");
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    service.stop().await;
}

on_both_backends!(a_job_running_at_shutdown_or_crash_is_resumed_on_restart);
async fn a_job_running_at_shutdown_or_crash_is_resumed_on_restart(platform: Platform) {
    platform.models.add("org-a", "u", UNIFORM_IR);

    // Graceful shutdown while running: the job is marked interrupted, not left running.
    let mut service = platform.start_simulation(platform.config()).await;
    let job = service
        .client
        .submit(submit("org-a", "u", 3_000_000))
        .await
        .expect("submit")
        .into_inner();
    wait_for(
        &mut service.client,
        "org-a",
        &job.id,
        v1::SimulationStatus::Running,
        LONG,
    )
    .await;
    service.stop().await;
    assert_eq!(status_in_db(&platform, &job.id).await, "interrupted");

    // A crash: the row says running, owned by this instance, and nothing runs it.
    set_status_in_db(&platform, &job.id, "running").await;
    let mut service = platform.start_simulation(platform.config()).await;
    let done = wait_for(
        &mut service.client,
        "org-a",
        &job.id,
        v1::SimulationStatus::Completed,
        LONG,
    )
    .await;
    assert_eq!(done.completed_iterations, 3_000_000);
    service.stop().await;
}

on_both_backends!(a_job_out_of_attempts_is_failed_not_rerun);
async fn a_job_out_of_attempts_is_failed_not_rerun(platform: Platform) {
    platform.models.add("org-a", "u", UNIFORM_IR);
    let mut config = platform.config();
    config.max_attempts = 1;
    let mut service = platform.start_simulation(config.clone()).await;
    let job = service
        .client
        .submit(submit("org-a", "u", 3_000_000))
        .await
        .expect("submit")
        .into_inner();
    wait_for(
        &mut service.client,
        "org-a",
        &job.id,
        v1::SimulationStatus::Running,
        LONG,
    )
    .await;
    service.stop().await;
    let mut service = platform.start_simulation(config).await;
    let failed = wait_for(
        &mut service.client,
        "org-a",
        &job.id,
        v1::SimulationStatus::Failed,
        LONG,
    )
    .await;
    assert!(failed.error.contains("interrupted"), "{}", failed.error);
    service.stop().await;
}

on_both_backends!(the_plan_tier_sets_the_weight_and_an_unknown_one_weighs_one);
/// The plan tier in the submit sets the job's fair-share weight; a missing (old gateway,
/// other caller) or unknown tier weighs 1, never more.
async fn the_plan_tier_sets_the_weight_and_an_unknown_one_weighs_one(platform: Platform) {
    platform.models.add("org-a", "u", UNIFORM_IR);
    let mut service = platform.start_simulation(platform.config()).await;
    let mut weights = Vec::new();
    for tier in [
        None,
        Some(v1::PlanTier::Enterprise as i32),
        Some(v1::PlanTier::Professional as i32),
        Some(v1::PlanTier::Ultra as i32),
        Some(v1::PlanTier::Starter as i32),
        Some(42),
    ] {
        let mut request = submit("org-a", "u", 10);
        if let Some(tier) = tier {
            request.plan_tier = tier;
        }
        let queued = service
            .client
            .submit(request)
            .await
            .expect("submit")
            .into_inner();
        let pool = pool(&platform).await;
        let weight: i64 = sqlx::query_scalar("SELECT weight FROM simulations WHERE id = $1")
            .bind(&queued.id)
            .fetch_one(&pool)
            .await
            .expect("row");
        pool.close().await;
        weights.push(weight);
    }
    assert_eq!(weights, [1, 3, 2, 3, 1, 1]);
    service.stop().await;
}

async fn pool(platform: &Platform) -> sqlx::AnyPool {
    sqlx::any::install_default_drivers();
    sqlx::AnyPool::connect(&platform.database_url())
        .await
        .expect("open db")
}

async fn status_in_db(platform: &Platform, id: &str) -> String {
    let pool = pool(platform).await;
    let status = sqlx::query_scalar("SELECT status FROM simulations WHERE id = $1")
        .bind(id)
        .fetch_one(&pool)
        .await
        .expect("row");
    pool.close().await;
    status
}

async fn set_status_in_db(platform: &Platform, id: &str, status: &str) {
    let pool = pool(platform).await;
    sqlx::query("UPDATE simulations SET status = $1, worker_id = 'local' WHERE id = $2")
        .bind(status)
        .bind(id)
        .execute(&pool)
        .await
        .expect("update");
    pool.close().await;
}
