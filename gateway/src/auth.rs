//! Local verification of access tokens (HS256, with the users service's secret, issuer and
//! audience) and role checks, both from `ultra-auth`. The [`Caller`] handed to services is
//! built from the verified claims only.

use std::time::Duration;

pub use ultra_auth::Permission;
use ultra_auth::{AuthError, Role, TokenIssuer};
use ultra_proto::v1::Caller;

use crate::config::JwtConfig;

/// Verifies access tokens; the gateway never issues any (the TTL here is unused).
pub struct Verifier(TokenIssuer);

impl Verifier {
    pub fn new(jwt: &JwtConfig) -> Result<Verifier, AuthError> {
        let issuer = TokenIssuer::new(
            &jwt.secret,
            jwt.issuer.clone(),
            jwt.audience.clone(),
            Duration::from_secs(900),
        )?;
        Ok(Verifier(issuer))
    }

    /// The caller a valid token speaks for, or why the token is refused.
    pub fn verify(&self, token: &str) -> Result<Caller, String> {
        let claims = self.0.verify(token).map_err(|error| error.to_string())?;
        Ok(Caller {
            org_id: claims.org,
            user_id: claims.sub,
            role: claims.role.to_proto() as i32,
        })
    }
}

/// Whether the caller's role (a proto `Role`) grants `permission` in its own org.
pub fn allows(role: i32, permission: Permission) -> bool {
    ultra_proto::v1::Role::try_from(role)
        .ok()
        .and_then(Role::from_proto)
        .is_some_and(|role| ultra_auth::allows(role, permission))
}

pub fn permission_name(permission: Permission) -> &'static str {
    permission.as_str()
}
