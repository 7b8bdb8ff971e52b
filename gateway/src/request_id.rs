//! Request ids: taken from `x-request-id` when the client sends a sane one, generated
//! (UUIDv7) otherwise, echoed on the response, recorded on the request's tracing span and
//! written into every problem document. Likewise the W3C trace context (`traceparent`):
//! continued from the client's or started here, scoped over the request so that gRPC calls
//! and events carry it, and returned on the response.

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;
use ultra_telemetry::{TRACEPARENT, TraceContext};

/// The header that carries the request id, both ways.
pub const HEADER: &str = "x-request-id";

/// What error responses need to know about the request they answer.
#[derive(Clone, Debug, Default)]
pub struct RequestContext {
    pub id: String,
    pub path: String,
}

tokio::task_local! {
    static CONTEXT: RequestContext;
}

/// The context of the request being answered on this task (empty outside a request).
pub fn current() -> RequestContext {
    CONTEXT.try_with(Clone::clone).unwrap_or_default()
}

/// A client-supplied id is kept only if it is short and printable, so it cannot forge log
/// lines or bloat headers.
fn accept_client_id(value: &HeaderValue) -> Option<String> {
    let text = value.to_str().ok()?;
    let sane = !text.is_empty()
        && text.len() <= 128
        && text
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || b"-_.:".contains(&byte));
    sane.then(|| text.to_string())
}

/// Middleware: assigns the id, scopes the request's task with it and logs the outcome.
pub async fn layer(mut request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get(HEADER)
        .and_then(accept_client_id)
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    let context = RequestContext {
        id: id.clone(),
        path: request.uri().path().to_string(),
    };
    let header_value = HeaderValue::from_str(&id).unwrap_or(HeaderValue::from_static("invalid"));
    request.headers_mut().insert(HEADER, header_value.clone());
    // The client's trace when it sent a valid `traceparent`, else a new one: every gRPC call
    // and event this request causes carries it on.
    let trace = request
        .headers()
        .get(TRACEPARENT)
        .and_then(|value| value.to_str().ok())
        .and_then(TraceContext::parse)
        .map_or_else(TraceContext::new_root, |client| client.child());
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        trace_id = %trace.trace_id(),
        method = %request.method(),
        path = %context.path,
    );
    let started = std::time::Instant::now();
    let mut response = ultra_telemetry::scope(trace, CONTEXT.scope(context, next.run(request)))
        .instrument(span.clone())
        .await;
    // Debug, not info: one line per request costs more than the progress poll itself.
    span.in_scope(|| {
        tracing::debug!(
            status = response.status().as_u16(),
            elapsed_us = started.elapsed().as_micros() as u64,
            "request finished"
        );
    });
    response.headers_mut().insert(HEADER, header_value);
    if let Ok(traceparent) = HeaderValue::from_str(&trace.to_string()) {
        response.headers_mut().insert(TRACEPARENT, traceparent);
    }
    response
}
