//! OpenID Connect single sign-on per organisation: `SsoService` (proto `sso.proto`).
//!
//! The authorization-code flow with PKCE (S256): `StartOidcLogin` discovers the provider,
//! keeps a new login's state (hashed), nonce and code verifier here, and answers the
//! provider's authorization URL; `CompleteOidcLogin` takes the state back (once, within 10
//! minutes), exchanges the code with the verifier at the token endpoint, and accepts the
//! ID token only if its RS256 signature verifies against the provider's JWKS and its `iss`,
//! `aud`, `exp` and `nonce` are the expected ones. A subject seen for the first time is
//! provisioned as a member of the organisation with its default role (viewer unless
//! configured). The ID token must say `email_verified: true`, and an existing Ultra account
//! is signed in only through the (issuer, subject) identity already linked to it: an
//! account with the same email is never taken over by matching the email alone (anyone who
//! controls an IdP account showing that email could otherwise sign in as its owner), so
//! such a login is refused and an admin has to invite or link the account.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use sqlx::Row;
use tonic::{Request, Response, Status};
use ultra_auth::{Role, TokenIssuer};
use ultra_proto::v1::sso_service_server::SsoService;
use ultra_proto::v1::{
    CompleteOidcLoginRequest, ConfigureOidcRequest, OidcConfig, StartOidcLoginRequest,
    StartOidcLoginResponse, TokenPair,
};
use ultra_store::Db;

use crate::error::{Error, Result};
use crate::oidc_http;
use crate::store::{RefreshRecord, UsersStore};

/// How long a started login may take to come back.
const LOGIN_TTL: Duration = Duration::from_secs(600);
/// Clock skew tolerated on the ID token's `exp`.
const LEEWAY_SECONDS: u64 = 60;
/// The one answer to a refused SSO login; the reason goes to the log.
const SSO_FAILED: &str = "single sign-on failed";

pub struct SsoGrpc {
    db: Db,
    store: UsersStore,
    issuer: TokenIssuer,
    refresh_ttl: Duration,
}

/// A provider as configured by an organisation.
struct Provider {
    issuer: String,
    client_id: String,
    client_secret: String,
    default_role: Role,
}

/// The endpoints of a provider's discovery document.
#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
}

#[derive(Deserialize)]
struct IdClaims {
    sub: String,
    #[serde(default)]
    email: Option<String>,
    /// Must be JSON `true`: an unverified (or absent) flag means the provider does not vouch
    /// that the subject controls the email. Kept as a value because some providers send
    /// strings, which are refused rather than failing the whole token's parse.
    #[serde(default)]
    email_verified: Option<serde_json::Value>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    nonce: Option<String>,
}

fn refused(reason: impl std::fmt::Display) -> Error {
    tracing::warn!(%reason, "oidc login refused");
    Error::Unauthenticated(SSO_FAILED.into())
}

fn sha256_base64url(text: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(text.as_bytes()))
}

async fn discover(issuer: &str) -> Result<Discovery> {
    let url = format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    );
    let document = oidc_http::get_json_cached(&url, oidc_http::allows_private(issuer), false)
        .await
        .map_err(refused)?;
    let discovery: Discovery = serde_json::from_value(document).map_err(refused)?;
    // OIDC Discovery 1.0 §4.3: the document must name the issuer it was fetched for.
    if discovery.issuer.trim_end_matches('/') != issuer.trim_end_matches('/') {
        return Err(refused(format!(
            "discovery names issuer {:?}, expected {issuer:?}",
            discovery.issuer
        )));
    }
    Ok(discovery)
}

impl SsoGrpc {
    pub fn new(db: Db, issuer: TokenIssuer, refresh_ttl: Duration) -> SsoGrpc {
        SsoGrpc {
            store: UsersStore::new(db.clone()),
            db,
            issuer,
            refresh_ttl,
        }
    }

    async fn provider(&self, org_id: &str) -> Result<Option<Provider>> {
        let row = sqlx::query(
            "SELECT issuer, client_id, client_secret, default_role FROM oidc_providers \
             WHERE org_id = $1",
        )
        .bind(org_id)
        .fetch_optional(self.db.pool())
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let role: String = row.try_get("default_role")?;
        Ok(Some(Provider {
            issuer: row.try_get("issuer")?,
            client_id: row.try_get("client_id")?,
            client_secret: row.try_get("client_secret")?,
            default_role: role.parse::<Role>()?,
        }))
    }

    async fn configure(&self, request: ConfigureOidcRequest) -> Result<OidcConfig> {
        // The caller's permission (an API key never has organization.manage through SSO
        // configuration), then the role stored now (it may have changed since the token).
        let caller = ultra_rpc::authorize(
            request.caller.as_ref(),
            ultra_auth::Permission::OrganizationManage,
        )
        .map_err(|status| match status.code() {
            tonic::Code::PermissionDenied => Error::PermissionDenied(status.message().to_owned()),
            _ => Error::Unauthenticated(status.message().to_owned()),
        })?;
        let mut conn = self.db.pool().acquire().await?;
        match crate::erasure::stored_role(&mut conn, caller).await? {
            Some(Role::Admin) => {}
            Some(_) => {
                return Err(Error::PermissionDenied(
                    "only an admin can configure single sign-on".into(),
                ));
            }
            None => return Err(Error::NotFound("organisation not found".into())),
        }
        drop(conn);
        let issuer = request.issuer.trim().trim_end_matches('/').to_owned();
        oidc_http::check_url(&issuer)
            .map_err(|error| Error::InvalidArgument(format!("issuer: {error}")))?;
        let client_id = request.client_id.trim();
        if client_id.is_empty() || client_id.len() > 512 {
            return Err(Error::InvalidArgument("client_id is required".into()));
        }
        if request.client_secret.is_empty() || request.client_secret.len() > 2048 {
            return Err(Error::InvalidArgument("client_secret is required".into()));
        }
        let default_role = match ultra_proto::v1::Role::try_from(request.default_role) {
            Ok(ultra_proto::v1::Role::Unspecified) => Role::Viewer,
            Ok(role) => Role::from_proto(role)
                .ok_or_else(|| Error::InvalidArgument("default_role is invalid".into()))?,
            Err(_) => return Err(Error::InvalidArgument("default_role is invalid".into())),
        };
        if default_role == Role::Admin {
            // Anyone the provider vouches for would administer the organisation.
            return Err(Error::InvalidArgument(
                "default_role cannot be admin".into(),
            ));
        }
        sqlx::query(
            "INSERT INTO oidc_providers \
             (org_id, issuer, client_id, client_secret, default_role, updated_at_ms) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (org_id) DO UPDATE SET \
             issuer = $2, client_id = $3, client_secret = $4, default_role = $5, \
             updated_at_ms = $6",
        )
        .bind(&caller.org_id)
        .bind(&issuer)
        .bind(client_id)
        .bind(&request.client_secret)
        .bind(default_role.as_str())
        .bind(ultra_bus::now_ms())
        .execute(self.db.pool())
        .await?;
        tracing::info!(org_id = %caller.org_id, %issuer, "oidc provider configured");
        Ok(OidcConfig {
            org_id: caller.org_id.clone(),
            issuer,
            client_id: client_id.to_owned(),
            default_role: default_role.to_proto() as i32,
        })
    }

    async fn start(&self, request: StartOidcLoginRequest) -> Result<StartOidcLoginResponse> {
        let not_configured = || Error::NotFound("no single sign-on for this organisation".into());
        if ultra_rpc::validate_id("org_id", &request.org_id).is_err() {
            return Err(not_configured());
        }
        let Some(provider) = self.provider(&request.org_id).await? else {
            return Err(not_configured());
        };
        let redirect_uri = url::Url::parse(&request.redirect_uri)
            .map_err(|_| Error::InvalidArgument("redirect_uri is not a URL".into()))?;
        let discovery = discover(&provider.issuer).await?;
        let (state, state_hash) = ultra_auth::new_refresh_token();
        let (nonce, _) = ultra_auth::new_refresh_token();
        let (verifier, _) = ultra_auth::new_refresh_token();
        let now = ultra_bus::now_ms();
        sqlx::query("DELETE FROM oidc_logins WHERE expires_at_ms < $1")
            .bind(now)
            .execute(self.db.pool())
            .await?;
        sqlx::query(
            "INSERT INTO oidc_logins \
             (state_hash, org_id, nonce, code_verifier, redirect_uri, expires_at_ms) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&state_hash)
        .bind(&request.org_id)
        .bind(&nonce)
        .bind(&verifier)
        .bind(redirect_uri.as_str())
        .bind(now.saturating_add(LOGIN_TTL.as_millis() as i64))
        .execute(self.db.pool())
        .await?;
        let mut authorize = url::Url::parse(&discovery.authorization_endpoint).map_err(refused)?;
        authorize
            .query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &provider.client_id)
            .append_pair("redirect_uri", redirect_uri.as_str())
            .append_pair("scope", "openid email profile")
            .append_pair("state", &state)
            .append_pair("nonce", &nonce)
            .append_pair("code_challenge", &sha256_base64url(&verifier))
            .append_pair("code_challenge_method", "S256");
        Ok(StartOidcLoginResponse {
            authorization_url: authorize.into(),
        })
    }

    async fn complete(&self, request: CompleteOidcLoginRequest) -> Result<TokenPair> {
        if request.state.is_empty() || request.code.is_empty() {
            return Err(refused("missing state or code"));
        }
        // The login is taken (deleted) whatever happens next: a state works once.
        let row = sqlx::query(
            "DELETE FROM oidc_logins WHERE state_hash = $1 \
             RETURNING org_id, nonce, code_verifier, redirect_uri, expires_at_ms",
        )
        .bind(ultra_auth::sha256_hex(&request.state))
        .fetch_optional(self.db.pool())
        .await?
        .ok_or_else(|| refused("unknown or used state"))?;
        let expires_at_ms: i64 = row.try_get("expires_at_ms")?;
        if expires_at_ms < ultra_bus::now_ms() {
            return Err(refused("expired state"));
        }
        let org_id: String = row.try_get("org_id")?;
        let nonce: String = row.try_get("nonce")?;
        let verifier: String = row.try_get("code_verifier")?;
        let redirect_uri: String = row.try_get("redirect_uri")?;
        let provider = self
            .provider(&org_id)
            .await?
            .ok_or_else(|| refused("provider removed during the login"))?;
        let discovery = discover(&provider.issuer).await?;
        let tokens = oidc_http::post_form(
            &discovery.token_endpoint,
            &[
                ("grant_type", "authorization_code"),
                ("code", &request.code),
                ("redirect_uri", &redirect_uri),
                ("client_id", &provider.client_id),
                ("client_secret", &provider.client_secret),
                ("code_verifier", &verifier),
            ],
            oidc_http::allows_private(&provider.issuer),
        )
        .await
        .map_err(refused)?;
        let id_token = tokens["id_token"]
            .as_str()
            .ok_or_else(|| refused("token response without id_token"))?;
        let claims = validate_id_token(id_token, &provider, &discovery).await?;
        if claims.nonce.as_deref() != Some(nonce.as_str()) {
            return Err(refused("nonce mismatch"));
        }
        let email = claims
            .email
            .as_deref()
            .map(|email| email.trim().to_lowercase())
            .filter(|email| email.contains('@') && email.len() <= 254)
            .ok_or_else(|| refused("ID token without an email"))?;
        if claims.email_verified != Some(serde_json::Value::Bool(true)) {
            tracing::warn!(%org_id, subject = %claims.sub, "oidc login refused: email not verified");
            return Err(Error::PermissionDenied(
                "single sign-on refused: the identity provider has not verified this email \
                 address (email_verified is not true)"
                    .into(),
            ));
        }
        let user_id = self
            .provision(
                &org_id,
                &provider,
                &claims.sub,
                &email,
                claims.name.as_deref(),
            )
            .await?;
        let membership = self
            .store
            .membership(&user_id, &org_id)
            .await?
            .ok_or_else(|| refused("not a member"))?;
        let (refresh_token, refresh_hash) = ultra_auth::new_refresh_token();
        let ttl_ms = i64::try_from(self.refresh_ttl.as_millis()).unwrap_or(i64::MAX);
        let record = RefreshRecord {
            family_id: uuid::Uuid::now_v7().to_string(),
            user_id: user_id.clone(),
            org_id: org_id.clone(),
            expires_at_ms: ultra_bus::now_ms().saturating_add(ttl_ms),
            revoked: false,
        };
        self.store
            .insert_refresh_token(&refresh_hash, &record)
            .await?;
        tracing::info!(%user_id, %org_id, "oidc login");
        Ok(TokenPair {
            access_token: self.issuer.issue(
                &user_id,
                &org_id,
                membership.role,
                membership.plan_tier,
            )?,
            refresh_token,
            expires_in_seconds: u32::try_from(self.issuer.access_ttl().as_secs())
                .unwrap_or(u32::MAX),
            token_type: "Bearer".into(),
        })
    }

    /// The Ultra user of the provider's `subject`, created (with a membership of `org_id`
    /// in the default role) on their first login.
    async fn provision(
        &self,
        org_id: &str,
        provider: &Provider,
        subject: &str,
        email: &str,
        name: Option<&str>,
    ) -> Result<String> {
        let mut tx = self.db.begin().await?;
        let known: Option<(String, String)> = sqlx::query_as(
            "SELECT user_id, org_id FROM oidc_identities WHERE issuer = $1 AND subject = $2",
        )
        .bind(&provider.issuer)
        .bind(subject)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some((user_id, identity_org)) = known {
            if identity_org != org_id {
                return Err(refused("identity belongs to another organisation"));
            }
            return Ok(user_id);
        }
        let now = ultra_bus::now_ms();
        let existing: Option<String> = sqlx::query_scalar("SELECT id FROM users WHERE email = $1")
            .bind(email)
            .fetch_optional(&mut *tx)
            .await?;
        let user_id = match existing {
            // An account with this email but not this identity: never linked by the email
            // alone, whichever organisation it belongs to (the provider's say-so about an
            // email is not proof of owning the Ultra account).
            Some(user_id) => {
                tracing::warn!(%user_id, %org_id, issuer = %provider.issuer, "oidc login refused: email has an unlinked account");
                return Err(Error::FailedPrecondition(
                    "single sign-on refused: an Ultra account with this email already exists \
                     and is not linked to this identity provider; an organisation admin must \
                     invite or link the account"
                        .into(),
                ));
            }
            None => {
                let user_id = uuid::Uuid::now_v7().to_string();
                let display_name = name
                    .map(str::trim)
                    .filter(|name| !name.is_empty())
                    .unwrap_or_else(|| email.split('@').next().unwrap_or_default());
                // An empty password hash matches no password: SSO users log in through SSO.
                sqlx::query(
                    "INSERT INTO users (id, email, display_name, password_hash, created_at_ms) \
                     VALUES ($1, $2, $3, '', $4)",
                )
                .bind(&user_id)
                .bind(email)
                .bind(display_name.chars().take(200).collect::<String>())
                .bind(now)
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    "INSERT INTO memberships (org_id, user_id, role, created_at_ms) \
                     VALUES ($1, $2, $3, $4)",
                )
                .bind(org_id)
                .bind(&user_id)
                .bind(provider.default_role.as_str())
                .bind(now)
                .execute(&mut *tx)
                .await?;
                tracing::info!(%user_id, %org_id, role = provider.default_role.as_str(), "user provisioned by oidc");
                user_id
            }
        };
        sqlx::query(
            "INSERT INTO oidc_identities (issuer, subject, user_id, org_id, created_at_ms) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&provider.issuer)
        .bind(subject)
        .bind(&user_id)
        .bind(org_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(user_id)
    }
}

/// Verifies the ID token's RS256 signature with the JWKS key its `kid` names, and its
/// `iss`, `aud` and `exp`.
async fn validate_id_token(
    id_token: &str,
    provider: &Provider,
    discovery: &Discovery,
) -> Result<IdClaims> {
    let header = jsonwebtoken::decode_header(id_token).map_err(refused)?;
    if header.alg != Algorithm::RS256 {
        return Err(refused(format!("ID token algorithm {:?}", header.alg)));
    }
    let allow_private = oidc_http::allows_private(&provider.issuer);
    let find_key = |jwks: &serde_json::Value| {
        jwks["keys"].as_array().and_then(|keys| {
            keys.iter()
                .filter(|key| key["kty"] == "RSA")
                .find(|key| match &header.kid {
                    Some(kid) => key["kid"].as_str() == Some(kid.as_str()),
                    None => true,
                })
                .cloned()
        })
    };
    let jwks = oidc_http::get_json_cached(&discovery.jwks_uri, allow_private, false)
        .await
        .map_err(refused)?;
    let key = match find_key(&jwks) {
        Some(key) => key,
        // Not in the cached JWKS: the provider may have rotated its keys since.
        None => {
            let jwks = oidc_http::get_json_cached(&discovery.jwks_uri, allow_private, true)
                .await
                .map_err(refused)?;
            find_key(&jwks).ok_or_else(|| refused("no JWKS key for the ID token"))?
        }
    };
    let (Some(n), Some(e)) = (key["n"].as_str(), key["e"].as_str()) else {
        return Err(refused("JWKS key without n and e"));
    };
    let decoding_key = DecodingKey::from_rsa_components(n, e).map_err(refused)?;
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_issuer(&[provider.issuer.as_str()]);
    validation.set_audience(&[provider.client_id.as_str()]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    validation.leeway = LEEWAY_SECONDS;
    let data =
        jsonwebtoken::decode::<IdClaims>(id_token, &decoding_key, &validation).map_err(refused)?;
    Ok(data.claims)
}

#[tonic::async_trait]
impl SsoService for SsoGrpc {
    async fn configure_oidc(
        &self,
        request: Request<ConfigureOidcRequest>,
    ) -> Result<Response<OidcConfig>, Status> {
        Ok(Response::new(self.configure(request.into_inner()).await?))
    }

    async fn start_oidc_login(
        &self,
        request: Request<StartOidcLoginRequest>,
    ) -> Result<Response<StartOidcLoginResponse>, Status> {
        Ok(Response::new(self.start(request.into_inner()).await?))
    }

    async fn complete_oidc_login(
        &self,
        request: Request<CompleteOidcLoginRequest>,
    ) -> Result<Response<TokenPair>, Status> {
        Ok(Response::new(self.complete(request.into_inner()).await?))
    }
}
