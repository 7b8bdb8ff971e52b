//! A foreign id is 404, never 403 (DESIGN.md): a route that names a resource must not tell a
//! caller without the route's permission that an id of another organisation exists. When
//! the permission check fails, the id is first looked up in the caller's own organisation
//! (the owning service's Get/List RPC, tenant-filtered exactly like a read): unknown there
//! (another organisation's, or nobody's) answers the same 404 `not-found` as the route
//! would; known there, the caller learns nothing new and gets the plain 403.
//!
//! Routes without an id keep [`Authenticated::require`]: their 403 says nothing about any
//! resource.

use tonic::{Code, Status};
use ultra_auth::{PermissionSet, Principal};
use ultra_proto::v1::{self as pb, Caller};

use crate::AppState;
use crate::auth::Permission;
use crate::extract::Authenticated;
use crate::problem::ApiError;

/// A resource a route names, with its id (from the path or the body).
#[derive(Clone, Copy, Debug)]
pub enum Resource<'a> {
    Model(&'a str),
    Simulation(&'a str),
    /// A member, by user id.
    Member(&'a str),
    ApiKey(&'a str),
}

impl Resource<'_> {
    /// The one permission the lookup is signed with: what the owning service asks for on
    /// that read, whatever the caller's own permissions. The lookup is the gateway's, not
    /// the caller's: its answer never leaves the gateway beyond found / not found.
    fn read_permission(self) -> Permission {
        match self {
            Resource::Model(_) | Resource::Simulation(_) => Permission::SimulationRead,
            Resource::Member(_) => Permission::OrganizationView,
            // ListApiKeys, the keys' only read, asks for organization.manage.
            Resource::ApiKey(_) => Permission::OrganizationManage,
        }
    }
}

impl Authenticated {
    /// [`Authenticated::require`] for a route naming `resource`: without `permission`, 404
    /// `not-found` when `resource` is not in the caller's organisation, else the 403. A
    /// lookup that fails otherwise (a service down) keeps the 403, which reveals nothing.
    pub async fn require_or_not_found(
        &self,
        state: &AppState,
        permission: Permission,
        resource: Resource<'_>,
    ) -> Result<&Caller, ApiError> {
        let refused = match self.require(permission) {
            Ok(caller) => return Ok(caller),
            Err(refused) => refused,
        };
        match look_up(state, self, resource).await {
            Ok(()) => Err(refused),
            Err(status) if status.code() == Code::NotFound => Err(ApiError::Upstream(status)),
            Err(status) => {
                tracing::debug!(code = ?status.code(), ?resource, "id lookup before a 403 failed");
                Err(refused)
            }
        }
    }
}

/// Ok when `resource` exists in the caller's organisation; NOT_FOUND (with the message of
/// the route's own not-found) when it does not.
async fn look_up(
    state: &AppState,
    auth: &Authenticated,
    resource: Resource<'_>,
) -> Result<(), Status> {
    // The caller's identity (org, user, role, API key) so that the service filters by the
    // caller's organisation and accepts the signed metadata; the read permission only.
    let principal = Principal {
        permissions: PermissionSet::from_iter([resource.read_permission()]),
        ..auth.principal().clone()
    };
    let caller = Some(auth.0.clone());
    let caller_auth = &state.caller_auth;
    match resource {
        Resource::Model(model_id) => {
            let request = pb::GetModelRequest {
                caller,
                model_id: model_id.to_owned(),
                ..Default::default()
            };
            let request = caller_auth.request(&principal, request)?;
            state.upstreams.files.clone().get_model(request).await?;
        }
        Resource::Simulation(simulation_id) => {
            let request = pb::GetSimulationRequest {
                caller,
                simulation_id: simulation_id.to_owned(),
            };
            let request = caller_auth.request(&principal, request)?;
            state
                .upstreams
                .simulation
                .clone()
                .get_simulation(request)
                .await?;
        }
        Resource::Member(user_id) => {
            let request = caller_auth.request(&principal, pb::ListMembersRequest { caller })?;
            let members = state
                .upstreams
                .orgs
                .clone()
                .list_members(request)
                .await?
                .into_inner()
                .members;
            if !members.iter().any(|member| member.user_id == user_id) {
                return Err(Status::not_found("member not found"));
            }
        }
        Resource::ApiKey(key_id) => {
            let request = caller_auth.request(&principal, pb::ListApiKeysRequest { caller })?;
            let keys = state
                .upstreams
                .orgs
                .clone()
                .list_api_keys(request)
                .await?
                .into_inner()
                .keys;
            if !keys.iter().any(|key| key.id == key_id) {
                return Err(Status::not_found("API key not found"));
            }
        }
    }
    Ok(())
}
