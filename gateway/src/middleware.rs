//! Cross-cutting layers: per-request timeout, CORS, security headers, and turning the
//! router's own bare error responses (405, body-limit 413) into problem documents.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::problem::ApiError;

/// Routes that stream (SSE) and so must not be cut by the request timeout.
fn is_streaming(request: &Request) -> bool {
    request.uri().path().ends_with("/events")
}

/// Middleware: answers 504 `timeout` when a (non-streaming) handler takes longer than the
/// configured limit, so a stuck upstream never holds a client forever.
pub async fn timeout(State(limit): State<Duration>, request: Request, next: Next) -> Response {
    if is_streaming(&request) {
        return next.run(request).await;
    }
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::Timeout.into_response(),
    }
}

/// Middleware: replaces a bare error response produced by axum itself (method not allowed,
/// body limit) with the matching problem document. Handler errors are already problems.
pub async fn problem_for_bare_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    // Handlers answer problems (or, like /readyz, a JSON body on purpose); only axum's own
    // answers come bare or as plain text.
    let is_bare = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_none_or(|value| value.as_bytes().starts_with(b"text/plain"));
    if !is_bare {
        return response;
    }
    let error = match status {
        StatusCode::METHOD_NOT_ALLOWED => ApiError::MethodNotAllowed,
        StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::PayloadTooLarge("the request body exceeds the limit".into())
        }
        StatusCode::NOT_FOUND => ApiError::NotFound("no such route".into()),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            ApiError::UnsupportedMediaType("unsupported content type".into())
        }
        StatusCode::SERVICE_UNAVAILABLE => {
            ApiError::Upstream(tonic::Status::unavailable("service unavailable"))
        }
        _ if status.is_server_error() => {
            ApiError::Upstream(tonic::Status::internal("internal error"))
        }
        _ => ApiError::InvalidRequest(format!("request rejected ({status})")),
    };
    let allow = response.headers().get(header::ALLOW).cloned();
    let mut problem = error.into_response();
    if let Some(allow) = allow {
        problem.headers_mut().insert(header::ALLOW, allow);
    }
    problem
}

/// The origins allowed to call the API from a browser.
#[derive(Clone, Debug, Default)]
pub struct CorsOrigins {
    /// `*` in the configuration: any origin (no credentials are used: tokens are bearer).
    pub any: bool,
    pub exact: Vec<String>,
}

impl CorsOrigins {
    /// Parses a comma-separated list (`ULTRA_CORS_ORIGINS`); empty allows none.
    pub fn parse(list: &str) -> Self {
        let mut origins = CorsOrigins::default();
        for origin in list.split(',').map(str::trim).filter(|o| !o.is_empty()) {
            if origin == "*" {
                origins.any = true;
            } else {
                origins.exact.push(origin.trim_end_matches('/').to_string());
            }
        }
        origins
    }

    fn allows(&self, origin: &str) -> bool {
        self.any || self.exact.iter().any(|allowed| allowed == origin)
    }
}

const ALLOWED_METHODS: &str = "GET, POST, DELETE, OPTIONS";
const ALLOWED_HEADERS: &str = "authorization, content-type, x-request-id, last-event-id";

/// Middleware: CORS for the configured origins. Preflights from an allowed origin are
/// answered here (204); other requests get `access-control-allow-origin` added. Requests
/// from origins not listed get no CORS headers, so the browser blocks them.
pub async fn cors(
    State(origins): State<Arc<CorsOrigins>>,
    request: Request,
    next: Next,
) -> Response {
    let origin = request
        .headers()
        .get(header::ORIGIN)
        .and_then(|value| value.to_str().ok())
        .map(str::to_string);
    let Some(origin) = origin.filter(|origin| origins.allows(origin)) else {
        return next.run(request).await;
    };
    let allow_origin = HeaderValue::from_str(&origin).unwrap_or(HeaderValue::from_static("null"));
    let is_preflight = request.method() == Method::OPTIONS
        && request
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    let mut response = if is_preflight {
        let mut preflight = StatusCode::NO_CONTENT.into_response();
        let headers = preflight.headers_mut();
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static(ALLOWED_METHODS),
        );
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static(ALLOWED_HEADERS),
        );
        headers.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("600"),
        );
        preflight
    } else {
        next.run(request).await
    };
    let headers = response.headers_mut();
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, allow_origin);
    headers.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        // Retry-After is not CORS-safelisted: without this a console could not read it.
        HeaderValue::from_static("x-request-id, retry-after"),
    );
    headers.append(header::VARY, HeaderValue::from_static("origin"));
    response
}

/// `Strict-Transport-Security` when the gateway serves HTTPS itself: two years, subdomains
/// included (browsers ignore it over plain HTTP, where it is therefore not sent).
const HSTS: &str = "max-age=63072000; includeSubDomains";
/// The API serves JSON, never documents: nothing may load, and nothing may frame it.
const CSP: &str = "default-src 'none'; frame-ancestors 'none'";

/// Middleware (outermost): security headers on every response, errors and preflights
/// included. `Cache-Control: no-store` unless the handler chose a policy (SSE streams say
/// `no-cache`): API answers carry tenant data that no shared cache should keep.
pub async fn security_headers(State(hsts): State<bool>, request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if hsts {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(HSTS),
        );
    }
    response
}
