//! Authentication and authorisation primitives shared by the users service (which issues
//! credentials) and the gateway (which checks them): argon2id password hashes, HS256 JWT
//! access tokens (carrying the organisation's plan tier), opaque rotating refresh tokens,
//! the role → permission table of DESIGN.md, and the limits of each plan tier.

mod api_key;
mod caller_token;
mod limits;
mod password;
mod plan;
mod principal;
mod roles;
mod token;

pub use api_key::{
    API_KEY_PREFIX, NewApiKey, api_key_hash, is_api_key, is_well_formed_api_key, new_api_key,
};
pub use caller_token::{CALLER_METADATA, CallerSigner, SERVICE_SECRET_ENV};
pub use limits::{PLAN_LIMITS_ENV, PlanLimits, PlanLimitsError, PlanLimitsTable};
pub use password::{hash_password, verify_password, verify_password_against_dummy};
pub use plan::PlanTier;
pub use principal::{PermissionSet, Principal};
pub use roles::{Permission, Role, allows};
pub use token::{
    Claims, MIN_SECRET_BYTES, PREVIOUS_SECRETS_ENV, TokenIssuer, constant_time_eq, key_id,
    new_refresh_token, parse_previous_secrets, sha256_hex,
};

/// Why a credential was refused or could not be produced. Every token rejection is its own
/// variant so callers can log the reason, while answering clients with one generic 401.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("token expired")]
    Expired,
    #[error("token signature is invalid")]
    BadSignature,
    #[error("token algorithm is not HS256")]
    WrongAlgorithm,
    #[error("token audience is not accepted")]
    WrongAudience,
    #[error("token issuer is not accepted")]
    WrongIssuer,
    /// The token names (by `kid`) a key this process does not hold: one retired by a
    /// rotation, or never ours.
    #[error("token key id {0:?} is not accepted")]
    UnknownKey(String),
    #[error("token is malformed: {0}")]
    Malformed(String),
    #[error("JWT secret must be at least {MIN_SECRET_BYTES} bytes")]
    WeakSecret,
    #[error("unknown role {0:?}")]
    UnknownRole(String),
    #[error("unknown permission {0:?}")]
    UnknownPermission(String),
    #[error("unknown plan tier {0:?}")]
    UnknownPlanTier(String),
    #[error("password hashing failed: {0}")]
    Hashing(String),
}
