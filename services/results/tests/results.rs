//! The results service over real gRPC: store once (a repeat is a no-op), read back with
//! NaN intact, tenancy.

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use ultra_proto::v1;
use ultra_proto::v1::results_service_client::ResultsServiceClient;

fn caller(org_id: &str) -> Option<v1::Caller> {
    Some(v1::Caller {
        org_id: org_id.to_owned(),
        user_id: "u".to_owned(),
        role: v1::Role::Analyst as i32,
    })
}

fn results(simulation_id: &str, mean: f64) -> v1::SimulationResults {
    v1::SimulationResults {
        simulation_id: simulation_id.to_owned(),
        org_id: String::new(),
        iterations: 1000,
        seed: u64::MAX,
        sampling: v1::SamplingMethod::Sobol as i32,
        engine: "gpu".to_owned(),
        adapter: "llvmpipe (test)".to_owned(),
        precision: "f32".to_owned(),
        elapsed_ms: 12.5,
        compute_units: 5e-5,
        outputs: vec![v1::OutputResults {
            name: "NPV".to_owned(),
            count: 1000,
            errors: 0,
            mean,
            std: 2.0,
            min: -1.0,
            max: 9.0,
            skewness: f64::NAN,
            kurtosis: 0.1,
            std_error: 0.06,
            percentiles: vec![v1::Percentile {
                p: 50.0,
                value: 3.0,
            }],
            histogram: Some(v1::Histogram {
                edges: vec![-1.0, 4.0, 9.0],
                counts: vec![600, 400],
            }),
            sensitivity: vec![v1::Sensitivity {
                input: "Model!C3".to_owned(),
                name: "growth".to_owned(),
                spearman: 0.8,
                regression: 0.7,
                contribution_to_variance: 1.0,
                mean_at_low: 1.0,
                mean_at_high: 5.0,
            }],
        }],
    }
}

#[tokio::test]
async fn results_are_stored_once_and_read_by_their_organisation_only() {
    let dir = tempfile::tempdir().expect("temp dir");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let shutdown = CancellationToken::new();
    let config = ultra_results::Config::new(&format!(
        "sqlite://{}",
        dir.path().join("results.db").display()
    ));
    let server = tokio::spawn(ultra_results::serve(
        config,
        ultra_bus::Bus::in_process(),
        listener,
        shutdown.clone(),
    ));
    let mut client = ResultsServiceClient::new(ultra_rpc::lazy_channel(&url).expect("channel"));
    let store = |org_id: &str, results: v1::SimulationResults| v1::StoreResultsRequest {
        caller: caller(org_id),
        results: Some(results),
    };
    let get = |org_id: &str| v1::GetResultsRequest {
        caller: caller(org_id),
        simulation_id: "sim-1".to_owned(),
    };

    client
        .store_results(store("org-a", results("sim-1", 3.5)))
        .await
        .expect("store");
    // A retry with other figures changes nothing: the first store wins.
    client
        .store_results(store("org-a", results("sim-1", 99.0)))
        .await
        .expect("store again");
    let read = client
        .get_results(get("org-a"))
        .await
        .expect("get")
        .into_inner();
    let mut expected = results("sim-1", 3.5);
    expected.org_id = "org-a".to_owned();
    assert!(read.outputs[0].skewness.is_nan());
    expected.outputs[0].skewness = 0.0;
    let mut read_clean = read.clone();
    read_clean.outputs[0].skewness = 0.0;
    assert_eq!(read_clean, expected);

    let status = client
        .get_results(get("org-b"))
        .await
        .expect_err("other org");
    assert_eq!(status.code(), tonic::Code::NotFound);
    let mut missing = get("org-a");
    missing.simulation_id = "sim-2".to_owned();
    let status = client.get_results(missing).await.expect_err("no results");
    assert_eq!(status.code(), tonic::Code::NotFound);
    // Another organisation cannot overwrite (nor learn about) org-a's results.
    client
        .store_results(store("org-b", results("sim-1", 7.0)))
        .await
        .expect("no-op");
    let again = client
        .get_results(get("org-a"))
        .await
        .expect("get")
        .into_inner();
    assert_eq!(again.outputs[0].mean, 3.5);
    let status = client
        .store_results(v1::StoreResultsRequest {
            caller: caller("org-a"),
            results: None,
        })
        .await
        .expect_err("no results");
    assert_eq!(status.code(), tonic::Code::InvalidArgument);

    shutdown.cancel();
    server.await.expect("joins").expect("stops cleanly");
}
