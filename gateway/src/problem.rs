//! RFC 9457 problem details: the one error format of the REST API.
//!
//! Every error the gateway answers — a rejected body, a bad token, an unknown route, an
//! upstream gRPC status — becomes an [`ApiError`], and [`ApiError::problem`] is the one
//! place that decides its HTTP status and its stable `type` URI. Clients branch on `type`
//! (never on `title` or `detail`, which are for humans).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tonic::Code;

use crate::request_id;

/// Prefix of every problem `type` URI.
pub const PROBLEM_BASE: &str = "https://ultra.dev/problems/";

/// The media type of every error body.
pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

/// Everything that can go wrong while answering a request.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("no bearer token")]
    MissingToken,
    #[error("invalid token: {0}")]
    InvalidToken(String),
    #[error("role lacks permission {0}")]
    Forbidden(&'static str),
    /// An API key whose scopes do not include the permission.
    #[error("API key lacks scope {0}")]
    ForbiddenScope(&'static str),
    #[error("body is not valid JSON: {0}")]
    MalformedJson(String),
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    #[error("unsupported media type: {0}")]
    UnsupportedMediaType(String),
    #[error("payload too large: {0}")]
    PayloadTooLarge(String),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("request timed out")]
    Timeout,
    /// The organisation spent its plan's request bucket: 429 `quota-exceeded` with a
    /// `Retry-After` of `retry_after_seconds`, after which a request is served.
    #[error("rate limit of the {tier} plan exceeded; retry after {retry_after_seconds} s")]
    RateLimited {
        tier: ultra_auth::PlanTier,
        per_minute: u32,
        burst: u32,
        retry_after_seconds: u64,
    },
    /// Too many failed logins for the account or the client address (the users service's
    /// lockout): 429 `too-many-login-attempts` with a `Retry-After`.
    #[error("too many failed logins; retry after {retry_after_seconds} s")]
    LoginThrottled { retry_after_seconds: u64 },
    /// The files service rejected the model itself (INVALID_ARGUMENT on upload): 422 with
    /// the cells at fault in `detail`, unlike a malformed request (400).
    #[error("invalid model: {}", .0.message())]
    InvalidModel(tonic::Status),
    /// Any other status from a service.
    #[error("upstream: {0}")]
    Upstream(#[from] tonic::Status),
}

/// The JSON body of a problem response (RFC 9457 members plus `request_id`).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// Stable URI naming the kind of problem, e.g. `https://ultra.dev/problems/not-found`.
    #[serde(rename = "type")]
    pub problem_type: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// The request path this occurrence belongs to.
    pub instance: String,
    /// The `x-request-id` of the request, to find it in the logs.
    pub request_id: String,
}

/// Status, `type` slug and title of a problem kind.
struct Kind(StatusCode, &'static str, &'static str);

const NOT_FOUND: Kind = Kind(StatusCode::NOT_FOUND, "not-found", "Not found");
const INVALID_ARGUMENT: Kind = Kind(
    StatusCode::BAD_REQUEST,
    "invalid-argument",
    "Invalid argument",
);
const UNAUTHENTICATED: Kind = Kind(
    StatusCode::UNAUTHORIZED,
    "unauthenticated",
    "Authentication required",
);
const CONFLICT: Kind = Kind(StatusCode::CONFLICT, "conflict", "Conflict");
const UNAVAILABLE: Kind = Kind(
    StatusCode::SERVICE_UNAVAILABLE,
    "service-unavailable",
    "Service unavailable",
);
const INTERNAL: Kind = Kind(
    StatusCode::INTERNAL_SERVER_ERROR,
    "internal",
    "Internal error",
);
const TIMEOUT: Kind = Kind(StatusCode::GATEWAY_TIMEOUT, "timeout", "Timed out");
const QUOTA_EXCEEDED: Kind = Kind(
    StatusCode::TOO_MANY_REQUESTS,
    "quota-exceeded",
    "Quota exceeded",
);

/// The one mapping from a gRPC code to a problem kind. Exhaustive: a new code forces a
/// decision here.
fn kind_of_code(code: Code) -> Kind {
    match code {
        Code::NotFound => NOT_FOUND,
        Code::InvalidArgument | Code::OutOfRange => INVALID_ARGUMENT,
        Code::Unauthenticated => UNAUTHENTICATED,
        Code::PermissionDenied => Kind(StatusCode::FORBIDDEN, "forbidden", "Forbidden"),
        Code::ResourceExhausted => QUOTA_EXCEEDED,
        Code::AlreadyExists | Code::Aborted => CONFLICT,
        Code::FailedPrecondition => Kind(
            StatusCode::CONFLICT,
            "failed-precondition",
            "Not allowed in the current state",
        ),
        Code::Unavailable | Code::Cancelled => UNAVAILABLE,
        Code::DeadlineExceeded => TIMEOUT,
        Code::Unimplemented => Kind(
            StatusCode::NOT_IMPLEMENTED,
            "not-implemented",
            "Not implemented",
        ),
        Code::Ok | Code::Unknown | Code::Internal | Code::DataLoss => INTERNAL,
    }
}

/// [`kind_of_code`], except where the service named a finer problem type in the status's
/// metadata ([`ultra_rpc::PROBLEM_METADATA`]).
fn kind_of_status(status: &tonic::Status) -> Kind {
    let named = status
        .metadata()
        .get(ultra_rpc::PROBLEM_METADATA)
        .and_then(|value| value.to_str().ok());
    match named {
        Some(ultra_rpc::PLAN_LIMIT_PROBLEM) => {
            let status_code = if status.code() == Code::ResourceExhausted {
                StatusCode::TOO_MANY_REQUESTS
            } else {
                StatusCode::FORBIDDEN
            };
            Kind(
                status_code,
                ultra_rpc::PLAN_LIMIT_PROBLEM,
                "Plan limit exceeded",
            )
        }
        _ => kind_of_code(status.code()),
    }
}

impl ApiError {
    /// Maps a status from the users service's login: its lockout (RESOURCE_EXHAUSTED with
    /// `retry-after` metadata) is 429 `too-many-login-attempts`.
    pub fn from_login(status: tonic::Status) -> Self {
        if status.code() != Code::ResourceExhausted {
            return ApiError::Upstream(status);
        }
        let retry_after_seconds = status
            .metadata()
            .get("retry-after")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse::<u64>().ok())
            .unwrap_or(1)
            .max(1);
        ApiError::LoginThrottled {
            retry_after_seconds,
        }
    }

    /// Maps a status from the files service's upload: a rejected model is 422.
    pub fn from_upload(status: tonic::Status) -> Self {
        if status.code() == Code::InvalidArgument {
            ApiError::InvalidModel(status)
        } else {
            ApiError::Upstream(status)
        }
    }

    fn kind_and_detail(&self) -> (Kind, String) {
        match self {
            ApiError::MissingToken => (UNAUTHENTICATED, "a bearer token is required".into()),
            ApiError::InvalidToken(reason) => (
                Kind(StatusCode::UNAUTHORIZED, "invalid-token", "Invalid token"),
                reason.clone(),
            ),
            ApiError::Forbidden(permission) => (
                Kind(StatusCode::FORBIDDEN, "forbidden", "Forbidden"),
                format!("your role lacks the permission {permission}"),
            ),
            ApiError::ForbiddenScope(permission) => (
                Kind(StatusCode::FORBIDDEN, "forbidden", "Forbidden"),
                format!("this API key is not scoped for {permission}"),
            ),
            ApiError::MalformedJson(reason) => (
                Kind(StatusCode::BAD_REQUEST, "malformed-json", "Malformed JSON"),
                reason.clone(),
            ),
            ApiError::InvalidRequest(reason) => (INVALID_ARGUMENT, reason.clone()),
            ApiError::UnsupportedMediaType(reason) => (
                Kind(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported-media-type",
                    "Unsupported media type",
                ),
                reason.clone(),
            ),
            ApiError::PayloadTooLarge(reason) => (
                Kind(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload-too-large",
                    "Payload too large",
                ),
                reason.clone(),
            ),
            ApiError::NotFound(what) => (NOT_FOUND, what.clone()),
            ApiError::MethodNotAllowed => (
                Kind(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "method-not-allowed",
                    "Method not allowed",
                ),
                "this route does not accept this method".into(),
            ),
            ApiError::Timeout => (TIMEOUT, "the request took too long".into()),
            ApiError::RateLimited {
                tier,
                per_minute,
                burst,
                retry_after_seconds,
            } => (
                QUOTA_EXCEEDED,
                format!(
                    "your organisation's {tier} plan allows {per_minute} API requests per \
                     minute (bursts of up to {burst}); retry after {retry_after_seconds} s"
                ),
            ),
            ApiError::LoginThrottled {
                retry_after_seconds,
            } => (
                Kind(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too-many-login-attempts",
                    "Too many failed logins",
                ),
                format!(
                    "too many failed logins for this account or address; retry after \
                     {retry_after_seconds} s"
                ),
            ),
            ApiError::InvalidModel(status) => (
                Kind(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid-model",
                    "Invalid model",
                ),
                status.message().to_string(),
            ),
            ApiError::Upstream(status) => {
                let kind = kind_of_status(status);
                // Internal details of a failing service stay in the logs.
                let detail = if kind.0.is_server_error() {
                    tracing::warn!(code = ?status.code(), message = status.message(), "upstream error");
                    kind.2.to_string()
                } else {
                    status.message().to_string()
                };
                (kind, detail)
            }
        }
    }

    /// The problem document of this error, for the current request.
    pub fn problem(&self) -> Problem {
        let (Kind(status, slug, title), detail) = self.kind_and_detail();
        let context = request_id::current();
        Problem {
            problem_type: format!("{PROBLEM_BASE}{slug}"),
            title: title.to_string(),
            status: status.as_u16(),
            detail,
            instance: context.path,
            request_id: context.id,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let retry_after = match &self {
            ApiError::RateLimited {
                retry_after_seconds,
                ..
            }
            | ApiError::LoginThrottled {
                retry_after_seconds,
            } => Some(HeaderValue::from(*retry_after_seconds)),
            _ => None,
        };
        let problem = self.problem();
        let status =
            StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        let mut response = (status, body).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(PROBLEM_CONTENT_TYPE),
        );
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(retry_after) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, retry_after);
        }
        response
    }
}

/// Result of a handler.
pub type ApiResult<T> = Result<T, ApiError>;
