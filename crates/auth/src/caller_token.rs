//! Signed caller metadata between Ultra's processes (defence in depth): the gateway, and a
//! service calling a peer on behalf of a caller, attach a short-lived HS256 token to each
//! gRPC request (metadata `x-ultra-caller`) naming the organisation, the user, the role and
//! the effective permissions. Services verify it and act for that caller only, so a request
//! that reaches a service without passing the gateway (a compromised pod, a port left open)
//! cannot pick an organisation by writing a `Caller` into the message.
//!
//! The secret (`ULTRA_SERVICE_SECRET`) is not the access-token secret, and the tokens have
//! their own issuer and audience, so neither kind of token is accepted as the other.

use std::time::Duration;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::{AuthError, MIN_SECRET_BYTES, PermissionSet, Principal, Role};

/// The gRPC metadata entry that carries the token.
pub const CALLER_METADATA: &str = "x-ultra-caller";

/// The variable every process of a split deployment reads the shared secret from.
pub const SERVICE_SECRET_ENV: &str = "ULTRA_SERVICE_SECRET";

const ISSUER: &str = "ultra-internal";
const AUDIENCE: &str = "ultra-services";

/// Long enough for a hop and clock skew, short enough that a token copied from a request is
/// useless a minute later. Tokens are signed per call, never cached.
const TTL: Duration = Duration::from_secs(60);
const LEEWAY_SECONDS: u64 = 5;

#[derive(Debug, Serialize, Deserialize)]
struct CallerClaims {
    org: String,
    sub: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    role: Option<Role>,
    perms: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    key: Option<String>,
    iss: String,
    aud: String,
    iat: u64,
    exp: u64,
}

/// Signs and verifies caller metadata with the platform's internal secret.
#[derive(Clone)]
pub struct CallerSigner {
    encoding_key: EncodingKey,
    decoding_key: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for CallerSigner {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("CallerSigner")
            .finish_non_exhaustive()
    }
}

impl CallerSigner {
    /// `secret` must be at least [`MIN_SECRET_BYTES`] long.
    pub fn new(secret: &[u8]) -> Result<CallerSigner, AuthError> {
        if secret.len() < MIN_SECRET_BYTES {
            return Err(AuthError::WeakSecret);
        }
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        validation.leeway = LEEWAY_SECONDS;
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        Ok(CallerSigner {
            encoding_key: EncodingKey::from_secret(secret),
            decoding_key: DecodingKey::from_secret(secret),
            validation,
        })
    }

    /// A token for `principal`, valid for a minute.
    pub fn sign(&self, principal: &Principal) -> Result<String, AuthError> {
        let now = now_seconds();
        let claims = CallerClaims {
            org: principal.org_id.clone(),
            sub: principal.user_id.clone(),
            role: principal.role,
            perms: principal
                .permissions
                .names()
                .into_iter()
                .map(str::to_owned)
                .collect(),
            key: principal.api_key_id.clone(),
            iss: ISSUER.to_owned(),
            aud: AUDIENCE.to_owned(),
            iat: now,
            exp: now.saturating_add(TTL.as_secs()),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding_key)
            .map_err(|error| AuthError::Malformed(error.to_string()))
    }

    /// The principal of a token signed with our secret and unexpired.
    pub fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|error| AuthError::Malformed(error.to_string()))?;
        if header.alg != Algorithm::HS256 {
            return Err(AuthError::WrongAlgorithm);
        }
        let claims =
            jsonwebtoken::decode::<CallerClaims>(token, &self.decoding_key, &self.validation)
                .map_err(|error| match error.kind() {
                    ErrorKind::ExpiredSignature => AuthError::Expired,
                    ErrorKind::InvalidSignature => AuthError::BadSignature,
                    ErrorKind::InvalidAudience => AuthError::WrongAudience,
                    ErrorKind::InvalidIssuer => AuthError::WrongIssuer,
                    ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
                        AuthError::WrongAlgorithm
                    }
                    _ => AuthError::Malformed(error.to_string()),
                })?
                .claims;
        Ok(Principal {
            org_id: claims.org,
            user_id: claims.sub,
            role: claims.role,
            permissions: PermissionSet::parse(&claims.perms)?,
            api_key_id: claims.key,
        })
    }
}

fn now_seconds() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Permission, TokenIssuer};

    const SECRET: &[u8] = b"an-internal-service-secret-of-32-bytes!";

    #[test]
    fn a_signed_principal_round_trips() {
        let signer = CallerSigner::new(SECRET).expect("signer");
        let member = Principal::member("org-1", "user-1", Role::Analyst);
        assert_eq!(
            signer.verify(&signer.sign(&member).expect("sign")),
            Ok(member)
        );
        let key = Principal::api_key(
            "org-1",
            "user-1",
            "key-1",
            [Permission::ResultsView].into_iter().collect(),
        );
        assert_eq!(signer.verify(&signer.sign(&key).expect("sign")), Ok(key));
    }

    #[test]
    fn other_secrets_and_access_tokens_are_refused() {
        let signer = CallerSigner::new(SECRET).expect("signer");
        let other = CallerSigner::new(b"another-internal-secret-of-32-bytes!!").expect("other");
        let token = other
            .sign(&Principal::member("org-1", "user-1", Role::Admin))
            .expect("sign");
        assert_eq!(signer.verify(&token), Err(AuthError::BadSignature));
        // An access token signed with the same bytes is still not caller metadata.
        let issuer = TokenIssuer::new(SECRET, "ultra", "ultra-api", TTL).expect("issuer");
        let access = issuer
            .issue("user-1", "org-1", Role::Admin, crate::PlanTier::Free)
            .expect("token");
        assert!(signer.verify(&access).is_err());
        assert_eq!(
            CallerSigner::new(b"short").err(),
            Some(AuthError::WeakSecret)
        );
    }
}
