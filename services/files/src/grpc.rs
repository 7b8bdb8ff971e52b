//! `FilesService` over gRPC: streaming upload (validated by compiling, stored encrypted),
//! metadata reads, paged listing, deletion and the compiled IR for the simulation service.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use tonic::{Request, Response, Status, Streaming};
use ultra_proto::v1::files_service_server::FilesService;
use ultra_proto::v1::upload_model_request::Part;
use ultra_proto::v1::{
    Caller, CompiledModel, DeleteModelRequest, DeleteModelResponse, GetModelRequest,
    ListModelsRequest, ListModelsResponse, Model, UploadModelRequest,
};
use ultra_rpc::Permission;

use crate::error::{Error, Result};
use crate::model::{self, Format};
use crate::store::{Cursor, FilesStore, ModelRecord};

const DEFAULT_PAGE_SIZE: u32 = 50;
const MAX_PAGE_SIZE: u32 = 200;

pub struct FilesGrpc {
    store: FilesStore,
    max_upload_bytes: u64,
}

impl FilesGrpc {
    pub fn new(store: FilesStore, max_upload_bytes: u64) -> FilesGrpc {
        FilesGrpc {
            store,
            max_upload_bytes,
        }
    }

    async fn upload(&self, mut stream: Streaming<UploadModelRequest>) -> Result<Model> {
        let first = stream.message().await.map_err(Error::Stream)?;
        let Some(UploadModelRequest {
            part: Some(Part::Metadata(metadata)),
        }) = first
        else {
            return Err(Error::InvalidArgument(
                "the first message of an upload must carry the metadata".into(),
            ));
        };
        let caller = authorized(metadata.caller.as_ref(), Permission::FileUpload)?.clone();
        let filename = model::clean_filename(&metadata.filename)?;
        let format = Format::of_filename(&filename)?;
        let mut bytes = Vec::new();
        while let Some(message) = stream.message().await.map_err(Error::Stream)? {
            match message.part {
                Some(Part::Chunk(chunk)) => {
                    let total = bytes.len().saturating_add(chunk.len());
                    if u64::try_from(total).unwrap_or(u64::MAX) > self.max_upload_bytes {
                        return Err(Error::TooLarge {
                            limit: self.max_upload_bytes,
                        });
                    }
                    bytes.extend_from_slice(&chunk);
                }
                Some(Part::Metadata(_)) => {
                    return Err(Error::InvalidArgument(
                        "the metadata may only be sent once, first".into(),
                    ));
                }
                None => {}
            }
        }
        if bytes.is_empty() {
            return Err(Error::InvalidArgument("the file is empty".into()));
        }
        // Compiling a large workbook is CPU work: keep it off the async workers.
        let name = filename.clone();
        let (bytes, compiled) = tokio::task::spawn_blocking(move || {
            let validated = model::validate_upload(format, &name, &bytes);
            (bytes, validated)
        })
        .await?;
        let validated = compiled?;
        let record = ModelRecord {
            id: uuid::Uuid::now_v7().to_string(),
            org_id: caller.org_id,
            user_id: caller.user_id,
            filename,
            format: format.as_str().to_owned(),
            size_bytes: i64::try_from(bytes.len()).unwrap_or(i64::MAX),
            sha256: hex(&Sha256::digest(&bytes)),
            inputs: validated.inputs,
            outputs: validated.outputs,
            cell_count: i64::try_from(validated.cell_count).unwrap_or(i64::MAX),
            created_at_ms: ultra_bus::now_ms(),
        };
        self.store.insert(&record, &bytes).await?;
        tracing::info!(model_id = %record.id, org_id = %record.org_id, format = %record.format, size = record.size_bytes, "model uploaded");
        Ok(to_proto(record))
    }

    async fn get(&self, request: GetModelRequest) -> Result<Model> {
        let caller = caller(request.caller.as_ref())?;
        self.record(caller, &request.model_id).await.map(to_proto)
    }

    async fn list(&self, request: ListModelsRequest) -> Result<ListModelsResponse> {
        let caller = caller(request.caller.as_ref())?;
        let page = request.page.unwrap_or_default();
        let page_size = match page.page_size {
            0 => DEFAULT_PAGE_SIZE,
            size => size.min(MAX_PAGE_SIZE),
        };
        let cursor = match page.page_token.as_str() {
            "" => None,
            token => Some(decode_page_token(token)?),
        };
        // One more than asked tells whether there is a next page.
        let mut models = self
            .store
            .list(&caller.org_id, i64::from(page_size) + 1, cursor.as_ref())
            .await?;
        let next_page_token = if models.len() > page_size as usize {
            models.truncate(page_size as usize);
            models.last().map(encode_page_token).unwrap_or_default()
        } else {
            String::new()
        };
        Ok(ListModelsResponse {
            models: models.into_iter().map(to_proto).collect(),
            next_page_token,
        })
    }

    async fn delete(&self, request: DeleteModelRequest) -> Result<DeleteModelResponse> {
        let caller = authorized(request.caller.as_ref(), Permission::SimulationDelete)?;
        if ultra_rpc::validate_id("model_id", &request.model_id).is_err() {
            return Err(Error::NotFound);
        }
        let deleted = self
            .store
            .delete(&caller.org_id, &caller.user_id, &request.model_id)
            .await?;
        let Some(record) = deleted else {
            return Err(Error::NotFound);
        };
        tracing::info!(model_id = %record.id, org_id = %record.org_id, "model deleted");
        Ok(DeleteModelResponse {})
    }

    async fn compiled(&self, request: GetModelRequest) -> Result<CompiledModel> {
        let caller = caller(request.caller.as_ref())?;
        let record = self.record(caller, &request.model_id).await?;
        let options = model::options(&request.inputs, &request.outputs)?;
        let Some(format) = Format::parse(&record.format) else {
            return Err(Error::Corrupt(format!(
                "model {} has format {:?}",
                record.id, record.format
            )));
        };
        let bytes = self
            .store
            .original_bytes(&record.org_id, &record.id)
            .await?;
        let filename = record.filename.clone();
        let compiled = tokio::task::spawn_blocking(move || {
            model::compile_with(format, &filename, &bytes, &options)
        })
        .await??;
        let ir_json = serde_json::to_string(&compiled.model)
            .map_err(|error| Error::Corrupt(format!("IR does not serialise: {error}")))?;
        Ok(CompiledModel {
            model_id: record.id,
            ir_json,
        })
    }

    /// The model `model_id` of the caller's org; a malformed id or another org's id is
    /// NOT_FOUND, exactly like a missing one.
    async fn record(&self, caller: &Caller, model_id: &str) -> Result<ModelRecord> {
        if ultra_rpc::validate_id("model_id", model_id).is_err() {
            return Err(Error::NotFound);
        }
        self.store
            .get(&caller.org_id, model_id)
            .await?
            .ok_or(Error::NotFound)
    }
}

fn caller(caller: Option<&Caller>) -> Result<&Caller> {
    ultra_rpc::caller(caller).map_err(|status| Error::Unauthenticated(status.message().to_owned()))
}

/// [`caller`], and the signed caller's permission checked (the gateway's check, repeated).
fn authorized(caller: Option<&Caller>, permission: Permission) -> Result<&Caller> {
    ultra_rpc::authorize(caller, permission).map_err(|status| {
        if status.code() == tonic::Code::PermissionDenied {
            Error::PermissionDenied(status.message().to_owned())
        } else {
            Error::Unauthenticated(status.message().to_owned())
        }
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Page tokens are opaque to clients: base64url of `created_at_ms:id` of the last model.
fn encode_page_token(last: &ModelRecord) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}:{}", last.created_at_ms, last.id))
}

fn decode_page_token(token: &str) -> Result<Cursor> {
    let invalid = || Error::InvalidArgument("page_token is invalid".into());
    let decoded = URL_SAFE_NO_PAD.decode(token).map_err(|_| invalid())?;
    let text = String::from_utf8(decoded).map_err(|_| invalid())?;
    let (created_at_ms, id) = text.split_once(':').ok_or_else(invalid)?;
    Ok(Cursor {
        created_at_ms: created_at_ms.parse().map_err(|_| invalid())?,
        id: id.to_owned(),
    })
}

fn to_proto(record: ModelRecord) -> Model {
    Model {
        id: record.id,
        org_id: record.org_id,
        user_id: record.user_id,
        filename: record.filename,
        format: record.format,
        size_bytes: u64::try_from(record.size_bytes).unwrap_or(0),
        sha256: record.sha256,
        created_at_ms: record.created_at_ms,
        inputs: record.inputs.into_iter().map(Into::into).collect(),
        outputs: record.outputs.into_iter().map(Into::into).collect(),
        cell_count: u64::try_from(record.cell_count).unwrap_or(0),
    }
}

#[tonic::async_trait]
impl FilesService for FilesGrpc {
    async fn upload_model(
        &self,
        request: Request<Streaming<UploadModelRequest>>,
    ) -> Result<Response<Model>, Status> {
        Ok(Response::new(self.upload(request.into_inner()).await?))
    }

    async fn get_model(
        &self,
        request: Request<GetModelRequest>,
    ) -> Result<Response<Model>, Status> {
        Ok(Response::new(self.get(request.into_inner()).await?))
    }

    async fn list_models(
        &self,
        request: Request<ListModelsRequest>,
    ) -> Result<Response<ListModelsResponse>, Status> {
        Ok(Response::new(self.list(request.into_inner()).await?))
    }

    async fn delete_model(
        &self,
        request: Request<DeleteModelRequest>,
    ) -> Result<Response<DeleteModelResponse>, Status> {
        Ok(Response::new(self.delete(request.into_inner()).await?))
    }

    async fn get_compiled_model(
        &self,
        request: Request<GetModelRequest>,
    ) -> Result<Response<CompiledModel>, Status> {
        Ok(Response::new(self.compiled(request.into_inner()).await?))
    }
}
