//! `/v1/models`: upload (multipart), list, get, delete.

use crate::auth::Permission;
use axum::Json;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, Path, State};
use axum::http::StatusCode;
use ultra_proto::v1 as pb;

use crate::AppState;
use crate::extract::{ApiQuery, Authenticated};
use crate::problem::{ApiError, ApiResult, Problem};
use crate::tenancy::Resource;
use crate::views::{ModelList, ModelView, PageQuery};

/// Bytes per `UploadModel` stream message.
const UPLOAD_CHUNK_BYTES: usize = 64 * 1024;

/// Body of a model upload, for the OpenAPI document.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct UploadForm {
    /// The `.xlsx`, `.xlsm` or `.json` model.
    #[schema(format = Binary, content_media_type = "application/octet-stream")]
    file: String,
}

fn multipart_rejection(rejection: MultipartRejection) -> ApiError {
    ApiError::UnsupportedMediaType(format!(
        "expected multipart/form-data with a `file` field ({})",
        rejection.body_text()
    ))
}

/// Reads the `file` field, enforcing the upload limit as bytes arrive.
async fn read_file_field(
    multipart: &mut Multipart,
    max_bytes: usize,
) -> ApiResult<(String, String, Vec<u8>)> {
    let too_large =
        || ApiError::PayloadTooLarge(format!("uploads are limited to {max_bytes} bytes"));
    let field_error = |error: axum::extract::multipart::MultipartError| {
        if error.status() == StatusCode::PAYLOAD_TOO_LARGE {
            too_large()
        } else {
            ApiError::InvalidRequest(error.body_text())
        }
    };
    while let Some(mut field) = multipart.next_field().await.map_err(field_error)? {
        if field.name() != Some("file") {
            continue;
        }
        let filename = field.file_name().unwrap_or("model").to_string();
        let content_type = field
            .content_type()
            .unwrap_or("application/octet-stream")
            .to_string();
        let mut bytes = Vec::new();
        while let Some(chunk) = field.chunk().await.map_err(field_error)? {
            if bytes.len() + chunk.len() > max_bytes {
                return Err(too_large());
            }
            bytes.extend_from_slice(&chunk);
        }
        return Ok((filename, content_type, bytes));
    }
    Err(ApiError::InvalidRequest(
        "the multipart body has no `file` field".into(),
    ))
}

/// Uploads a model (multipart field `file`); it is parsed and validated before it is stored,
/// so a bad model answers 422 `invalid-model` naming the cells at fault.
#[utoipa::path(post, path = "/v1/models", tag = "models", security(("bearer" = [])),
    request_body(content = UploadForm, content_type = "multipart/form-data"),
    responses((status = 201, body = ModelView), (status = 413, body = Problem),
              (status = 415, body = Problem), (status = 422, body = Problem)))]
pub async fn upload(
    State(state): State<AppState>,
    auth: Authenticated,
    multipart: Result<Multipart, MultipartRejection>,
) -> ApiResult<(StatusCode, Json<ModelView>)> {
    let caller = auth.require(Permission::FileUpload)?.clone();
    let mut multipart = multipart.map_err(multipart_rejection)?;
    let (filename, content_type, bytes) =
        read_file_field(&mut multipart, state.max_upload_bytes).await?;
    let mut messages = vec![pb::UploadModelRequest {
        part: Some(pb::upload_model_request::Part::Metadata(
            pb::UploadMetadata {
                caller: Some(caller),
                filename,
                content_type,
            },
        )),
    }];
    messages.extend(
        bytes
            .chunks(UPLOAD_CHUNK_BYTES)
            .map(|chunk| pb::UploadModelRequest {
                part: Some(pb::upload_model_request::Part::Chunk(chunk.to_vec())),
            }),
    );
    let model = state
        .upstreams
        .files
        .clone()
        .upload_model(auth.request(futures_util::stream::iter(messages))?)
        .await
        .map_err(ApiError::from_upload)?
        .into_inner();
    Ok((StatusCode::CREATED, Json(ModelView::from(model))))
}

/// The organisation's models, newest first.
#[utoipa::path(get, path = "/v1/models", tag = "models", security(("bearer" = [])),
    params(("page_size" = Option<u32>, Query), ("page_token" = Option<String>, Query)),
    responses((status = 200, body = ModelList)))]
pub async fn list(
    State(state): State<AppState>,
    auth: Authenticated,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> ApiResult<Json<ModelList>> {
    let caller = auth.require(Permission::SimulationRead)?.clone();
    let request = pb::ListModelsRequest {
        caller: Some(caller),
        page: Some(page.into()),
    };
    let response = state
        .upstreams
        .files
        .clone()
        .list_models(auth.request(request)?)
        .await?
        .into_inner();
    Ok(Json(ModelList {
        models: response.models.into_iter().map(ModelView::from).collect(),
        next_page_token: response.next_page_token,
    }))
}

/// One model's metadata: inputs, outputs, size, checksum.
#[utoipa::path(get, path = "/v1/models/{id}", tag = "models", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = ModelView), (status = 404, body = Problem)))]
pub async fn get(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(model_id): Path<String>,
) -> ApiResult<Json<ModelView>> {
    let caller = auth
        .require_or_not_found(
            &state,
            Permission::SimulationRead,
            Resource::Model(&model_id),
        )
        .await?
        .clone();
    let request = pb::GetModelRequest {
        caller: Some(caller),
        model_id,
        ..Default::default()
    };
    let model = state
        .upstreams
        .files
        .clone()
        .get_model(auth.request(request)?)
        .await?
        .into_inner();
    Ok(Json(ModelView::from(model)))
}

/// Deletes a model (its stored bytes and metadata).
#[utoipa::path(delete, path = "/v1/models/{id}", tag = "models", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = Problem)))]
pub async fn delete(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(model_id): Path<String>,
) -> ApiResult<StatusCode> {
    let caller = auth
        .require_or_not_found(
            &state,
            Permission::SimulationDelete,
            Resource::Model(&model_id),
        )
        .await?
        .clone();
    let request = pb::DeleteModelRequest {
        caller: Some(caller),
        model_id,
    };
    state
        .upstreams
        .files
        .clone()
        .delete_model(auth.request(request)?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
