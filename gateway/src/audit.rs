//! Recording state-changing requests in the users service's audit log.
//!
//! [`layer`] recognises the audited routes ([`AUDITED_ROUTES`]: one line per route, so a new
//! route is one line here), lets the request run, and then hands one entry to the
//! [`AuditSink`] with the caller (filled in by the `Authenticated` extractor through a
//! [`CallerSlot`]), the client address, user agent and request id, the target resource
//! (the path's id, or for a creation the `id` of the created resource in the response) and
//! the outcome from the status. Handlers with something the table cannot express call
//! [`record`] themselves.
//!
//! Recording never delays or fails the client's request: entries go through a bounded
//! queue to a background task that appends them with `AppendAudit` and retries while the
//! users service is unavailable (each entry has an id, so a retry after a lost answer is
//! stored once). An entry that cannot be queued (the queue is full) or that is still
//! refused after the retries is written to the log at WARN with every field, so it is not
//! lost silently.
//!
//! Not recorded here: requests without a valid credential (no organisation to attribute
//! them to), requests refused by the gateway's rate limit (nothing happened, and recording
//! them would let a flood fill the log), and the auth routes, which the users service
//! records itself.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, FromRef, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tonic::Code;
use tonic::transport::Channel;
use ultra_proto::v1 as pb;
use ultra_proto::v1::users_service_client::UsersServiceClient;

use crate::AppState;

/// Entries waiting for the users service; beyond this they are logged instead.
const QUEUE_CAPACITY: usize = 10_000;
/// Appends of one entry before it is given up (and logged): about two minutes of backoff.
const MAX_ATTEMPTS: u32 = 30;
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// A created resource's id is read from response bodies up to this size; larger bodies, and
/// bodies of unknown length (streamed), are passed on unread.
const MAX_CREATED_BODY_BYTES: usize = 1 << 20;
/// The action of `DELETE /v1/org`: a success erases the organisation's audit chain, so it is
/// not appended there (that would start a new chain, with personal data, for an erased
/// organisation); it is logged without personal data instead.
const ORGANIZATION_DELETE: &str = "organization.delete";

pub const OUTCOME_SUCCESS: &str = "success";
pub const OUTCOME_FAILURE: &str = "failure";
pub const OUTCOME_DENIED: &str = "denied";

/// What an audited request acts on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// The path's `{id}` segment.
    PathId,
    /// The resource a success creates: the string at this JSON pointer of the response.
    Created(&'static str),
    /// The acting user (`/v1/me`).
    Caller,
    /// The acting user's organisation.
    Organization,
}

/// An audited route: method, path pattern (`{id}` matches one segment), action name, what
/// it acts on, and optionally a JSON pointer into a successful response whose value goes
/// into the entry's detail (a member's new role, a key's scopes).
pub struct AuditedRoute {
    pub method: Method,
    pub pattern: &'static str,
    pub action: &'static str,
    pub target: Target,
    pub detail: Option<&'static str>,
}

const fn route(
    method: Method,
    pattern: &'static str,
    action: &'static str,
    target: Target,
) -> AuditedRoute {
    AuditedRoute {
        method,
        pattern,
        action,
        target,
        detail: None,
    }
}

const fn with_detail(
    method: Method,
    pattern: &'static str,
    action: &'static str,
    target: Target,
    pointer: &'static str,
) -> AuditedRoute {
    AuditedRoute {
        method,
        pattern,
        action,
        target,
        detail: Some(pointer),
    }
}

/// Every state-changing route of the REST API (and the exports), with its action name.
/// Login, refresh, logout and registration are recorded by the users service.
pub const AUDITED_ROUTES: &[AuditedRoute] = &[
    route(
        Method::POST,
        "/v1/models",
        "model.upload",
        Target::Created("/id"),
    ),
    route(
        Method::DELETE,
        "/v1/models/{id}",
        "model.delete",
        Target::PathId,
    ),
    route(
        Method::POST,
        "/v1/simulations",
        "simulation.run",
        Target::Created("/id"),
    ),
    route(
        Method::POST,
        "/v1/simulations/{id}/cancel",
        "simulation.cancel",
        Target::PathId,
    ),
    route(Method::GET, "/v1/me/export", "data.export", Target::Caller),
    route(Method::DELETE, "/v1/me", "data.delete", Target::Caller),
    route(
        Method::DELETE,
        "/v1/org",
        ORGANIZATION_DELETE,
        Target::Organization,
    ),
    route(
        Method::PUT,
        "/v1/org/oidc",
        "organization.sso_configure",
        Target::Organization,
    ),
    with_detail(
        Method::POST,
        "/v1/org/members",
        "member.add",
        Target::Created("/member/user_id"),
        "/member/role",
    ),
    with_detail(
        Method::PATCH,
        "/v1/org/members/{id}",
        "member.role_change",
        Target::PathId,
        "/role",
    ),
    route(
        Method::DELETE,
        "/v1/org/members/{id}",
        "member.remove",
        Target::PathId,
    ),
    with_detail(
        Method::POST,
        "/v1/api-keys",
        "api_key.create",
        Target::Created("/key/id"),
        "/key/scopes",
    ),
    route(
        Method::DELETE,
        "/v1/api-keys/{id}",
        "api_key.revoke",
        Target::PathId,
    ),
];

/// Who acted: a user, or an API key (by its id).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    pub caller: pb::Caller,
    /// `"user"` or `"api_key"`.
    pub actor_type: &'static str,
    pub actor_id: String,
}

impl Actor {
    /// A user acting with an access token.
    pub fn user(caller: &pb::Caller) -> Actor {
        Actor {
            caller: caller.clone(),
            actor_type: "user",
            actor_id: caller.user_id.clone(),
        }
    }

    /// An API key acting for its organisation.
    pub fn api_key(caller: &pb::Caller, key_id: &str) -> Actor {
        Actor {
            caller: caller.clone(),
            actor_type: "api_key",
            actor_id: key_id.to_owned(),
        }
    }
}

/// Where the `Authenticated` extractor leaves the verified actor of an audited request.
#[derive(Clone, Default)]
pub struct CallerSlot(Arc<Mutex<Option<Actor>>>);

impl CallerSlot {
    pub fn set(&self, actor: Actor) {
        if let Ok(mut slot) = self.0.lock() {
            *slot = Some(actor);
        }
    }

    fn take(&self) -> Option<Actor> {
        self.0.lock().ok().and_then(|mut slot| slot.take())
    }
}

/// The client of a request as the audit log and the login throttle see it.
pub fn client_context(
    headers: &HeaderMap,
    peer: Option<SocketAddr>,
    trust_forwarded_for: bool,
) -> pb::ClientContext {
    let forwarded = trust_forwarded_for
        .then(|| forwarded_client(headers))
        .flatten();
    let ip = forwarded
        .or_else(|| peer.map(|peer| peer.ip()))
        .map(|ip| ip.to_string())
        .unwrap_or_default();
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|value| value.to_str().ok())
        .map(|agent| agent.chars().take(512).collect())
        .unwrap_or_default();
    pb::ClientContext {
        ip,
        user_agent,
        request_id: crate::request_id::current().id,
    }
}

/// The client address a trusted proxy in front of us saw: the last `X-Forwarded-For`
/// entry (the one that proxy appended; earlier entries are whatever the client claimed).
fn forwarded_client(headers: &HeaderMap) -> Option<IpAddr> {
    headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .next_back()
        .and_then(|last| last.trim().parse().ok())
}

/// The client of `request` (peer address from the connection, when served with one).
pub fn client_of(request: &Request, trust_forwarded_for: bool) -> pb::ClientContext {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0);
    client_context(request.headers(), peer, trust_forwarded_for)
}

/// Extractor: the client of the request ([`client_context`]), for the auth routes that
/// pass it to the users service.
pub struct Client(pub pb::ClientContext);

impl<S> FromRequestParts<S> for Client
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let app = AppState::from_ref(state);
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|info| info.0);
        Ok(Client(client_context(
            &parts.headers,
            peer,
            app.trust_forwarded_for,
        )))
    }
}

/// Queues an entry for `action` on `target_id` by `actor`; never blocks, never fails the
/// request (see the module documentation for what happens when it cannot be delivered).
pub fn record(
    state: &AppState,
    actor: &Actor,
    client: &pb::ClientContext,
    action: &str,
    target_id: &str,
    outcome: &str,
    detail: &str,
) {
    let entry = pb::AppendAuditRequest {
        caller: Some(actor.caller.clone()),
        id: uuid::Uuid::now_v7().to_string(),
        actor_type: actor.actor_type.to_owned(),
        actor_id: actor.actor_id.clone(),
        action: action.to_owned(),
        target_id: target_id.to_owned(),
        outcome: outcome.to_owned(),
        detail: detail.to_owned(),
        client: Some(client.clone()),
        occurred_at_ms: crate::now_ms(),
    };
    state.audit.push(entry);
}

/// The outcome a response status means.
pub fn outcome_of(status: StatusCode) -> &'static str {
    match status {
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => OUTCOME_DENIED,
        status if status.is_success() || status.is_redirection() => OUTCOME_SUCCESS,
        _ => OUTCOME_FAILURE,
    }
}

/// The audited route `method path` is, with the path's `{id}` segment.
fn audited_route<'a>(method: &Method, path: &'a str) -> Option<(&'static AuditedRoute, &'a str)> {
    let path = path.strip_suffix('/').unwrap_or(path);
    AUDITED_ROUTES.iter().find_map(|route| {
        if route.method != method {
            return None;
        }
        let mut target = "";
        let mut segments = path.split('/');
        for expected in route.pattern.split('/') {
            let actual = segments.next()?;
            if expected == "{id}" {
                if actual.is_empty() {
                    return None;
                }
                target = actual;
            } else if expected != actual {
                return None;
            }
        }
        segments.next().is_none().then_some((route, target))
    })
}

/// Middleware: records every request to an audited route once it has been answered.
pub async fn layer(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let Some((route, path_target)) = audited_route(request.method(), request.uri().path()) else {
        return next.run(request).await;
    };
    let path_target = path_target.to_owned();
    let client = client_of(&request, state.trust_forwarded_for);
    let slot = CallerSlot::default();
    request.extensions_mut().insert(slot.clone());
    let response = next.run(request).await;
    let status = response.status();
    // No actor: the credential was missing, invalid or rate limited before anything ran.
    let Some(actor) = slot.take() else {
        return response;
    };
    if route.action == ORGANIZATION_DELETE && status.is_success() {
        tracing::info!(
            org_id = %actor.caller.org_id,
            "organisation deleted; its audit chain went with it, so this is not appended"
        );
        return response;
    }
    let mut detail = format!("HTTP {}", status.as_u16());
    let created = match route.target {
        Target::Created(pointer) => Some(pointer),
        _ => None,
    };
    let wanted: Vec<&str> = created.into_iter().chain(route.detail).collect();
    let (response, values) = if status.is_success() && !wanted.is_empty() {
        json_values(response, &wanted).await
    } else {
        (response, Vec::new())
    };
    let value = |pointer: &str| {
        values
            .iter()
            .find(|(wanted, _)| *wanted == pointer)
            .map(|(_, value)| value.clone())
    };
    if let Some(pointer) = route.detail
        && let Some(value) = value(pointer)
    {
        let name = pointer.rsplit('/').next().unwrap_or(pointer);
        detail.push_str(&format!("; {name}={value}"));
    }
    let target_id = match route.target {
        Target::Created(pointer) => value(pointer).unwrap_or_default(),
        Target::PathId => path_target,
        Target::Caller => actor.caller.user_id.clone(),
        Target::Organization => actor.caller.org_id.clone(),
    };
    record(
        &state,
        &actor,
        &client,
        route.action,
        &target_id,
        outcome_of(status),
        &detail,
    );
    response
}

/// The values at `pointers` of a JSON response (strings as they are, anything else as
/// JSON text), and the response rebuilt from the bytes read.
async fn json_values<'a>(
    response: Response,
    pointers: &[&'a str],
) -> (Response, Vec<(&'a str, String)>) {
    if !fits_in_memory(&response) {
        return (response, Vec::new());
    }
    let (parts, body) = response.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_CREATED_BODY_BYTES).await {
        Ok(bytes) => bytes,
        // Only reached when the body was longer than it said or failed while read: the
        // client gets the error status rather than a truncated body under a 2xx.
        Err(error) => {
            tracing::warn!(%error, "response body unreadable while auditing");
            let mut response = Response::from_parts(parts, Body::empty());
            *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
            response.headers_mut().remove(header::CONTENT_LENGTH);
            return (response, Vec::new());
        }
    };
    let json = serde_json::from_slice::<serde_json::Value>(&bytes).unwrap_or_default();
    let values = pointers
        .iter()
        .filter_map(|pointer| {
            let value = json.pointer(pointer)?;
            let text = value
                .as_str()
                .map_or_else(|| value.to_string(), str::to_owned);
            Some((*pointer, text))
        })
        .collect();
    (Response::from_parts(parts, Body::from(bytes)), values)
}

/// Whether `response`'s body is known to be at most [`MAX_CREATED_BODY_BYTES`] long (by its
/// exact size hint, which a `Content-Length` body has): only then is it read for audit
/// values, so a large or streamed body reaches the client untouched.
fn fits_in_memory(response: &Response) -> bool {
    use axum::body::HttpBody as _;
    let declared = response
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    let hint = response.body().size_hint().exact();
    let limit = MAX_CREATED_BODY_BYTES as u64;
    match (declared, hint) {
        (Some(declared), _) if declared > limit => false,
        (_, Some(exact)) => exact <= limit,
        _ => false,
    }
}

/// The queue in front of `AppendAudit`.
#[derive(Clone, Debug)]
pub struct AuditSink {
    sender: mpsc::Sender<pb::AppendAuditRequest>,
}

/// Where the delivery task appends, and how it proves the entry's caller to the users
/// service (signed per attempt: a retry minutes later gets a fresh signature).
struct Delivery {
    users: UsersServiceClient<Channel>,
    caller_auth: ultra_rpc::CallerAuth,
}

impl Delivery {
    async fn append(&self, entry: &pb::AppendAuditRequest) -> Result<(), tonic::Status> {
        let caller = entry.caller.clone().unwrap_or_default();
        // The users service takes the actor from the signed principal: an API key's entry
        // is signed as that key (no scopes: appending needs none).
        let request = if entry.actor_type == "api_key" {
            let principal = ultra_auth::Principal::api_key(
                caller.org_id.clone(),
                caller.user_id.clone(),
                entry.actor_id.clone(),
                ultra_auth::PermissionSet::EMPTY,
            );
            self.caller_auth.request(&principal, entry.clone())?
        } else {
            self.caller_auth.peer_request(&caller, entry.clone())?
        };
        self.users.clone().append_audit(request).await?;
        Ok(())
    }
}

impl AuditSink {
    /// Starts the delivery task (on the current tokio runtime) appending to `users` until
    /// `shutdown`, after which what is still queued gets one attempt each.
    pub fn spawn(
        users: UsersServiceClient<Channel>,
        caller_auth: ultra_rpc::CallerAuth,
        shutdown: CancellationToken,
    ) -> AuditSink {
        let (sender, receiver) = mpsc::channel(QUEUE_CAPACITY);
        let delivery = Delivery { users, caller_auth };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(deliver(delivery, receiver, shutdown));
            }
            Err(_) => tracing::error!("no tokio runtime: audit entries will only be logged"),
        }
        AuditSink { sender }
    }

    fn push(&self, entry: pb::AppendAuditRequest) {
        if let Err(error) = self.sender.try_send(entry) {
            let (reason, entry) = match error {
                mpsc::error::TrySendError::Full(entry) => ("queue full", entry),
                mpsc::error::TrySendError::Closed(entry) => ("delivery stopped", entry),
            };
            log_undelivered(&entry, reason);
        }
    }
}

async fn deliver(
    delivery: Delivery,
    mut receiver: mpsc::Receiver<pb::AppendAuditRequest>,
    shutdown: CancellationToken,
) {
    loop {
        let entry = tokio::select! {
            entry = receiver.recv() => match entry {
                Some(entry) => entry,
                None => return,
            },
            () = shutdown.cancelled() => break,
        };
        append_with_retries(&delivery, entry, &shutdown).await;
    }
    // Shutting down: one quick attempt for each entry still queued.
    receiver.close();
    while let Some(entry) = receiver.recv().await {
        let attempt = tokio::time::timeout(Duration::from_secs(1), delivery.append(&entry));
        if !matches!(attempt.await, Ok(Ok(()))) {
            log_undelivered(&entry, "not delivered before shutdown");
        }
    }
}

async fn append_with_retries(
    delivery: &Delivery,
    entry: pb::AppendAuditRequest,
    shutdown: &CancellationToken,
) {
    let mut backoff = FIRST_BACKOFF;
    for attempt in 1..=MAX_ATTEMPTS {
        match delivery.append(&entry).await {
            Ok(()) => return,
            Err(status) if !retryable(status.code()) => {
                log_undelivered(&entry, status.message());
                return;
            }
            Err(status) => {
                if attempt == 1 {
                    tracing::warn!(code = ?status.code(), "audit append failed; retrying");
                }
            }
        }
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            () = shutdown.cancelled() => break,
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
    log_undelivered(&entry, "users service unavailable");
}

fn retryable(code: Code) -> bool {
    matches!(
        code,
        Code::Unavailable
            | Code::DeadlineExceeded
            | Code::Unknown
            | Code::Internal
            | Code::ResourceExhausted
            | Code::Aborted
            | Code::Cancelled
    )
}

/// The last resort: the whole entry in the log, so an operator can re-append it.
fn log_undelivered(entry: &pb::AppendAuditRequest, reason: &str) {
    let caller = entry.caller.clone().unwrap_or_default();
    let client = entry.client.clone().unwrap_or_default();
    tracing::warn!(
        reason,
        id = %entry.id,
        org_id = %caller.org_id,
        actor_type = %entry.actor_type,
        actor_id = %entry.actor_id,
        action = %entry.action,
        target_id = %entry.target_id,
        outcome = %entry.outcome,
        detail = %entry.detail,
        ip = %client.ip,
        user_agent = %client.user_agent,
        request_id = %client.request_id,
        occurred_at_ms = entry.occurred_at_ms,
        "audit entry not recorded"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_match_by_method_and_pattern() {
        let (route, target) = audited_route(&Method::DELETE, "/v1/models/m-1").expect("audited");
        assert_eq!((route.action, target), ("model.delete", "m-1"));
        let (route, target) =
            audited_route(&Method::POST, "/v1/simulations/s-9/cancel").expect("audited");
        assert_eq!((route.action, target), ("simulation.cancel", "s-9"));
        let (route, target) = audited_route(&Method::POST, "/v1/models").expect("audited");
        assert_eq!(
            (route.action, route.target, target),
            ("model.upload", Target::Created("/id"), "")
        );
        let (route, target) =
            audited_route(&Method::PATCH, "/v1/org/members/u-2").expect("audited");
        assert_eq!(
            (route.action, route.detail, target),
            ("member.role_change", Some("/role"), "u-2")
        );
        assert!(audited_route(&Method::GET, "/v1/models/m-1").is_none());
        assert!(audited_route(&Method::POST, "/v1/simulations/s-9/cancel/x").is_none());
        assert!(audited_route(&Method::DELETE, "/v1/models/").is_none());
    }

    #[test]
    fn only_routes_that_exist_are_audited() {
        assert!(audited_route(&Method::DELETE, "/v1/simulations/s-9").is_none());
    }

    #[tokio::test]
    async fn large_and_streamed_bodies_reach_the_client_unread() {
        let body = |response: Response| async move {
            axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .expect("body")
        };
        let small = Response::new(Body::from(r#"{"id":"m-1"}"#));
        let (small, values) = json_values(small, &["/id"]).await;
        assert_eq!(values, [("/id", "m-1".to_owned())]);
        assert_eq!(body(small).await.as_ref(), br#"{"id":"m-1"}"#);

        let large_bytes = vec![b' '; MAX_CREATED_BODY_BYTES + 1];
        let large = Response::builder()
            .header(header::CONTENT_LENGTH, large_bytes.len())
            .body(Body::from(large_bytes.clone()))
            .expect("response");
        let (large, values) = json_values(large, &["/id"]).await;
        assert!(values.is_empty());
        assert_eq!(
            large.headers()[header::CONTENT_LENGTH],
            large_bytes.len().to_string().as_str()
        );
        assert_eq!(body(large).await.len(), large_bytes.len());

        let chunks = futures_util::stream::iter([Ok::<_, std::io::Error>(
            axum::body::Bytes::from_static(br#"{"id":"s-1"}"#),
        )]);
        let (streamed, values) =
            json_values(Response::new(Body::from_stream(chunks)), &["/id"]).await;
        assert!(values.is_empty());
        assert_eq!(body(streamed).await.as_ref(), br#"{"id":"s-1"}"#);
    }

    #[test]
    fn outcomes_follow_the_status() {
        assert_eq!(outcome_of(StatusCode::CREATED), OUTCOME_SUCCESS);
        assert_eq!(outcome_of(StatusCode::NO_CONTENT), OUTCOME_SUCCESS);
        assert_eq!(outcome_of(StatusCode::FORBIDDEN), OUTCOME_DENIED);
        assert_eq!(outcome_of(StatusCode::NOT_FOUND), OUTCOME_FAILURE);
        assert_eq!(outcome_of(StatusCode::BAD_GATEWAY), OUTCOME_FAILURE);
    }

    #[test]
    fn the_client_address_is_the_peer_unless_a_trusted_proxy_says_otherwise() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            "1.2.3.4, 198.51.100.9".parse().expect("value"),
        );
        headers.insert(header::USER_AGENT, "curl/8".parse().expect("value"));
        let peer = Some(SocketAddr::from(([10, 0, 0, 5], 40000)));
        let direct = client_context(&headers, peer, false);
        assert_eq!(
            (direct.ip.as_str(), direct.user_agent.as_str()),
            ("10.0.0.5", "curl/8")
        );
        assert_eq!(client_context(&headers, peer, true).ip, "198.51.100.9");
        assert_eq!(client_context(&HeaderMap::new(), None, true).ip, "");
    }
}
