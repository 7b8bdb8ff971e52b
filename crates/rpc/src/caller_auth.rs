//! Signed caller metadata (defence in depth): a service acts for the caller that the gateway
//! (or a peer service) signed into the request's `x-ultra-caller` metadata with the
//! platform's internal secret, never for a bare `Caller` written into the message.
//!
//! A service wraps its tonic server in [`CallerAuth::guard`]; the guard verifies the
//! metadata of each request and keeps the outcome for the duration of the call, and
//! [`crate::caller`] (which every RPC already calls to read its caller) refuses the request
//! with UNAUTHENTICATED when the metadata is missing or invalid or names another caller than
//! the message. State-changing RPCs call [`crate::authorize`], which also checks the signed
//! permissions (a role's, or an API key's scopes). Requests without a caller (login,
//! registration) are not affected: nothing asks for their caller.
//!
//! Without a secret ([`CallerAuth::disabled`]) services trust the message as before: that is
//! for tests of one service alone. `ultra serve` always configures a secret, and
//! `ultra service NAME` and `ultra gateway` refuse to start without `ULTRA_SERVICE_SECRET`.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tonic::Status;
use tonic::codegen::{Service, http};
use tonic::metadata::MetadataValue;
use tonic::server::NamedService;
use ultra_auth::{
    AuthError, CALLER_METADATA, CallerSigner, Permission, PermissionSet, Principal, Role,
};
use ultra_proto::v1::Caller;

/// What the guard found in a request's metadata.
#[derive(Clone, Debug)]
enum Verified {
    /// No secret configured: the message's caller is trusted.
    NotEnforced,
    Missing,
    Invalid(String),
    Signed(Principal),
}

tokio::task_local! {
    static VERIFIED: Verified;
}

/// The platform's internal secret, for verifying (servers) and signing (clients).
/// Two are equal when they hold the same secret (compared by its SHA-256, so that service
/// configurations stay comparable without holding the secret in the clear).
#[derive(Clone, Default)]
pub struct CallerAuth {
    signer: Option<Arc<CallerSigner>>,
    fingerprint: Option<String>,
}

impl PartialEq for CallerAuth {
    fn eq(&self, other: &CallerAuth) -> bool {
        self.fingerprint == other.fingerprint
    }
}

impl Eq for CallerAuth {}

impl std::fmt::Debug for CallerAuth {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("CallerAuth")
            .field("enforced", &self.is_enforced())
            .finish()
    }
}

/// The variable every process reads the secret from.
pub use ultra_auth::SERVICE_SECRET_ENV;

/// Why `ULTRA_SERVICE_SECRET` is unusable (the only reason: too short).
pub const WEAK_SERVICE_SECRET: &str = "must be at least 32 bytes";

impl CallerAuth {
    /// Verifies and signs with `secret` (at least 32 bytes).
    pub fn new(secret: &[u8]) -> Result<CallerAuth, AuthError> {
        Ok(CallerAuth {
            signer: Some(Arc::new(CallerSigner::new(secret)?)),
            fingerprint: Some(ultra_auth::sha256_hex(&String::from_utf8_lossy(secret))),
        })
    }

    /// With a secret when one is configured, [`CallerAuth::disabled`] otherwise.
    pub fn from_secret(secret: Option<&[u8]>) -> Result<CallerAuth, AuthError> {
        match secret {
            Some(secret) => CallerAuth::new(secret),
            None => Ok(CallerAuth::disabled()),
        }
    }

    /// From `ULTRA_SERVICE_SECRET` (at least 32 bytes); unset or empty: disabled (the
    /// binaries refuse to start a split deployment without it). The error is the reason,
    /// for the service's `ConfigError` naming the variable.
    pub fn from_env(env: &HashMap<String, String>) -> Result<CallerAuth, &'static str> {
        let secret = env
            .get(SERVICE_SECRET_ENV)
            .map(|value| value.trim())
            .filter(|value| !value.is_empty());
        CallerAuth::from_secret(secret.map(str::as_bytes)).map_err(|_| WEAK_SERVICE_SECRET)
    }

    /// Trusts the `Caller` in each message and signs nothing: for tests of one service.
    pub fn disabled() -> CallerAuth {
        CallerAuth {
            signer: None,
            fingerprint: None,
        }
    }

    /// Whether requests must carry valid signed metadata.
    pub fn is_enforced(&self) -> bool {
        self.signer.is_some()
    }

    /// `service` with its requests' caller metadata verified (see the module doc).
    pub fn guard<S>(&self, service: S) -> Guarded<S> {
        Guarded {
            inner: service,
            signer: self.signer.clone(),
        }
    }

    /// A request carrying `message` and signed metadata for `principal` (none when
    /// disabled).
    pub fn request<T>(
        &self,
        principal: &Principal,
        message: T,
    ) -> Result<tonic::Request<T>, Status> {
        let mut request = crate::traced(message);
        if let Some(signer) = &self.signer {
            let token = signer.sign(principal).map_err(|error| {
                tracing::error!(%error, "signing caller metadata failed");
                Status::internal("internal error")
            })?;
            let value = MetadataValue::try_from(token.as_str())
                .map_err(|_| Status::internal("caller metadata is not ASCII"))?;
            request.metadata_mut().insert(CALLER_METADATA, value);
        }
        Ok(request)
    }

    /// A peer call on behalf of `caller`: the principal verified for the request being
    /// served when it is the same caller (its permissions carry over, an API key's scopes
    /// included), else `caller` with its role's permissions (background work such as a
    /// simulation worker storing results).
    pub fn peer_request<T>(
        &self,
        caller: &Caller,
        message: T,
    ) -> Result<tonic::Request<T>, Status> {
        let principal = current_principal()
            .filter(|principal| {
                principal.org_id == caller.org_id && principal.user_id == caller.user_id
            })
            .unwrap_or_else(|| principal_of(caller));
        self.request(&principal, message)
    }
}

/// The principal a bare `Caller` stands for: its role's permissions, or none without one.
pub fn principal_of(caller: &Caller) -> Principal {
    let role = role_of(caller);
    Principal {
        org_id: caller.org_id.clone(),
        user_id: caller.user_id.clone(),
        role,
        permissions: role.map_or(PermissionSet::EMPTY, PermissionSet::of_role),
        api_key_id: None,
    }
}

fn role_of(caller: &Caller) -> Option<Role> {
    ultra_proto::v1::Role::try_from(caller.role)
        .ok()
        .and_then(Role::from_proto)
}

/// The principal signed into the request being served, if the service verifies metadata and
/// the request had a valid one.
pub fn current_principal() -> Option<Principal> {
    VERIFIED
        .try_with(|verified| match verified {
            Verified::Signed(principal) => Some(principal.clone()),
            _ => None,
        })
        .ok()
        .flatten()
}

/// Checks `caller` (already validated) against the request's signed metadata. Outside a
/// guarded service (a service's trait called directly in a test) there is nothing to check.
pub(crate) fn check_signed(caller: &Caller) -> Result<(), Status> {
    let outcome = VERIFIED.try_with(|verified| match verified {
        Verified::NotEnforced => Ok(()),
        Verified::Missing => Err(Status::unauthenticated(format!(
            "missing signed caller metadata ({CALLER_METADATA})"
        ))),
        Verified::Invalid(reason) => Err(Status::unauthenticated(format!(
            "invalid caller metadata: {reason}"
        ))),
        Verified::Signed(principal) => {
            let same_role = principal.role.map_or(0, |role| role.to_proto() as i32) == caller.role;
            if principal.org_id == caller.org_id && principal.user_id == caller.user_id && same_role
            {
                Ok(())
            } else {
                tracing::warn!(
                    signed_org = %principal.org_id,
                    message_org = %caller.org_id,
                    "caller of the message does not match its signed metadata"
                );
                Err(Status::unauthenticated(
                    "the request's caller does not match its signed caller metadata",
                ))
            }
        }
    });
    outcome.unwrap_or(Ok(()))
}

/// Whether the request being served may do `permission` for `caller`: the signed
/// permissions when the service verifies metadata, else the message's role.
pub(crate) fn check_permission(caller: &Caller, permission: Permission) -> Result<(), Status> {
    let allowed = match current_principal() {
        Some(principal) => principal.allows(permission),
        None => role_of(caller).is_some_and(|role| ultra_auth::allows(role, permission)),
    };
    if allowed {
        Ok(())
    } else {
        Err(Status::permission_denied(format!(
            "the caller lacks the permission {permission}"
        )))
    }
}

/// A tonic server whose requests' caller metadata is verified ([`CallerAuth::guard`]).
#[derive(Clone, Debug)]
pub struct Guarded<S> {
    inner: S,
    signer: Option<Arc<CallerSigner>>,
}

impl<S: NamedService> NamedService for Guarded<S> {
    const NAME: &'static str = S::NAME;
}

impl<S> Guarded<S> {
    fn verify(&self, headers: &http::HeaderMap) -> Verified {
        let Some(signer) = &self.signer else {
            return Verified::NotEnforced;
        };
        let Some(value) = headers.get(CALLER_METADATA) else {
            return Verified::Missing;
        };
        let Ok(token) = value.to_str() else {
            return Verified::Invalid("not ASCII".into());
        };
        match signer.verify(token) {
            Ok(principal) => Verified::Signed(principal),
            Err(error) => Verified::Invalid(error.to_string()),
        }
    }
}

impl<S, B> Service<http::Request<B>> for Guarded<S>
where
    S: Service<http::Request<B>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, context: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(context)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let verified = self.verify(request.headers());
        let trace = request
            .headers()
            .get(ultra_telemetry::TRACEPARENT)
            .and_then(|value| value.to_str().ok())
            .and_then(ultra_telemetry::TraceContext::parse);
        // The handler runs inside this future (unary and client-streaming calls entirely,
        // server-streaming calls until they return their stream), so `caller()` sees it,
        // and so do the events it writes (their envelope records the request's trace).
        let call = VERIFIED.scope(verified, self.inner.call(request));
        match trace {
            Some(trace) => Box::pin(ultra_telemetry::scope(trace, call)),
            None => Box::pin(call),
        }
    }
}
