//! `UsersService` over gRPC: registration, password login (with lockout), rotating refresh
//! tokens, logout, the caller's profile, and the audit log (each of the auth actions is
//! appended here, where it is decided; the gateway appends the others).

use std::time::Duration;

use tonic::{Request, Response, Status};
use ultra_auth::TokenIssuer;
use ultra_proto::v1::users_service_server::UsersService;
use ultra_proto::v1::{
    AppendAuditRequest, AppendAuditResponse, AuditEntry, Caller, ClientContext, GetMeRequest,
    ListAuditRequest, ListAuditResponse, LoginRequest, RefreshRequest, RegisterRequest,
    RegisterResponse, RevokeRequest, RevokeResponse, TokenPair, User, VerifyAuditRequest,
    VerifyAuditResponse,
};

use crate::audit::{self, AuditStore};
use crate::throttle::{LockoutPolicy, LoginThrottle, Subject};

use crate::error::{Error, Result};
use crate::store::{Membership, NewRegistration, RefreshRecord, UserRecord, UsersStore};
use crate::validate;

/// The one answer to every failed login, so responses do not tell whether an email exists.
const BAD_CREDENTIALS: &str = "invalid email or password";
const BAD_REFRESH_TOKEN: &str = "invalid or expired refresh token";

/// The audit actions this service appends itself.
pub const ACTION_REGISTER: &str = "auth.register";
pub const ACTION_LOGIN: &str = "auth.login";
pub const ACTION_REFRESH: &str = "auth.refresh";
pub const ACTION_LOGOUT: &str = "auth.logout";

/// Audit listings: entries per page unless asked, and at most.
const DEFAULT_AUDIT_PAGE_SIZE: u32 = 50;
const MAX_AUDIT_PAGE_SIZE: u32 = 200;

pub struct UsersGrpc {
    store: UsersStore,
    issuer: TokenIssuer,
    refresh_ttl: Duration,
    audit: AuditStore,
    throttle: LoginThrottle,
}

impl UsersGrpc {
    /// With the default lockout policy ([`UsersGrpc::with_lockout`] to change it).
    pub fn new(store: UsersStore, issuer: TokenIssuer, refresh_ttl: Duration) -> UsersGrpc {
        let audit = AuditStore::new(store.db().clone());
        let throttle = LoginThrottle::new(store.db().clone(), LockoutPolicy::default());
        UsersGrpc {
            store,
            issuer,
            refresh_ttl,
            audit,
            throttle,
        }
    }

    pub fn with_lockout(mut self, policy: LockoutPolicy) -> UsersGrpc {
        self.throttle = LoginThrottle::new(self.store.db().clone(), policy);
        self
    }

    async fn register(&self, request: RegisterRequest) -> Result<User> {
        let email = validate::email(&request.email)?;
        validate::new_password(&request.password, &email)?;
        // Registration founds an organisation, so its name is required; joining an existing
        // one is by invitation (`OrganizationsService.AddMember`).
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
        let client = request.client.unwrap_or_default();
        self.audit
            .append(audit::NewEntry {
                actor_type: audit::ACTOR_USER.into(),
                actor_id: user.id.clone(),
                target_id: user.id.clone(),
                ..auth_entry(
                    &client,
                    &user.org_id,
                    ACTION_REGISTER,
                    audit::OUTCOME_SUCCESS,
                )
            })
            .await?;
        Ok(to_proto(user))
    }

    /// Password login. Every attempt is appended to the audit log: to the user's
    /// organisation's chain when the email is known, to the unattributed chain otherwise.
    /// The failure paths do the same work (one credentials query, one membership query,
    /// one argon2 verification, the throttle and audit writes) whether or not the email
    /// exists, so that neither the answer nor its timing tells.
    async fn login(&self, request: LoginRequest) -> Result<TokenPair> {
        let client = request.client.unwrap_or_default();
        let email = validate::email(&request.email).ok();
        let mut subjects = Vec::new();
        if let Some(email) = &email {
            subjects.push(Subject::Account(email.clone()));
        }
        if !client.ip.is_empty() {
            subjects.push(Subject::Address(client.ip.clone()));
        }
        let credentials = match &email {
            Some(email) => self.store.credentials(email).await?,
            None => None,
        };
        let user_id = credentials
            .as_ref()
            .map(|(user_id, _)| user_id.clone())
            .unwrap_or_default();
        // Queried for unknown emails too (it finds nothing), for the same cost.
        let membership = self.store.primary_membership(&user_id).await?;
        let attempt = audit::NewEntry {
            actor_type: if user_id.is_empty() {
                audit::ACTOR_ANONYMOUS.into()
            } else {
                audit::ACTOR_USER.into()
            },
            actor_id: user_id.clone(),
            target_id: user_id.clone(),
            ..auth_entry(
                &client,
                membership
                    .as_ref()
                    .map_or(audit::UNATTRIBUTED_ORG, |membership| {
                        membership.org_id.as_str()
                    }),
                ACTION_LOGIN,
                audit::OUTCOME_FAILURE,
            )
        };
        if let Some(retry_after) = self.throttle.locked_for(&subjects).await? {
            self.audit
                .append(audit::NewEntry {
                    outcome: audit::OUTCOME_DENIED.into(),
                    detail: "locked after repeated failed logins".into(),
                    ..attempt
                })
                .await?;
            return Err(Error::LoginThrottled { retry_after });
        }
        // A malformed password cannot match anything: it costs a dummy verification and
        // gets the same answer as a wrong one.
        let plausible = validate::password(&request.password).is_ok();
        let password: String = request
            .password
            .chars()
            .take(validate::MAX_PASSWORD_CHARS)
            .collect();
        let stored_hash = credentials.map(|(_, hash)| hash);
        let verified = tokio::task::spawn_blocking(move || match &stored_hash {
            Some(hash) if plausible => ultra_auth::verify_password(&password, hash),
            _ => ultra_auth::verify_password_against_dummy(&password),
        })
        .await?;
        let Some(membership) = membership.filter(|_| verified) else {
            for subject in &subjects {
                self.throttle.record_failure(subject).await?;
            }
            self.audit
                .append(audit::NewEntry {
                    detail: BAD_CREDENTIALS.into(),
                    ..attempt
                })
                .await?;
            return Err(Error::Unauthenticated(BAD_CREDENTIALS.into()));
        };
        if let Some(email) = email {
            self.throttle.clear(&Subject::Account(email)).await?;
        }
        let family_id = uuid::Uuid::now_v7().to_string();
        let (refresh_token, refresh_hash) = ultra_auth::new_refresh_token();
        let record = self.refresh_record(family_id, &user_id, &membership.org_id);
        self.store
            .insert_refresh_token(&refresh_hash, &record)
            .await?;
        let pair = self.token_pair(&user_id, &membership, refresh_token)?;
        self.audit
            .append(audit::NewEntry {
                outcome: audit::OUTCOME_SUCCESS.into(),
                ..attempt
            })
            .await?;
        Ok(pair)
    }

    async fn refresh(&self, request: RefreshRequest) -> Result<TokenPair> {
        let client = request.client.unwrap_or_default();
        let presented_hash = ultra_auth::sha256_hex(&request.refresh_token);
        let Some(stored) = self.store.refresh_token(&presented_hash).await? else {
            return Err(Error::Unauthenticated(BAD_REFRESH_TOKEN.into()));
        };
        let attempt = audit::NewEntry {
            actor_type: audit::ACTOR_USER.into(),
            actor_id: stored.user_id.clone(),
            target_id: stored.family_id.clone(),
            ..auth_entry(
                &client,
                &stored.org_id,
                ACTION_REFRESH,
                audit::OUTCOME_SUCCESS,
            )
        };
        if stored.revoked {
            // A revoked token presented again means it was copied: end the whole session.
            tracing::warn!(family_id = %stored.family_id, user_id = %stored.user_id, "refresh token reuse, revoking family");
            self.store.revoke_family(&stored.family_id).await?;
            self.audit
                .append(audit::NewEntry {
                    outcome: audit::OUTCOME_DENIED.into(),
                    detail: "revoked refresh token reused: session revoked".into(),
                    ..attempt
                })
                .await?;
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
        let pair = self.token_pair(&stored.user_id, &membership, refresh_token)?;
        self.audit.append(attempt).await?;
        Ok(pair)
    }

    /// Logout: revokes the session the token belongs to. Unknown tokens are accepted
    /// silently (idempotent, and no oracle for guessing tokens).
    async fn revoke(&self, request: RevokeRequest) -> Result<RevokeResponse> {
        let hash = ultra_auth::sha256_hex(&request.refresh_token);
        if let Some(stored) = self.store.refresh_token(&hash).await? {
            self.store.revoke_family(&stored.family_id).await?;
            let client = request.client.unwrap_or_default();
            self.audit
                .append(audit::NewEntry {
                    actor_type: audit::ACTOR_USER.into(),
                    actor_id: stored.user_id.clone(),
                    target_id: stored.family_id.clone(),
                    ..auth_entry(
                        &client,
                        &stored.org_id,
                        ACTION_LOGOUT,
                        audit::OUTCOME_SUCCESS,
                    )
                })
                .await?;
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

/// An audit entry for an auth action (actor anonymous until the caller says otherwise).
fn auth_entry(
    client: &ClientContext,
    org_id: &str,
    action: &str,
    outcome: &str,
) -> audit::NewEntry {
    audit::NewEntry {
        id: uuid::Uuid::now_v7().to_string(),
        org_id: org_id.to_owned(),
        occurred_at_ms: ultra_bus::now_ms(),
        actor_type: audit::ACTOR_ANONYMOUS.into(),
        action: action.into(),
        outcome: outcome.into(),
        ip: client.ip.clone(),
        user_agent: client.user_agent.clone(),
        request_id: client.request_id.clone(),
        ..audit::NewEntry::default()
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

    async fn append_audit(
        &self,
        request: Request<AppendAuditRequest>,
    ) -> Result<Response<AppendAuditResponse>, Status> {
        Ok(Response::new(
            UsersGrpc::append_audit(self, request.into_inner()).await?,
        ))
    }

    async fn list_audit(
        &self,
        request: Request<ListAuditRequest>,
    ) -> Result<Response<ListAuditResponse>, Status> {
        Ok(Response::new(
            UsersGrpc::list_audit(self, request.into_inner()).await?,
        ))
    }

    async fn verify_audit(
        &self,
        request: Request<VerifyAuditRequest>,
    ) -> Result<Response<VerifyAuditResponse>, Status> {
        Ok(Response::new(
            UsersGrpc::verify_audit(self, request.into_inner()).await?,
        ))
    }
}

/// The audit log over gRPC.
impl UsersGrpc {
    async fn append_audit(&self, request: AppendAuditRequest) -> Result<AppendAuditResponse> {
        let caller = caller(request.caller.as_ref())?;
        ultra_rpc::validate_id("id", &request.id).map_err(Error::InvalidArgument)?;
        let action = audit_action(&request.action)?;
        let outcome = match request.outcome.as_str() {
            audit::OUTCOME_SUCCESS | audit::OUTCOME_FAILURE | audit::OUTCOME_DENIED => {
                request.outcome
            }
            other => {
                return Err(Error::InvalidArgument(format!(
                    "outcome {other:?} is not success, failure or denied"
                )));
            }
        };
        // Where the service verifies signed metadata the actor is the signed principal,
        // whatever the request names: a peer cannot put someone else's name on an entry.
        let (actor_type, actor_id) = if let Some(principal) = ultra_rpc::current_principal() {
            match principal.api_key_id {
                Some(key_id) => (audit::ACTOR_API_KEY.to_owned(), key_id),
                None => (audit::ACTOR_USER.to_owned(), principal.user_id),
            }
        } else {
            match request.actor_type.as_str() {
                "" | audit::ACTOR_USER if request.actor_id.is_empty() => {
                    (audit::ACTOR_USER.to_owned(), caller.user_id.clone())
                }
                audit::ACTOR_USER | audit::ACTOR_API_KEY | audit::ACTOR_ANONYMOUS => {
                    (request.actor_type, request.actor_id)
                }
                other => {
                    return Err(Error::InvalidArgument(format!(
                        "actor_type {other:?} is not user, api_key or anonymous"
                    )));
                }
            }
        };
        let now = ultra_bus::now_ms();
        let occurred_at_ms = match request.occurred_at_ms {
            0 => now,
            at => audit_time(at, now)?,
        };
        let client = request.client.unwrap_or_default();
        let stored = self
            .audit
            .append(audit::NewEntry {
                id: request.id,
                org_id: caller.org_id.clone(),
                occurred_at_ms,
                actor_type,
                actor_id,
                action,
                target_id: request.target_id,
                outcome,
                ip: client.ip,
                user_agent: client.user_agent,
                request_id: client.request_id,
                detail: request.detail,
            })
            .await?;
        Ok(AppendAuditResponse {
            seq: stored.seq,
            hash: stored.hash,
        })
    }

    async fn list_audit(&self, request: ListAuditRequest) -> Result<ListAuditResponse> {
        let caller = admin(request.caller.as_ref())?;
        let page = request.page.unwrap_or_default();
        let page_size = match page.page_size {
            0 => DEFAULT_AUDIT_PAGE_SIZE,
            size => size.min(MAX_AUDIT_PAGE_SIZE),
        };
        let text_filter = |field: &str, value: String| -> Result<Option<String>> {
            match value.trim() {
                "" => Ok(None),
                value if value.len() > 128 => Err(Error::InvalidArgument(format!(
                    "{field} must be at most 128 characters"
                ))),
                value => Ok(Some(value.to_owned())),
            }
        };
        let time_filter = |field: &str, value: i64| -> Result<Option<i64>> {
            match value {
                0 => Ok(None),
                value if value < 0 => Err(Error::InvalidArgument(format!(
                    "{field} must be a positive Unix time in milliseconds"
                ))),
                value => Ok(Some(value)),
            }
        };
        let filter = audit::Filter {
            action: text_filter("action", request.action)?,
            actor_id: text_filter("actor", request.actor_id)?,
            from_ms: time_filter("from", request.from_ms)?,
            to_ms: time_filter("to", request.to_ms)?,
            before_seq: match page.page_token.as_str() {
                "" => None,
                token => Some(audit::decode_page_token(token)?),
            },
        };
        // One more than asked tells whether there is a next page.
        let mut entries = self
            .audit
            .list(&caller.org_id, &filter, i64::from(page_size) + 1)
            .await?;
        let next_page_token = if entries.len() > page_size as usize {
            entries.truncate(page_size as usize);
            entries
                .last()
                .map(|last| audit::encode_page_token(last.seq))
                .unwrap_or_default()
        } else {
            String::new()
        };
        Ok(ListAuditResponse {
            entries: entries.into_iter().map(audit_to_proto).collect(),
            next_page_token,
        })
    }

    async fn verify_audit(&self, request: VerifyAuditRequest) -> Result<VerifyAuditResponse> {
        let caller = admin(request.caller.as_ref())?;
        Ok(match self.audit.verify(&caller.org_id).await? {
            audit::Verification::Intact { checked, head_hash } => VerifyAuditResponse {
                ok: true,
                checked,
                first_broken_seq: 0,
                reason: String::new(),
                head_hash,
            },
            audit::Verification::Broken {
                checked,
                seq,
                reason,
            } => {
                tracing::error!(org_id = %caller.org_id, seq, %reason, "audit chain broken");
                VerifyAuditResponse {
                    ok: false,
                    checked,
                    first_broken_seq: seq,
                    reason,
                    head_hash: String::new(),
                }
            }
        })
    }
}

fn caller(caller: Option<&Caller>) -> Result<&Caller> {
    ultra_rpc::caller(caller).map_err(|status| Error::Unauthenticated(status.message().to_owned()))
}

/// The caller, if it may manage its organisation (admins; never an API key): the audit log
/// is theirs to read.
fn admin(caller: Option<&Caller>) -> Result<&Caller> {
    ultra_rpc::authorize(caller, ultra_rpc::Permission::OrganizationManage).map_err(|status| {
        if status.code() == tonic::Code::PermissionDenied {
            Error::PermissionDenied("the audit log is for organisation admins".into())
        } else {
            Error::Unauthenticated(status.message().to_owned())
        }
    })
}

/// How far an entry's time may lie ahead of this service's clock (clock skew between hosts).
const AUDIT_MAX_FUTURE_MS: i64 = 5 * 60 * 1000;
/// How old an entry's time may be: the gateway's queue retries for a few minutes and may
/// hold entries while this service is down; a day covers that with room, while a peer
/// cannot backdate an entry into last month's records.
const AUDIT_MAX_AGE_MS: i64 = 24 * 60 * 60 * 1000;

/// `occurred_at_ms` if it lies within [`AUDIT_MAX_AGE_MS`] before and
/// [`AUDIT_MAX_FUTURE_MS`] after `now`; INVALID_ARGUMENT otherwise.
fn audit_time(occurred_at_ms: i64, now: i64) -> Result<i64> {
    if occurred_at_ms > now.saturating_add(AUDIT_MAX_FUTURE_MS) {
        return Err(Error::InvalidArgument(
            "occurred_at_ms is more than 5 minutes in the future".into(),
        ));
    }
    if occurred_at_ms < now.saturating_sub(AUDIT_MAX_AGE_MS) {
        return Err(Error::InvalidArgument(
            "occurred_at_ms is more than 24 hours in the past".into(),
        ));
    }
    Ok(occurred_at_ms)
}

/// Actions are dotted lowercase names (`model.upload`), at most 64 characters.
fn audit_action(action: &str) -> Result<String> {
    let valid = !action.is_empty()
        && action.len() <= 64
        && action.bytes().all(|byte| {
            byte.is_ascii_lowercase() || byte.is_ascii_digit() || b"._-".contains(&byte)
        });
    if valid {
        Ok(action.to_owned())
    } else {
        Err(Error::InvalidArgument(format!(
            "action {action:?} is not a dotted lowercase name"
        )))
    }
}

fn audit_to_proto(entry: audit::Entry) -> AuditEntry {
    let fields = entry.fields;
    AuditEntry {
        id: fields.id,
        org_id: fields.org_id,
        seq: entry.seq,
        occurred_at_ms: fields.occurred_at_ms,
        actor_type: fields.actor_type,
        actor_id: fields.actor_id,
        action: fields.action,
        target_id: fields.target_id,
        outcome: fields.outcome,
        ip: fields.ip,
        user_agent: fields.user_agent,
        request_id: fields.request_id,
        detail: fields.detail,
        prev_hash: entry.prev_hash,
        hash: entry.hash,
    }
}
