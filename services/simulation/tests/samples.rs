//! Raw samples kept as one object per run (`ULTRA_SIMULATION_SAMPLES_URL`): the object of a
//! completed run holds every iteration of every output, under the run's organisation, and
//! agrees with the summaries the results service serves; without the setting nothing is
//! written.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::{NPV10_IR, Platform, caller, submit, wait_for};
use ultra_proto::v1;

const LONG: Duration = Duration::from_secs(60);

/// The header and the output columns of a samples object.
fn decode(bytes: &[u8]) -> (serde_json::Value, Vec<Vec<f64>>) {
    let magic = ultra_simulation::SAMPLES_MAGIC;
    assert_eq!(&bytes[..magic.len()], magic, "magic");
    let rest = &bytes[magic.len()..];
    let header_len = u32::from_le_bytes(rest[..4].try_into().expect("4 bytes")) as usize;
    let header: serde_json::Value =
        serde_json::from_slice(&rest[4..4 + header_len]).expect("header JSON");
    let samples = header["samples"].as_u64().expect("samples") as usize;
    let outputs = header["outputs"].as_array().expect("outputs").len();
    let body = &rest[4 + header_len..];
    assert_eq!(body.len(), outputs * samples * 8, "one f64 per sample");
    let values: Vec<f64> = body
        .chunks_exact(8)
        .map(|chunk| f64::from_le_bytes(chunk.try_into().expect("8 bytes")))
        .collect();
    let columns = values.chunks(samples).map(<[f64]>::to_vec).collect();
    (header, columns)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_completed_run_keeps_its_raw_samples_as_one_object() {
    let platform = Platform::start().await;
    platform.models.add("org-a", "npv", NPV10_IR);
    let root = platform.dir.path().join("samples");
    let mut config = platform.config();
    config.samples_url = Some(format!("file://{}", root.display()));
    let mut service = platform.start_simulation(config).await;

    let queued = service
        .client
        .submit(submit("org-a", "npv", 5_000))
        .await
        .expect("submit")
        .into_inner();
    wait_for(
        &mut service.client,
        "org-a",
        &queued.id,
        v1::SimulationStatus::Completed,
        LONG,
    )
    .await;

    let path = root.join(ultra_simulation::samples_key("org-a", &queued.id));
    assert_eq!(path, root.join("org-a").join(&queued.id));
    let (header, columns) = decode(&std::fs::read(&path).expect("samples object"));
    assert_eq!(header["simulation_id"], queued.id.as_str());
    assert_eq!(header["iterations"], 5_000);
    assert_eq!(header["samples"], 5_000);

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
    let names: Vec<&str> = header["outputs"]
        .as_array()
        .expect("outputs")
        .iter()
        .map(|name| name.as_str().expect("name"))
        .collect();
    let served: Vec<&str> = results
        .outputs
        .iter()
        .map(|output| output.name.as_str())
        .collect();
    assert_eq!(
        names, served,
        "one column per output, in the results' order"
    );
    for (output, column) in results.outputs.iter().zip(&columns) {
        let mean = column.iter().sum::<f64>() / column.len() as f64;
        assert!(
            (mean - output.mean).abs() <= 1e-9 * output.mean.abs().max(1.0),
            "{}: mean of the samples {mean} vs served {}",
            output.name,
            output.mean
        );
    }

    // Deleting the organisation deletes every samples object under it (one of a run the
    // database no longer knows included) before the erasure is recorded as done.
    let orphan = root.join("org-a").join("orphan-run");
    std::fs::write(&orphan, b"left over").expect("orphan object");
    let other_org = root.join("org-ab").join("kept-run");
    std::fs::create_dir_all(other_org.parent().expect("parent")).expect("dir");
    std::fs::write(&other_org, b"another organisation's").expect("other object");
    let deleted = ultra_bus::new_event(
        ultra_store::ORG_DELETED,
        "org-a",
        "admin-a",
        v1::event::Payload::OrganizationDeleted(v1::OrganizationDeleted {
            erasure_id: "erasure-samples-1".into(),
            pseudonym: "erased-samples".into(),
        }),
    );
    platform.bus.publish(&deleted).await.expect("publish");
    let deadline = tokio::time::Instant::now() + LONG;
    while path.exists() || orphan.exists() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "samples of the erased organisation remain"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        other_org.exists(),
        "only the erased organisation's samples go"
    );
    service.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn without_the_setting_no_samples_are_written() {
    let platform = Platform::start().await;
    platform.models.add("org-a", "npv", NPV10_IR);
    let mut service = platform.start_simulation(platform.config()).await;
    let queued = service
        .client
        .submit(submit("org-a", "npv", 1_000))
        .await
        .expect("submit")
        .into_inner();
    wait_for(
        &mut service.client,
        "org-a",
        &queued.id,
        v1::SimulationStatus::Completed,
        LONG,
    )
    .await;
    service.stop().await;
    let entries: Vec<_> = std::fs::read_dir(platform.dir.path())
        .expect("temp dir")
        .map(|entry| entry.expect("entry").file_name())
        .filter(|name| !name.to_string_lossy().contains(".db"))
        .collect();
    assert!(entries.is_empty(), "nothing but the databases: {entries:?}");
}

#[test]
fn a_bad_samples_url_is_a_configuration_error() {
    let mut env = HashMap::from([
        (
            "ULTRA_FILES_URL".to_owned(),
            "http://127.0.0.1:1".to_owned(),
        ),
        (
            "ULTRA_RESULTS_URL".to_owned(),
            "http://127.0.0.1:2".to_owned(),
        ),
        (
            "ULTRA_SIMULATION_SAMPLES_URL".to_owned(),
            "ftp://host/samples".to_owned(),
        ),
    ]);
    let error = ultra_simulation::Config::from_env(&env).expect_err("ftp");
    assert!(
        error.to_string().contains("ULTRA_SIMULATION_SAMPLES_URL")
            && error.to_string().contains("unsupported scheme"),
        "{error}"
    );
    env.insert(
        "ULTRA_SIMULATION_SAMPLES_URL".to_owned(),
        "file:///var/lib/ultra/samples".to_owned(),
    );
    let config = ultra_simulation::Config::from_env(&env).expect("a file URL");
    assert_eq!(
        config.samples_url.as_deref(),
        Some("file:///var/lib/ultra/samples")
    );
}
