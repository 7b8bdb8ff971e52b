//! `UsersService` over gRPC: registration, password login, rotating refresh tokens, logout
//! and the caller's profile.

use std::time::Duration;

use tonic::{Request, Response, Status};
use ultra_auth::TokenIssuer;
use ultra_proto::v1::users_service_server::UsersService;
use ultra_proto::v1::{
    GetMeRequest, LoginRequest, RefreshRequest, RegisterRequest, RegisterResponse, RevokeRequest,
    RevokeResponse, TokenPair, User,
};

use crate::error::{Error, Result};
use crate::store::{Membership, NewRegistration, RefreshRecord, UserRecord, UsersStore};
use crate::validate;

/// The one answer to every failed login, so responses do not tell whether an email exists.
const BAD_CREDENTIALS: &str = "invalid email or password";
const BAD_REFRESH_TOKEN: &str = "invalid or expired refresh token";

pub struct UsersGrpc {
    store: UsersStore,
    issuer: TokenIssuer,
    refresh_ttl: Duration,
}

impl UsersGrpc {
    pub fn new(store: UsersStore, issuer: TokenIssuer, refresh_ttl: Duration) -> UsersGrpc {
        UsersGrpc {
            store,
            issuer,
            refresh_ttl,
        }
    }

    async fn register(&self, request: RegisterRequest) -> Result<User> {
        let email = validate::email(&request.email)?;
        validate::password(&request.password)?;
        // Joining an existing organisation needs an invitation flow (a later issue); until
        // then every registration founds an organisation, so its name is required.
        let organization_name = validate::name("organization_name", &request.organization_name)?;
        let display_name = if request.display_name.trim().is_empty() {
            email.split('@').next().unwrap_or_default().to_owned()
        } else {
            validate::name("display_name", &request.display_name)?
        };
        let password_hash = hash(request.password).await?;
        let user = self
            .store
            .register(NewRegistration {
                email,
                display_name,
                password_hash,
                organization_name,
            })
            .await?;
        tracing::info!(user_id = %user.id, org_id = %user.org_id, "user registered");
        Ok(to_proto(user))
    }

    async fn login(&self, request: LoginRequest) -> Result<TokenPair> {
        // A malformed email or password cannot match anything: same answer as a wrong one.
        let (Ok(email), Ok(())) = (
            validate::email(&request.email),
            validate::password(&request.password),
        ) else {
            return Err(Error::Unauthenticated(BAD_CREDENTIALS.into()));
        };
        let credentials = self.store.credentials(&email).await?;
        let password = request.password;
        let verified = tokio::task::spawn_blocking(move || match &credentials {
            Some((user_id, hash)) => {
                ultra_auth::verify_password(&password, hash).then(|| user_id.clone())
            }
            None => {
                ultra_auth::verify_password_against_dummy(&password);
                None
            }
        })
        .await?;
        let Some(user_id) = verified else {
            return Err(Error::Unauthenticated(BAD_CREDENTIALS.into()));
        };
        let Some(membership) = self.store.primary_membership(&user_id).await? else {
            return Err(Error::Unauthenticated(BAD_CREDENTIALS.into()));
        };
        let family_id = uuid::Uuid::now_v7().to_string();
        let (refresh_token, refresh_hash) = ultra_auth::new_refresh_token();
        let record = self.refresh_record(family_id, &user_id, &membership.org_id);
        self.store
            .insert_refresh_token(&refresh_hash, &record)
            .await?;
        self.token_pair(&user_id, &membership, refresh_token)
    }

    async fn refresh(&self, request: RefreshRequest) -> Result<TokenPair> {
        let presented_hash = ultra_auth::sha256_hex(&request.refresh_token);
        let Some(stored) = self.store.refresh_token(&presented_hash).await? else {
            return Err(Error::Unauthenticated(BAD_REFRESH_TOKEN.into()));
        };
        if stored.revoked {
            // A revoked token presented again means it was copied: end the whole session.
            tracing::warn!(family_id = %stored.family_id, user_id = %stored.user_id, "refresh token reuse, revoking family");
            self.store.revoke_family(&stored.family_id).await?;
            return Err(Error::Unauthenticated(BAD_REFRESH_TOKEN.into()));
        }
        if stored.expires_at_ms <= ultra_bus::now_ms() {
            return Err(Error::Unauthenticated(BAD_REFRESH_TOKEN.into()));
        }
        // The role and the plan tier may have changed since login; a removed member cannot
        // refresh.
        let Some(membership) = self
            .store
            .membership(&stored.user_id, &stored.org_id)
            .await?
        else {
            self.store.revoke_family(&stored.family_id).await?;
            return Err(Error::Unauthenticated(BAD_REFRESH_TOKEN.into()));
        };
        let (refresh_token, refresh_hash) = ultra_auth::new_refresh_token();
        let next = self.refresh_record(stored.family_id.clone(), &stored.user_id, &stored.org_id);
        if !self
            .store
            .rotate_refresh_token(&presented_hash, &refresh_hash, &next)
            .await?
        {
            self.store.revoke_family(&stored.family_id).await?;
            return Err(Error::Unauthenticated(BAD_REFRESH_TOKEN.into()));
        }
        self.token_pair(&stored.user_id, &membership, refresh_token)
    }

    /// Logout: revokes the session the token belongs to. Unknown tokens are accepted
    /// silently (idempotent, and no oracle for guessing tokens).
    async fn revoke(&self, request: RevokeRequest) -> Result<RevokeResponse> {
        let hash = ultra_auth::sha256_hex(&request.refresh_token);
        if let Some(stored) = self.store.refresh_token(&hash).await? {
            self.store.revoke_family(&stored.family_id).await?;
        }
        Ok(RevokeResponse {})
    }

    async fn get_me(&self, request: GetMeRequest) -> Result<User> {
        let caller = ultra_rpc::caller(request.caller.as_ref())
            .map_err(|status| Error::Unauthenticated(status.message().to_owned()))?;
        let user = self
            .store
            .user_in_org(&caller.user_id, &caller.org_id)
            .await?;
        user.map(to_proto)
            .ok_or_else(|| Error::NotFound("user not found".into()))
    }

    fn refresh_record(&self, family_id: String, user_id: &str, org_id: &str) -> RefreshRecord {
        let ttl_ms = i64::try_from(self.refresh_ttl.as_millis()).unwrap_or(i64::MAX);
        RefreshRecord {
            family_id,
            user_id: user_id.to_owned(),
            org_id: org_id.to_owned(),
            expires_at_ms: ultra_bus::now_ms().saturating_add(ttl_ms),
            revoked: false,
        }
    }

    fn token_pair(
        &self,
        user_id: &str,
        membership: &Membership,
        refresh_token: String,
    ) -> Result<TokenPair> {
        Ok(TokenPair {
            access_token: self.issuer.issue(
                user_id,
                &membership.org_id,
                membership.role,
                membership.plan_tier,
            )?,
            refresh_token,
            expires_in_seconds: u32::try_from(self.issuer.access_ttl().as_secs())
                .unwrap_or(u32::MAX),
            token_type: "Bearer".into(),
        })
    }
}

/// argon2id takes tens of milliseconds of CPU: keep it off the async workers.
async fn hash(password: String) -> Result<String> {
    Ok(tokio::task::spawn_blocking(move || ultra_auth::hash_password(&password)).await??)
}

fn to_proto(user: UserRecord) -> User {
    User {
        id: user.id,
        email: user.email,
        display_name: user.display_name,
        org_id: user.org_id,
        org_name: user.org_name,
        role: user.role.to_proto() as i32,
        org_plan_tier: user.org_plan_tier.to_proto() as i32,
        created_at_ms: user.created_at_ms,
    }
}

#[tonic::async_trait]
impl UsersService for UsersGrpc {
    async fn register(
        &self,
        request: Request<RegisterRequest>,
    ) -> Result<Response<RegisterResponse>, Status> {
        let user = UsersGrpc::register(self, request.into_inner()).await?;
        Ok(Response::new(RegisterResponse { user: Some(user) }))
    }

    async fn login(&self, request: Request<LoginRequest>) -> Result<Response<TokenPair>, Status> {
        Ok(Response::new(
            UsersGrpc::login(self, request.into_inner()).await?,
        ))
    }

    async fn refresh(
        &self,
        request: Request<RefreshRequest>,
    ) -> Result<Response<TokenPair>, Status> {
        Ok(Response::new(
            UsersGrpc::refresh(self, request.into_inner()).await?,
        ))
    }

    async fn revoke(
        &self,
        request: Request<RevokeRequest>,
    ) -> Result<Response<RevokeResponse>, Status> {
        Ok(Response::new(
            UsersGrpc::revoke(self, request.into_inner()).await?,
        ))
    }

    async fn get_me(&self, request: Request<GetMeRequest>) -> Result<Response<User>, Status> {
        Ok(Response::new(
            UsersGrpc::get_me(self, request.into_inner()).await?,
        ))
    }
}
