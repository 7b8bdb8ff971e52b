//! A files service on 127.0.0.1:0 with SQLite and the object store in a temp dir.

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;
use ultra_bus::Bus;
use ultra_proto::v1::files_service_client::FilesServiceClient;
use ultra_proto::v1::upload_model_request::Part;
use ultra_proto::v1::{Caller, Model, UploadMetadata, UploadModelRequest};

pub const MASTER_KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

pub struct Harness {
    pub client: FilesServiceClient<Channel>,
    pub channel: Channel,
    pub bus: Bus,
    pub storage_dir: PathBuf,
    shutdown: CancellationToken,
    server: tokio::task::JoinHandle<ultra_files::Result<()>>,
    _dir: tempfile::TempDir,
}

pub fn env(dir: &tempfile::TempDir) -> HashMap<String, String> {
    HashMap::from([
        (
            "ULTRA_FILES_DATABASE_URL".into(),
            format!("sqlite://{}/files.db", dir.path().display()),
        ),
        (
            "ULTRA_FILES_STORAGE_DIR".into(),
            dir.path().join("objects").display().to_string(),
        ),
        ("ULTRA_MASTER_KEY".into(), MASTER_KEY.into()),
    ])
}

pub async fn start() -> Harness {
    start_with(&[]).await
}

pub async fn start_with(overrides: &[(&str, &str)]) -> Harness {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut vars = env(&dir);
    for (name, value) in overrides {
        vars.insert((*name).into(), (*value).into());
    }
    let config = ultra_files::Config::from_env(&vars).expect("config");
    let storage_dir = config.storage_dir.clone().expect("a local object store");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let bus = Bus::in_process();
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(ultra_files::serve(
        config,
        bus.clone(),
        listener,
        shutdown.clone(),
    ));
    let channel = ultra_rpc::lazy_channel(&url).expect("channel");
    let client = FilesServiceClient::new(channel.clone());
    Harness {
        client,
        channel,
        bus,
        storage_dir,
        shutdown,
        server,
        _dir: dir,
    }
}

impl Harness {
    pub async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(5), self.server)
            .await
            .expect("stops")
            .expect("join")
            .expect("clean exit");
    }

    /// Uploads `bytes` as `filename` in 1 KiB chunks.
    pub async fn upload(
        &mut self,
        caller: &Caller,
        filename: &str,
        bytes: &[u8],
    ) -> Result<Model, tonic::Status> {
        let mut messages = vec![UploadModelRequest {
            part: Some(Part::Metadata(UploadMetadata {
                caller: Some(caller.clone()),
                filename: filename.into(),
                content_type: "application/octet-stream".into(),
            })),
        }];
        messages.extend(bytes.chunks(1024).map(|chunk| UploadModelRequest {
            part: Some(Part::Chunk(chunk.to_vec())),
        }));
        self.client
            .upload_model(tokio_stream::iter(messages))
            .await
            .map(tonic::Response::into_inner)
    }
}

/// A power user: the service checks permissions itself, and deleting a model needs
/// `simulation.delete`, which analysts lack.
pub fn caller(org: &str, user: &str) -> Caller {
    Caller {
        org_id: org.into(),
        user_id: user.into(),
        role: ultra_proto::v1::Role::PowerUser as i32,
    }
}

pub fn example(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

pub fn example_exists(name: &str) -> bool {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples")
        .join(name)
        .exists()
}

/// Every file under `dir`, recursively.
pub fn files_under(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).expect("read_dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                pending.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files
}
