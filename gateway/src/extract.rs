//! Extractors whose rejections are problem documents: JSON bodies, query strings and the
//! bearer token (verified locally; the [`Caller`] handed to services is built from the
//! verified claims only, never from anything else the client sent).

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRef, FromRequest, FromRequestParts, Request};
use axum::http::header;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use ultra_auth::Principal;
use ultra_proto::v1::{Caller, PlanTier};

use crate::AppState;
use crate::auth::{self, Permission};
use crate::problem::ApiError;

/// `axum::Json`, rejecting with `malformed-json` (400), `invalid-argument` (400) or
/// `unsupported-media-type` (415).
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(request, state).await {
            Ok(axum::Json(value)) => Ok(ApiJson(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::JsonSyntaxError(error) => ApiError::MalformedJson(error.body_text()),
        JsonRejection::JsonDataError(error) => ApiError::InvalidRequest(error.body_text()),
        JsonRejection::MissingJsonContentType(_) => {
            ApiError::UnsupportedMediaType("expected content-type: application/json".into())
        }
        JsonRejection::BytesRejection(error) => {
            if error.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge(error.body_text())
            } else {
                ApiError::InvalidRequest(error.body_text())
            }
        }
        other => ApiError::InvalidRequest(other.body_text()),
    }
}

/// `axum::extract::Query`, rejecting with `invalid-argument` (400).
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(ApiQuery(value)),
            Err(rejection) => Err(query_rejection(rejection)),
        }
    }
}

fn query_rejection(rejection: QueryRejection) -> ApiError {
    ApiError::InvalidRequest(rejection.body_text())
}

/// The verified caller of a request (from an access token or an API key), its
/// organisation's plan tier, and what it may do. Extracting it also takes one request from
/// the organisation's rate-limit bucket (429 `quota-exceeded` when empty).
#[derive(Clone, Debug)]
pub struct Authenticated(pub Caller, pub PlanTier, pub Credentials);

/// What a request was authenticated as, and the means to prove it to the services.
#[derive(Clone, Debug)]
pub struct Credentials {
    /// A member with their role's permissions, or an API key with its scopes.
    pub principal: Principal,
    caller_auth: ultra_rpc::CallerAuth,
}

impl Authenticated {
    /// 403 `forbidden` when the caller (a role, or an API key's scopes) lacks `permission`
    /// in its own organisation.
    pub fn require(&self, permission: Permission) -> Result<&Caller, ApiError> {
        let principal = &self.2.principal;
        if auth::principal_allows(principal, permission) {
            Ok(&self.0)
        } else if principal.api_key_id.is_some() {
            Err(ApiError::ForbiddenScope(auth::permission_name(permission)))
        } else {
            Err(ApiError::Forbidden(auth::permission_name(permission)))
        }
    }

    /// Who the request acts for and what it may do.
    pub fn principal(&self) -> &Principal {
        &self.2.principal
    }

    /// A gRPC request carrying `message` and this caller's signed metadata, which the
    /// services verify (defence in depth): every call made for an authenticated request
    /// goes through here.
    pub fn request<T>(&self, message: T) -> Result<tonic::Request<T>, ApiError> {
        self.2
            .caller_auth
            .request(&self.2.principal, message)
            .map_err(ApiError::Upstream)
    }
}

impl<S> FromRequestParts<S> for Authenticated
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let app = AppState::from_ref(state);
        let header_value = parts
            .headers
            .get(header::AUTHORIZATION)
            .ok_or(ApiError::MissingToken)?;
        let text = header_value
            .to_str()
            .map_err(|_| ApiError::InvalidToken("authorization header is not ASCII".into()))?;
        let token = text
            .strip_prefix("Bearer ")
            .or_else(|| text.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|token| !token.is_empty())
            .ok_or_else(|| ApiError::InvalidToken("expected `Bearer <token>`".into()))?;
        let (caller, plan_tier, principal) = if ultra_auth::is_api_key(token) {
            let (principal, plan_tier) = app.api_keys.verify(&app.upstreams.orgs, token).await?;
            (auth::caller_of(&principal), plan_tier, principal)
        } else {
            let (caller, plan_tier) = app.tokens.verify(token).map_err(ApiError::InvalidToken)?;
            let principal = auth::principal_of(&caller);
            (caller, plan_tier, principal)
        };
        // Here, and not in a layer, because only here is the organisation known without
        // verifying the token twice; every authenticated route takes this extractor.
        if let Some(limits) = &app.rate_limits {
            limits.check(&caller.org_id, plan_tier).await?;
        }
        // An audited route's layer records who acted once the handler has answered.
        if let Some(slot) = parts.extensions.get::<crate::audit::CallerSlot>() {
            slot.set(match &principal.api_key_id {
                Some(key_id) => crate::audit::Actor::api_key(&caller, key_id),
                None => crate::audit::Actor::user(&caller),
            });
        }
        let credentials = Credentials {
            principal,
            caller_auth: app.caller_auth.clone(),
        };
        Ok(Authenticated(caller, plan_tier, credentials))
    }
}
