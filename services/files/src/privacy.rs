//! GDPR on the files service's side: the consumer (group `files`) that carries out
//! `user.deleted` and `org.deleted` ([`FilesStore::erase`]), and the export of the models a
//! user uploaded (metadata; the files themselves stay downloadable through the API).

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use ultra_proto::v1;

use crate::store::FilesStore;

/// The consumer group of the files service.
pub const GROUP: &str = "files";

/// Consumes events until `shutdown`; only erasures have an effect here.
pub fn spawn_consumer(
    store: FilesStore,
    db: ultra_store::Db,
    bus: ultra_bus::Bus,
    shutdown: CancellationToken,
) -> JoinHandle<()> {
    ultra_store::spawn_consumer(db, bus, GROUP, shutdown, move |_db, event| {
        let store = store.clone();
        async move {
            let Some(erasure) = ultra_store::ErasureRequest::from_event(&event) else {
                return Ok::<(), crate::Error>(());
            };
            store.erase(&event.id, &erasure).await?;
            tracing::info!(erasure_id = %erasure.erasure_id, org_id = %erasure.org_id, "erasure done");
            Ok(())
        }
    })
}

/// The caller's models for the GDPR export.
pub struct FilesExport {
    store: FilesStore,
}

impl FilesExport {
    pub fn new(store: FilesStore) -> FilesExport {
        FilesExport { store }
    }
}

#[tonic::async_trait]
impl ultra_rpc::privacy::UserDataExporter for FilesExport {
    async fn export(&self, caller: &v1::Caller) -> Result<String, tonic::Status> {
        let records = self
            .store
            .models_of_user(&caller.org_id, &caller.user_id)
            .await?;
        let models: Vec<serde_json::Value> = records
            .iter()
            .map(|record| {
                serde_json::json!({
                    "id": record.id,
                    "filename": record.filename,
                    "format": record.format,
                    "size_bytes": record.size_bytes,
                    "sha256": record.sha256,
                    "cell_count": record.cell_count,
                    "inputs": record.inputs,
                    "outputs": record.outputs,
                    "created_at_ms": record.created_at_ms,
                })
            })
            .collect();
        Ok(serde_json::json!({ "models": models }).to_string())
    }
}
