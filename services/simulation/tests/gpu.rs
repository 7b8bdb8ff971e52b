//! `engine = GPU` through the service, on whatever Vulkan adapter the machine has (Mesa's
//! lavapipe on CI, which the README's test command installs): the job runs on the GPU
//! engine and its results say so; a device lost mid-run fails that job cleanly and the
//! next GPU job runs on a freshly opened device.

mod common;

use std::time::Duration;

use common::{NPV10_IR, Platform, UNIFORM_IR, caller, get, submit, wait_for};
use ultra_proto::v1;

const LONG: Duration = Duration::from_secs(120);

fn on_gpu(mut request: v1::SubmitRequest) -> v1::SubmitRequest {
    request.engine = v1::Engine::Gpu as i32;
    request
}

async fn results(platform: &Platform, id: &str) -> v1::SimulationResults {
    platform
        .results
        .clone()
        .get_results(v1::GetResultsRequest {
            caller: caller("org-a"),
            simulation_id: id.to_owned(),
        })
        .await
        .expect("results stored")
        .into_inner()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn gpu_jobs_run_on_the_gpu_and_a_lost_device_fails_only_its_job() {
    let platform = Platform::start().await;
    platform.models.add("org-a", "npv", NPV10_IR);
    platform.models.add("org-a", "uniform", UNIFORM_IR);
    let mut service = platform.start_simulation(platform.config()).await;
    let client = &mut service.client;

    // The same request on both engines: same streams, figures equal up to f32 rounding.
    let gpu = client
        .submit(on_gpu(submit("org-a", "npv", 20_000)))
        .await
        .expect("a GPU job is accepted where a Vulkan adapter exists")
        .into_inner();
    let mut cpu_request = submit("org-a", "npv", 20_000);
    cpu_request.engine = v1::Engine::Cpu as i32;
    let cpu = client
        .submit(cpu_request)
        .await
        .expect("submit")
        .into_inner();
    for id in [&gpu.id, &cpu.id] {
        wait_for(client, "org-a", id, v1::SimulationStatus::Completed, LONG).await;
    }
    let (gpu_results, cpu_results) = (
        results(&platform, &gpu.id).await,
        results(&platform, &cpu.id).await,
    );
    assert_eq!(gpu_results.engine, "gpu");
    assert_eq!(gpu_results.precision, "f32");
    assert!(!gpu_results.adapter.is_empty());
    assert_eq!(cpu_results.engine, "cpu");
    assert_eq!(cpu_results.precision, "f64");
    for (g, c) in gpu_results.outputs.iter().zip(&cpu_results.outputs) {
        assert_eq!(g.name, c.name);
        assert_eq!(g.count, c.count);
        let relative = ((g.mean - c.mean) / c.mean).abs();
        // f32 arithmetic on identical streams: about 1e-6 here (see crates/gpu/tests).
        assert!(relative < 1e-4, "{}: gpu {} cpu {}", g.name, g.mean, c.mean);
    }

    // A device lost while a job runs: that job fails with the reason...
    let long = client
        .submit(on_gpu(submit("org-a", "uniform", 10_000_000)))
        .await
        .expect("submit")
        .into_inner();
    let deadline = tokio::time::Instant::now() + LONG;
    loop {
        let job = client
            .get_simulation(get("org-a", &long.id))
            .await
            .expect("get")
            .into_inner();
        if job.completed_iterations > 0 {
            break;
        }
        assert!(
            job.status() != v1::SimulationStatus::Completed,
            "the run finished before the device could be lost: make it longer"
        );
        assert!(tokio::time::Instant::now() < deadline, "no progress");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    ultra_gpu::GpuDevice::shared()
        .expect("the device the job runs on")
        .simulate_loss();
    let failed = wait_for(
        client,
        "org-a",
        &long.id,
        v1::SimulationStatus::Failed,
        LONG,
    )
    .await;
    assert!(failed.error.contains("lost"), "error: {}", failed.error);

    // ...and the service goes on: the next GPU job opens a fresh device and completes.
    let after = client
        .submit(on_gpu(submit("org-a", "npv", 5_000)))
        .await
        .expect("submit after the loss")
        .into_inner();
    wait_for(
        client,
        "org-a",
        &after.id,
        v1::SimulationStatus::Completed,
        LONG,
    )
    .await;
    assert_eq!(results(&platform, &after.id).await.engine, "gpu");
    service.stop().await;
}
