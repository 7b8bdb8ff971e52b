//! `/v1/org/members` and `/v1/auth/accept-invite`: the members of the caller's
//! organisation. Any member may list them (`organization.view`); inviting, changing roles
//! and removing need `organization.manage` (admins). The last admin cannot be demoted or
//! removed (409 `failed-precondition`).
//!
//! Inviting an email without an account creates the user without a password and answers a
//! one-time `invite_token` (7 days), shown once: the admin hands it to the invitee, who sets
//! a password with `POST /v1/auth/accept-invite` and then logs in. An email with an account
//! in another organisation is 409 (a user belongs to one organisation); one that belongs
//! to none (removed earlier) becomes a member at once.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use ultra_proto::v1 as pb;
use utoipa::ToSchema;

use crate::AppState;
use crate::auth::Permission;
use crate::extract::{ApiJson, Authenticated};
use crate::problem::{ApiError, ApiResult, Problem};
use crate::tenancy::Resource;
use crate::views::role_name;

/// A member of the organisation.
#[derive(Debug, Serialize, ToSchema)]
pub struct MemberView {
    pub user_id: String,
    pub email: String,
    pub display_name: String,
    /// admin, power_user, analyst or viewer.
    pub role: String,
    /// `active`, or `invited` until the invitee set a password.
    pub status: String,
    pub joined_at_ms: i64,
}

impl From<pb::Member> for MemberView {
    fn from(member: pb::Member) -> Self {
        MemberView {
            role: role_name(member.role).to_string(),
            user_id: member.user_id,
            email: member.email,
            display_name: member.display_name,
            status: member.status,
            joined_at_ms: member.joined_at_ms,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MemberList {
    pub members: Vec<MemberView>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddMemberBody {
    pub email: String,
    /// admin, power_user, analyst or viewer.
    pub role: String,
    #[serde(default)]
    pub display_name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AddedMember {
    pub member: MemberView,
    /// Shown once, for a new user: they set their password with it at
    /// `POST /v1/auth/accept-invite`. Absent when an existing account was added.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invite_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invite_expires_at_ms: Option<i64>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleBody {
    /// admin, power_user, analyst or viewer.
    pub role: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptInviteBody {
    pub invite_token: String,
    pub password: String,
    #[serde(default)]
    pub display_name: String,
}

/// A role name of the REST API as the gRPC enum; 400 for anything else.
fn parse_role(name: &str) -> ApiResult<i32> {
    name.trim()
        .parse::<ultra_auth::Role>()
        .map(|role| role.to_proto() as i32)
        .map_err(|_| {
            ApiError::InvalidRequest(
                "role must be one of admin, power_user, analyst, viewer".into(),
            )
        })
}

/// The members of the caller's organisation, oldest first.
#[utoipa::path(get, path = "/v1/org/members", tag = "organization", security(("bearer" = [])),
    responses((status = 200, body = MemberList), (status = 403, body = Problem)))]
pub async fn list_members(
    State(state): State<AppState>,
    auth: Authenticated,
) -> ApiResult<Json<MemberList>> {
    let caller = auth.require(Permission::OrganizationView)?.clone();
    let request = auth.request(pb::ListMembersRequest {
        caller: Some(caller),
    })?;
    let response = state
        .upstreams
        .orgs
        .clone()
        .list_members(request)
        .await?
        .into_inner();
    Ok(Json(MemberList {
        members: response.members.into_iter().map(MemberView::from).collect(),
    }))
}

/// Invites a member by email with a role (admins only); see the module documentation.
#[utoipa::path(post, path = "/v1/org/members", tag = "organization", security(("bearer" = [])),
    request_body = AddMemberBody,
    responses((status = 201, body = AddedMember), (status = 400, body = Problem),
              (status = 403, body = Problem), (status = 409, body = Problem)))]
pub async fn add_member(
    State(state): State<AppState>,
    auth: Authenticated,
    ApiJson(body): ApiJson<AddMemberBody>,
) -> ApiResult<(StatusCode, Json<AddedMember>)> {
    let caller = auth.require(Permission::OrganizationManage)?.clone();
    let request = auth.request(pb::AddMemberRequest {
        caller: Some(caller),
        email: body.email,
        role: parse_role(&body.role)?,
        display_name: body.display_name,
    })?;
    let response = state
        .upstreams
        .orgs
        .clone()
        .add_member(request)
        .await?
        .into_inner();
    let invited = !response.invite_token.is_empty();
    Ok((
        StatusCode::CREATED,
        Json(AddedMember {
            member: MemberView::from(response.member.unwrap_or_default()),
            invite_token: invited.then_some(response.invite_token),
            invite_expires_at_ms: invited.then_some(response.invite_expires_at_ms),
        }),
    ))
}

/// Changes a member's role (admins only); 409 for demoting the last admin.
#[utoipa::path(patch, path = "/v1/org/members/{user_id}", tag = "organization",
    security(("bearer" = [])), params(("user_id" = String, Path)), request_body = RoleBody,
    responses((status = 200, body = MemberView), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn update_member(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(user_id): Path<String>,
    ApiJson(body): ApiJson<RoleBody>,
) -> ApiResult<Json<MemberView>> {
    let caller = auth
        .require_or_not_found(
            &state,
            Permission::OrganizationManage,
            Resource::Member(&user_id),
        )
        .await?
        .clone();
    let request = auth.request(pb::UpdateMemberRoleRequest {
        caller: Some(caller),
        user_id,
        role: parse_role(&body.role)?,
    })?;
    let member = state
        .upstreams
        .orgs
        .clone()
        .update_member_role(request)
        .await?
        .into_inner();
    Ok(Json(MemberView::from(member)))
}

/// Removes a member (admins only): their sessions and API keys stop working (access tokens
/// already issued live out their 15 minutes); 409 for the last admin.
#[utoipa::path(delete, path = "/v1/org/members/{user_id}", tag = "organization",
    security(("bearer" = [])), params(("user_id" = String, Path)),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem),
              (status = 409, body = Problem)))]
pub async fn remove_member(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(user_id): Path<String>,
) -> ApiResult<StatusCode> {
    let caller = auth
        .require_or_not_found(
            &state,
            Permission::OrganizationManage,
            Resource::Member(&user_id),
        )
        .await?
        .clone();
    let request = auth.request(pb::RemoveMemberRequest {
        caller: Some(caller),
        user_id,
    })?;
    state.upstreams.orgs.clone().remove_member(request).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Sets an invitee's password with their one-time invite token; then they log in.
#[utoipa::path(post, path = "/v1/auth/accept-invite", tag = "auth",
    request_body = AcceptInviteBody,
    responses((status = 200, body = MemberView), (status = 400, body = Problem),
              (status = 401, body = Problem)))]
pub async fn accept_invite(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<AcceptInviteBody>,
) -> ApiResult<Json<MemberView>> {
    let member = state
        .upstreams
        .orgs
        .clone()
        .accept_invite(pb::AcceptInviteRequest {
            invite_token: body.invite_token,
            password: body.password,
            display_name: body.display_name,
        })
        .await?
        .into_inner();
    Ok(Json(MemberView::from(member)))
}
