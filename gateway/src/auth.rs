//! Local verification of access tokens (HS256 only, with the users service's secret, issuer
//! and audience; the token's `kid` picks the current or a previous secret, and an unknown
//! `kid` is refused) and role checks, both from `ultra-auth`. The [`Caller`] handed to services, and
//! the plan tier passed with a submitted simulation, are built from the verified claims only.

use std::time::Duration;

pub use ultra_auth::Permission;
use ultra_auth::{AuthError, Principal, Role, TokenIssuer};
use ultra_proto::v1::{Caller, PlanTier};

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
        )?
        .with_previous_secrets(&jwt.previous_secrets)?;
        Ok(Verifier(issuer))
    }

    /// The caller a valid token speaks for and its organisation's plan tier (UNSPECIFIED for
    /// a token without one, which the simulation service weighs like the lowest tier), or
    /// why the token is refused.
    pub fn verify(&self, token: &str) -> Result<(Caller, PlanTier), String> {
        let claims = self.0.verify(token).map_err(|error| error.to_string())?;
        let plan_tier = claims
            .plan
            .map_or(PlanTier::Unspecified, ultra_auth::PlanTier::to_proto);
        let caller = Caller {
            org_id: claims.org,
            user_id: claims.sub,
            role: claims.role.to_proto() as i32,
        };
        Ok((caller, plan_tier))
    }
}

/// The principal of a member acting with the role of their access token.
pub use ultra_rpc::principal_of;

/// The [`Caller`] handed to services for `principal`: an API key acts as its creator, with
/// no role (its power is its scopes, which travel in the signed caller metadata only).
pub fn caller_of(principal: &Principal) -> Caller {
    Caller {
        org_id: principal.org_id.clone(),
        user_id: principal.user_id.clone(),
        role: principal
            .role
            .map_or(ultra_proto::v1::Role::Unspecified, Role::to_proto) as i32,
    }
}

/// Whether `principal` (a role's permissions, or an API key's scopes) grants `permission`
/// in its own organisation: the one permission check of the REST API.
pub fn principal_allows(principal: &Principal, permission: Permission) -> bool {
    principal.allows(permission)
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

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef-gateway-unit";

    /// The plan tier the simulation service weights jobs by comes from the signed token:
    /// the one the users service issued, or UNSPECIFIED for a token without one.
    #[test]
    fn the_plan_tier_comes_from_the_token() {
        let jwt = JwtConfig {
            secret: SECRET.to_vec(),
            previous_secrets: Vec::new(),
            issuer: "ultra".into(),
            audience: "ultra-api".into(),
        };
        let verifier = Verifier::new(&jwt).expect("verifier");
        let issuer = TokenIssuer::new(SECRET, "ultra", "ultra-api", Duration::from_secs(60))
            .expect("issuer");
        let token = issuer
            .issue(
                "user-1",
                "org-1",
                Role::Analyst,
                ultra_auth::PlanTier::Enterprise,
            )
            .expect("token");
        let (caller, plan_tier) = verifier.verify(&token).expect("valid");
        assert_eq!(
            (caller.org_id.as_str(), plan_tier),
            ("org-1", PlanTier::Enterprise)
        );

        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_secs());
        let untiered = issuer
            .sign(&ultra_auth::Claims {
                sub: "user-1".into(),
                org: "org-1".into(),
                role: Role::Analyst,
                plan: None,
                iss: "ultra".into(),
                aud: "ultra-api".into(),
                iat: now,
                exp: now + 60,
                jti: "j".into(),
            })
            .expect("token");
        let (_, plan_tier) = verifier.verify(&untiered).expect("valid");
        assert_eq!(plan_tier, PlanTier::Unspecified);
    }
}
