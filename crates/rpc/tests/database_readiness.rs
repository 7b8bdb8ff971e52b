//! Health follows the service's database (issue 6): a real PostgreSQL (ultra-testkit)
//! stopped turns the server NOT_SERVING, started again turns it SERVING, on the same pool.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sqlx::migrate::Migrator;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::service::Routes;
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use ultra_rpc::Readiness;
use ultra_store::DbOptions;
use ultra_testkit::PostgresServer;

const NAME: &str = "ultra.v1.BillingService";

/// The overall and the named status of `channel`'s server.
async fn statuses(channel: &Channel) -> [i32; 2] {
    let mut health = HealthClient::new(channel.clone());
    let mut statuses = [0; 2];
    for (slot, service) in statuses.iter_mut().zip(["", NAME]) {
        *slot = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .expect("health")
            .into_inner()
            .status;
    }
    statuses
}

async fn becomes(channel: &Channel, expected: ServingStatus, within: Duration) {
    let expected = expected as i32;
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let now = statuses(channel).await;
        if now == [expected, expected] {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "health is {now:?}, not {expected} after {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Serves nothing but health, following `readiness`; returns the channel to it.
fn serve(
    readiness: Readiness,
    shutdown: &CancellationToken,
) -> (
    Channel,
    tokio::task::JoinHandle<Result<(), ultra_rpc::RpcError>>,
) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let listener = TcpListener::from_std(listener).expect("tokio listener");
    let server = tokio::spawn(ultra_rpc::serve_ready(
        listener,
        Routes::default(),
        &[NAME],
        readiness,
        shutdown.clone(),
    ));
    (ultra_rpc::lazy_channel(&url).expect("channel"), server)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_follows_the_database() {
    let mut server = PostgresServer::start().expect("start postgres");
    let url = server.create_database("ready").expect("create database");
    let options = DbOptions {
        acquire_timeout: Duration::from_secs(2),
        ..DbOptions::default()
    };
    let db = ultra_store::open_with(&url, &Migrator::DEFAULT, &options)
        .await
        .expect("open");
    let shutdown = CancellationToken::new();
    let (channel, served) = serve(
        Readiness::bus(ultra_bus::Bus::in_process()).and(Readiness::database(db.clone())),
        &shutdown,
    );
    becomes(&channel, ServingStatus::Serving, Duration::from_secs(5)).await;

    // The database goes away: the probe (every 500 ms, a 1 s ping) notices within seconds,
    // and the server itself keeps answering.
    tokio::task::block_in_place(|| server.stop());
    becomes(&channel, ServingStatus::NotServing, Duration::from_secs(5)).await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    becomes(&channel, ServingStatus::NotServing, Duration::ZERO).await;

    // It is back: the same pool reconnects and health is SERVING again.
    tokio::task::block_in_place(|| server.restart()).expect("start postgres again");
    becomes(&channel, ServingStatus::Serving, Duration::from_secs(10)).await;
    db.ping().await.expect("the pool works again");

    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(5), served)
        .await
        .expect("stops")
        .expect("join")
        .expect("clean exit");
    db.close().await;
}

/// `and` is SERVING only while both sides are; either one failing is enough.
#[tokio::test]
async fn both_sides_of_and_must_be_ready() {
    let left = Arc::new(AtomicBool::new(true));
    let right = Arc::new(AtomicBool::new(false));
    let probe = |flag: &Arc<AtomicBool>| {
        let flag = Arc::clone(flag);
        Readiness::new(move || {
            let ready = flag.load(Ordering::SeqCst);
            async move { ready }
        })
    };
    let shutdown = CancellationToken::new();
    let (channel, served) = serve(probe(&left).and(probe(&right)), &shutdown);
    becomes(&channel, ServingStatus::NotServing, Duration::ZERO).await;
    right.store(true, Ordering::SeqCst);
    becomes(&channel, ServingStatus::Serving, Duration::from_secs(5)).await;
    left.store(false, Ordering::SeqCst);
    becomes(&channel, ServingStatus::NotServing, Duration::from_secs(5)).await;
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(5), served)
        .await
        .expect("stops")
        .expect("join")
        .expect("clean exit");
}
