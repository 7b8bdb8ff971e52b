//! `/v1/audit`: the organisation's audit log (admins only), and the verification of its
//! hash chain.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use ultra_proto::v1 as pb;
use utoipa::ToSchema;

use crate::AppState;
use crate::auth::Permission;
use crate::extract::{ApiQuery, Authenticated};
use crate::problem::{ApiResult, Problem};

/// One audit entry. `hash` = SHA-256 over the entry's fields and `prev_hash`, the hash of
/// the entry before it (`seq - 1`) in the same organisation.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEntryView {
    pub id: String,
    pub seq: i64,
    pub occurred_at_ms: i64,
    /// `user`, `api_key` or `anonymous`.
    pub actor_type: String,
    pub actor_id: String,
    #[schema(example = "model.upload")]
    pub action: String,
    pub target_id: String,
    /// `success`, `failure` or `denied`.
    pub outcome: String,
    pub ip: String,
    pub user_agent: String,
    pub request_id: String,
    pub detail: String,
    pub prev_hash: String,
    pub hash: String,
}

impl From<pb::AuditEntry> for AuditEntryView {
    fn from(entry: pb::AuditEntry) -> Self {
        AuditEntryView {
            id: entry.id,
            seq: entry.seq,
            occurred_at_ms: entry.occurred_at_ms,
            actor_type: entry.actor_type,
            actor_id: entry.actor_id,
            action: entry.action,
            target_id: entry.target_id,
            outcome: entry.outcome,
            ip: entry.ip,
            user_agent: entry.user_agent,
            request_id: entry.request_id,
            detail: entry.detail,
            prev_hash: entry.prev_hash,
            hash: entry.hash,
        }
    }
}

/// A page of audit entries, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditList {
    pub entries: Vec<AuditEntryView>,
    /// Empty on the last page.
    pub next_page_token: String,
}

/// The chain's verification: `ok`, or the first entry (`first_broken_seq`) that was
/// edited, removed or reordered.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditVerification {
    pub ok: bool,
    /// Entries that verified.
    pub checked: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_broken_seq: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The last entry's hash: keep a copy outside Ultra to detect removal of the newest
    /// entries, which leaves a shorter chain that still verifies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub head_hash: Option<String>,
}

/// `?action=&actor=&from=&to=&page_size=&page_token=`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    #[serde(default)]
    pub action: Option<String>,
    #[serde(default)]
    pub actor: Option<String>,
    /// Unix milliseconds, inclusive.
    #[serde(default)]
    pub from: Option<i64>,
    /// Unix milliseconds, inclusive.
    #[serde(default)]
    pub to: Option<i64>,
    #[serde(default)]
    pub page_size: u32,
    #[serde(default)]
    pub page_token: String,
}

/// The organisation's audit log, newest first: who did what (logins, uploads, runs,
/// deletions, role and key changes...), from where, and with what outcome. Filters:
/// exact `action`, exact `actor` id, and a `from`/`to` time range in Unix milliseconds.
#[utoipa::path(get, path = "/v1/audit", tag = "audit", security(("bearer" = [])),
    params(("action" = Option<String>, Query, description = "e.g. `auth.login`"),
           ("actor" = Option<String>, Query, description = "a user or API key id"),
           ("from" = Option<i64>, Query, description = "Unix ms, inclusive"),
           ("to" = Option<i64>, Query, description = "Unix ms, inclusive"),
           ("page_size" = Option<u32>, Query), ("page_token" = Option<String>, Query)),
    responses((status = 200, body = AuditList), (status = 400, body = Problem),
              (status = 403, body = Problem)))]
pub async fn list(
    State(state): State<AppState>,
    auth: Authenticated,
    ApiQuery(query): ApiQuery<AuditQuery>,
) -> ApiResult<Json<AuditList>> {
    // The audit log belongs to the organisation's admins (the users service checks again).
    let caller = auth.require(Permission::OrganizationManage)?.clone();
    let request = pb::ListAuditRequest {
        caller: Some(caller),
        action: query.action.unwrap_or_default(),
        actor_id: query.actor.unwrap_or_default(),
        from_ms: query.from.unwrap_or_default(),
        to_ms: query.to.unwrap_or_default(),
        page: Some(pb::PageRequest {
            page_size: query.page_size,
            page_token: query.page_token,
        }),
    };
    let response = state
        .upstreams
        .users
        .clone()
        .list_audit(auth.request(request)?)
        .await?
        .into_inner();
    Ok(Json(AuditList {
        entries: response
            .entries
            .into_iter()
            .map(AuditEntryView::from)
            .collect(),
        next_page_token: response.next_page_token,
    }))
}

/// Recomputes the organisation's hash chain from its first entry and reports whether every
/// entry is intact, or the first one that is not.
#[utoipa::path(get, path = "/v1/audit/verify", tag = "audit", security(("bearer" = [])),
    responses((status = 200, body = AuditVerification), (status = 403, body = Problem)))]
pub async fn verify(
    State(state): State<AppState>,
    auth: Authenticated,
) -> ApiResult<Json<AuditVerification>> {
    let caller = auth.require(Permission::OrganizationManage)?.clone();
    let request = pb::VerifyAuditRequest {
        caller: Some(caller),
    };
    let response = state
        .upstreams
        .users
        .clone()
        .verify_audit(auth.request(request)?)
        .await?
        .into_inner();
    Ok(Json(AuditVerification {
        ok: response.ok,
        checked: response.checked,
        first_broken_seq: (!response.ok).then_some(response.first_broken_seq),
        reason: (!response.ok).then_some(response.reason),
        head_hash: response.ok.then_some(response.head_hash),
    }))
}
