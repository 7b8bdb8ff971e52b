//! `OrganizationsService` over gRPC: members (invite, re-role, remove, accept an invite) and
//! API keys (create, list, revoke, verify). Managing needs `organization.manage` (admins),
//! checked here on the signed caller (defence in depth: the gateway checked it already);
//! listing members needs `organization.view`.

use std::time::Duration;

use tonic::{Request, Response, Status};
use ultra_auth::{Permission, PermissionSet, Role};
use ultra_proto::v1 as pb;
use ultra_proto::v1::organizations_service_server::OrganizationsService;

use crate::error::{Error, Result};
use crate::members::{Added, ApiKeyRecord, MemberRecord, NewInvitation, OrgStore};
use crate::validate;

/// How long an invite token works.
const INVITE_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// The one answer to every refused API key (no hint whether it exists or was revoked).
const BAD_API_KEY: &str = "invalid, expired or revoked API key";
const BAD_INVITE: &str = "invalid, used or expired invite token";

/// Most scope names accepted in one request.
const MAX_SCOPES: usize = 32;

pub struct OrgsGrpc {
    store: OrgStore,
}

impl OrgsGrpc {
    pub fn new(store: OrgStore) -> OrgsGrpc {
        OrgsGrpc { store }
    }

    async fn add_member(
        &self,
        request: pb::AddMemberRequest,
    ) -> Result<pb::AddMemberResponse, Status> {
        let caller = ultra_rpc::authorize(request.caller.as_ref(), Permission::OrganizationManage)?;
        let email = validate::email(&request.email)?;
        let role = role(request.role)?;
        let display_name = if request.display_name.trim().is_empty() {
            email.split('@').next().unwrap_or_default().to_owned()
        } else {
            validate::name("display_name", &request.display_name)?
        };
        let (token, token_hash) = ultra_auth::new_refresh_token();
        let expires_at_ms = ultra_bus::now_ms()
            .saturating_add(i64::try_from(INVITE_TTL.as_millis()).unwrap_or(i64::MAX));
        let added = self
            .store
            .add_member(NewInvitation {
                org_id: caller.org_id.clone(),
                invited_by: caller.user_id.clone(),
                email,
                display_name,
                role,
                token_hash,
                expires_at_ms,
            })
            .await?;
        Ok(match added {
            Added::Invited(member) => {
                tracing::info!(org_id = %caller.org_id, user_id = %member.user_id, role = %role, "member invited");
                pb::AddMemberResponse {
                    member: Some(member_to_proto(member)),
                    invite_token: token,
                    invite_expires_at_ms: expires_at_ms,
                }
            }
            Added::Rejoined(member) => {
                tracing::info!(org_id = %caller.org_id, user_id = %member.user_id, role = %role, "member added");
                pb::AddMemberResponse {
                    member: Some(member_to_proto(member)),
                    invite_token: String::new(),
                    invite_expires_at_ms: 0,
                }
            }
        })
    }

    async fn accept_invite(&self, request: pb::AcceptInviteRequest) -> Result<pb::Member> {
        let token_hash = ultra_auth::sha256_hex(&request.invite_token);
        let Some((user_id, _org_id)) = self.store.invitation(&token_hash).await? else {
            return Err(Error::Unauthenticated(BAD_INVITE.into()));
        };
        let email = self.store.email(&user_id).await?.unwrap_or_default();
        validate::new_password(&request.password, &email)?;
        let display_name = if request.display_name.trim().is_empty() {
            None
        } else {
            Some(validate::name("display_name", &request.display_name)?)
        };
        let password = request.password;
        let password_hash =
            tokio::task::spawn_blocking(move || ultra_auth::hash_password(&password)).await??;
        let member = self
            .store
            .accept_invitation(&token_hash, &password_hash, display_name.as_deref())
            .await?
            .ok_or_else(|| Error::Unauthenticated(BAD_INVITE.into()))?;
        tracing::info!(user_id = %member.user_id, "invitation accepted");
        Ok(member_to_proto(member))
    }

    async fn update_member_role(
        &self,
        request: pb::UpdateMemberRoleRequest,
    ) -> Result<pb::Member, Status> {
        let caller = ultra_rpc::authorize(request.caller.as_ref(), Permission::OrganizationManage)?;
        ultra_rpc::validate_id("user_id", &request.user_id).map_err(Status::invalid_argument)?;
        let role = role(request.role)?;
        let member = self
            .store
            .set_role(&caller.org_id, &request.user_id, role)
            .await?
            .ok_or_else(|| Status::not_found("member not found"))?;
        tracing::info!(org_id = %caller.org_id, user_id = %member.user_id, role = %role, "member role changed");
        Ok(member_to_proto(member))
    }

    async fn remove_member(
        &self,
        request: pb::RemoveMemberRequest,
    ) -> Result<pb::RemoveMemberResponse, Status> {
        let caller = ultra_rpc::authorize(request.caller.as_ref(), Permission::OrganizationManage)?;
        ultra_rpc::validate_id("user_id", &request.user_id).map_err(Status::invalid_argument)?;
        if !self.store.remove(&caller.org_id, &request.user_id).await? {
            return Err(Status::not_found("member not found"));
        }
        tracing::info!(org_id = %caller.org_id, user_id = %request.user_id, "member removed");
        Ok(pb::RemoveMemberResponse {})
    }

    async fn create_api_key(
        &self,
        request: pb::CreateApiKeyRequest,
    ) -> Result<pb::CreatedApiKey, Status> {
        let caller = ultra_rpc::authorize(request.caller.as_ref(), Permission::OrganizationManage)?;
        let name = validate::name("name", &request.name)?;
        if request.scopes.is_empty() || request.scopes.len() > MAX_SCOPES {
            return Err(Status::invalid_argument(
                "scopes must name at least one permission, e.g. [\"results.view\"]",
            ));
        }
        let scopes = PermissionSet::parse(&request.scopes)
            .map_err(|error| Status::invalid_argument(format!("scopes: {error}")))?;
        let forbidden = scopes.difference(PermissionSet::api_key_scopes());
        if !forbidden.is_empty() {
            return Err(Status::invalid_argument(format!(
                "scopes: {} cannot be granted to an API key",
                forbidden.names().join(", ")
            )));
        }
        // The creator's role as stored now, not as the token remembers it.
        let creator_role = self
            .store
            .role(&caller.org_id, &caller.user_id)
            .await?
            .ok_or_else(|| Status::permission_denied("the caller is not a member"))?;
        let beyond = scopes.difference(PermissionSet::of_role(creator_role));
        if !beyond.is_empty() {
            return Err(Status::permission_denied(format!(
                "scopes exceed your role {creator_role}: {}",
                beyond.names().join(", ")
            )));
        }
        let now = ultra_bus::now_ms();
        if request.expires_at_ms != 0 && request.expires_at_ms <= now {
            return Err(Status::invalid_argument("expires_at must be in the future"));
        }
        let key = ultra_auth::new_api_key();
        let record = ApiKeyRecord {
            id: uuid::Uuid::now_v7().to_string(),
            org_id: caller.org_id.clone(),
            created_by: caller.user_id.clone(),
            name,
            prefix: key.prefix.clone(),
            scopes,
            created_at_ms: now,
            expires_at_ms: (request.expires_at_ms != 0).then_some(request.expires_at_ms),
            last_used_at_ms: None,
            revoked_at_ms: None,
        };
        self.store.insert_api_key(&record, &key.hash).await?;
        tracing::info!(org_id = %caller.org_id, key_id = %record.id, scopes = ?scopes, "api key created");
        Ok(pb::CreatedApiKey {
            key: Some(key_to_proto(record)),
            secret: key.token,
        })
    }

    async fn list_api_keys(
        &self,
        request: pb::ListApiKeysRequest,
    ) -> Result<pb::ListApiKeysResponse, Status> {
        let caller = ultra_rpc::authorize(request.caller.as_ref(), Permission::OrganizationManage)?;
        let keys = self.store.list_api_keys(&caller.org_id).await?;
        Ok(pb::ListApiKeysResponse {
            keys: keys.into_iter().map(key_to_proto).collect(),
        })
    }

    async fn revoke_api_key(
        &self,
        request: pb::RevokeApiKeyRequest,
    ) -> Result<pb::RevokeApiKeyResponse, Status> {
        let caller = ultra_rpc::authorize(request.caller.as_ref(), Permission::OrganizationManage)?;
        ultra_rpc::validate_id("key_id", &request.key_id).map_err(Status::invalid_argument)?;
        if !self
            .store
            .revoke_api_key(&caller.org_id, &request.key_id)
            .await?
        {
            return Err(Status::not_found("API key not found"));
        }
        tracing::info!(org_id = %caller.org_id, key_id = %request.key_id, "api key revoked");
        Ok(pb::RevokeApiKeyResponse {})
    }

    async fn verify_api_key(&self, request: pb::VerifyApiKeyRequest) -> Result<pb::VerifiedApiKey> {
        if !ultra_auth::is_well_formed_api_key(&request.secret) {
            return Err(Error::Unauthenticated(BAD_API_KEY.into()));
        }
        let hash = ultra_auth::api_key_hash(&request.secret);
        let Some(owner) = self.store.api_key_by_hash(&hash).await? else {
            return Err(Error::Unauthenticated(BAD_API_KEY.into()));
        };
        let now = ultra_bus::now_ms();
        let key = owner.key;
        let expired = key.expires_at_ms.is_some_and(|expires| expires <= now);
        let Some(creator_role) = owner.creator_role else {
            return Err(Error::Unauthenticated(BAD_API_KEY.into()));
        };
        if key.revoked_at_ms.is_some() || expired {
            return Err(Error::Unauthenticated(BAD_API_KEY.into()));
        }
        // A creator demoted since creation takes the key's power down with them.
        let scopes = key
            .scopes
            .intersection(PermissionSet::of_role(creator_role))
            .intersection(PermissionSet::api_key_scopes());
        if key
            .last_used_at_ms
            .is_none_or(|last| last < now - crate::members::LAST_USED_RESOLUTION_MS)
        {
            self.store.touch_api_key(&key.id, now).await?;
        }
        Ok(pb::VerifiedApiKey {
            key_id: key.id,
            org_id: key.org_id,
            user_id: key.created_by,
            scopes: scopes.names().into_iter().map(str::to_owned).collect(),
            org_plan_tier: owner.plan_tier.to_proto() as i32,
            expires_at_ms: key.expires_at_ms.unwrap_or(0),
        })
    }

    async fn list_members(
        &self,
        request: pb::ListMembersRequest,
    ) -> Result<pb::ListMembersResponse, Status> {
        let caller = ultra_rpc::authorize(request.caller.as_ref(), Permission::OrganizationView)?;
        let members = self.store.list_members(&caller.org_id).await?;
        Ok(pb::ListMembersResponse {
            members: members.into_iter().map(member_to_proto).collect(),
        })
    }
}

fn role(role: i32) -> Result<Role, Status> {
    pb::Role::try_from(role)
        .ok()
        .and_then(Role::from_proto)
        .ok_or_else(|| {
            Status::invalid_argument("role must be one of admin, power_user, analyst, viewer")
        })
}

fn member_to_proto(member: MemberRecord) -> pb::Member {
    pb::Member {
        user_id: member.user_id,
        email: member.email,
        display_name: member.display_name,
        role: member.role.to_proto() as i32,
        status: if member.invited { "invited" } else { "active" }.into(),
        joined_at_ms: member.joined_at_ms,
    }
}

fn key_to_proto(key: ApiKeyRecord) -> pb::ApiKey {
    pb::ApiKey {
        id: key.id,
        name: key.name,
        prefix: key.prefix,
        scopes: key.scopes.names().into_iter().map(str::to_owned).collect(),
        created_by: key.created_by,
        created_at_ms: key.created_at_ms,
        expires_at_ms: key.expires_at_ms.unwrap_or(0),
        last_used_at_ms: key.last_used_at_ms.unwrap_or(0),
        revoked_at_ms: key.revoked_at_ms.unwrap_or(0),
    }
}

#[tonic::async_trait]
impl OrganizationsService for OrgsGrpc {
    async fn list_members(
        &self,
        request: Request<pb::ListMembersRequest>,
    ) -> Result<Response<pb::ListMembersResponse>, Status> {
        Ok(Response::new(
            OrgsGrpc::list_members(self, request.into_inner()).await?,
        ))
    }

    async fn add_member(
        &self,
        request: Request<pb::AddMemberRequest>,
    ) -> Result<Response<pb::AddMemberResponse>, Status> {
        Ok(Response::new(
            OrgsGrpc::add_member(self, request.into_inner()).await?,
        ))
    }

    async fn update_member_role(
        &self,
        request: Request<pb::UpdateMemberRoleRequest>,
    ) -> Result<Response<pb::Member>, Status> {
        Ok(Response::new(
            OrgsGrpc::update_member_role(self, request.into_inner()).await?,
        ))
    }

    async fn remove_member(
        &self,
        request: Request<pb::RemoveMemberRequest>,
    ) -> Result<Response<pb::RemoveMemberResponse>, Status> {
        Ok(Response::new(
            OrgsGrpc::remove_member(self, request.into_inner()).await?,
        ))
    }

    async fn accept_invite(
        &self,
        request: Request<pb::AcceptInviteRequest>,
    ) -> Result<Response<pb::Member>, Status> {
        Ok(Response::new(
            OrgsGrpc::accept_invite(self, request.into_inner()).await?,
        ))
    }

    async fn create_api_key(
        &self,
        request: Request<pb::CreateApiKeyRequest>,
    ) -> Result<Response<pb::CreatedApiKey>, Status> {
        Ok(Response::new(
            OrgsGrpc::create_api_key(self, request.into_inner()).await?,
        ))
    }

    async fn list_api_keys(
        &self,
        request: Request<pb::ListApiKeysRequest>,
    ) -> Result<Response<pb::ListApiKeysResponse>, Status> {
        Ok(Response::new(
            OrgsGrpc::list_api_keys(self, request.into_inner()).await?,
        ))
    }

    async fn revoke_api_key(
        &self,
        request: Request<pb::RevokeApiKeyRequest>,
    ) -> Result<Response<pb::RevokeApiKeyResponse>, Status> {
        Ok(Response::new(
            OrgsGrpc::revoke_api_key(self, request.into_inner()).await?,
        ))
    }

    async fn verify_api_key(
        &self,
        request: Request<pb::VerifyApiKeyRequest>,
    ) -> Result<Response<pb::VerifiedApiKey>, Status> {
        Ok(Response::new(
            OrgsGrpc::verify_api_key(self, request.into_inner()).await?,
        ))
    }
}
