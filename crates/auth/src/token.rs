//! Access tokens: HS256 JWTs, short-lived, carrying who (user), where (org), what (role)
//! and the org's plan tier (so that the gateway can weight the caller's jobs without asking
//! the users service; a tier change reaches tokens at the next refresh).
//! Only HS256 is accepted: `alg: none`, RS/ES algorithms (key confusion) and anything else
//! are rejected before the signature is even considered. Refresh tokens are opaque random
//! strings; only their SHA-256 is stored.
//!
//! Key rotation: tokens are signed with the current secret and name it by `kid` (a digest
//! of the secret, see [`key_id`], so no key id has to be configured next to it). Verifiers
//! accept the current secret and the previous ones ([`TokenIssuer::with_previous_secrets`])
//! by `kid`; a `kid` they do not hold is refused before any signature check. A token
//! without `kid` (issued before kids existed) is checked against the current secret only.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand_core::{OsRng, RngCore};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{AuthError, PlanTier, Role};

/// HS256 with a shorter secret is brute-forceable; refuse to start with one.
pub const MIN_SECRET_BYTES: usize = 32;

/// Clock skew tolerated between the issuing and the verifying process.
const LEEWAY_SECONDS: u64 = 5;

/// The claims of an Ultra access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user id.
    pub sub: String,
    /// The organisation id the token acts in.
    pub org: String,
    pub role: Role,
    /// The organisation's plan tier when the token was issued. Absent in tokens from before
    /// tiers existed, and read as absent when unknown (see `plan::lenient`): both mean the
    /// lowest tier to whoever uses it, never a refused token.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::plan::lenient"
    )]
    pub plan: Option<PlanTier>,
    pub iss: String,
    pub aud: String,
    /// Issued at, seconds since the Unix epoch.
    pub iat: u64,
    /// Expires at, seconds since the Unix epoch.
    pub exp: u64,
    /// A unique id per token (for logs and future deny lists).
    pub jti: String,
}

/// The variable that lists the secrets tokens may still be signed with after a rotation
/// (comma-separated; base64 or hex secrets contain no comma). Read by the users service and
/// the gateway alike.
pub const PREVIOUS_SECRETS_ENV: &str = "ULTRA_JWT_PREVIOUS_SECRETS";

/// The `kid` of tokens signed with `secret`: the first 16 hex digits of
/// SHA-256(`"ultra-jwt-kid:"` ‖ secret). Deterministic, so the users service and every
/// gateway replica agree on it from the secret alone; one-way, so it says nothing about
/// the secret.
pub fn key_id(secret: &[u8]) -> String {
    let mut digest = Sha256::new();
    digest.update(b"ultra-jwt-kid:");
    digest.update(secret);
    digest.finalize()[..8]
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// Splits the value of [`PREVIOUS_SECRETS_ENV`] into secrets (empty entries skipped); each
/// must be at least [`MIN_SECRET_BYTES`] long.
pub fn parse_previous_secrets(list: &str) -> Result<Vec<Vec<u8>>, AuthError> {
    list.split(',')
        .map(str::trim)
        .filter(|secret| !secret.is_empty())
        .map(|secret| {
            if secret.len() < MIN_SECRET_BYTES {
                Err(AuthError::WeakSecret)
            } else {
                Ok(secret.as_bytes().to_vec())
            }
        })
        .collect()
}

/// Issues and verifies access tokens for one issuer and audience.
#[derive(Clone)]
pub struct TokenIssuer {
    encoding_key: EncodingKey,
    /// The `kid` of `encoding_key`, written in every token this issuer signs.
    kid: String,
    /// Verification keys by `kid`: the current one first, then the previous ones.
    decoding_keys: Vec<(String, DecodingKey)>,
    validation: Validation,
    issuer: String,
    audience: String,
    access_ttl: Duration,
}

impl std::fmt::Debug for TokenIssuer {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("TokenIssuer")
            .field("kid", &self.kid)
            .field(
                "accepted_kids",
                &self
                    .decoding_keys
                    .iter()
                    .map(|(kid, _)| kid.as_str())
                    .collect::<Vec<_>>(),
            )
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("access_ttl", &self.access_ttl)
            .finish_non_exhaustive()
    }
}

impl TokenIssuer {
    /// `secret` must be at least [`MIN_SECRET_BYTES`] long.
    pub fn new(
        secret: &[u8],
        issuer: impl Into<String>,
        audience: impl Into<String>,
        access_ttl: Duration,
    ) -> Result<TokenIssuer, AuthError> {
        if secret.len() < MIN_SECRET_BYTES {
            return Err(AuthError::WeakSecret);
        }
        let issuer = issuer.into();
        let audience = audience.into();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        validation.leeway = LEEWAY_SECONDS;
        validation.validate_exp = true;
        validation.set_issuer(&[issuer.as_str()]);
        validation.set_audience(&[audience.as_str()]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let kid = key_id(secret);
        Ok(TokenIssuer {
            encoding_key: EncodingKey::from_secret(secret),
            decoding_keys: vec![(kid.clone(), DecodingKey::from_secret(secret))],
            kid,
            validation,
            issuer,
            audience,
            access_ttl,
        })
    }

    /// Also accepts tokens signed with each of `secrets` (the keys before a rotation), so
    /// that tokens issued just before the secret changed stay valid until they expire.
    /// Each must be at least [`MIN_SECRET_BYTES`] long; the current secret is ignored here.
    pub fn with_previous_secrets<S: AsRef<[u8]>>(
        mut self,
        secrets: &[S],
    ) -> Result<TokenIssuer, AuthError> {
        for secret in secrets {
            let secret = secret.as_ref();
            if secret.len() < MIN_SECRET_BYTES {
                return Err(AuthError::WeakSecret);
            }
            let kid = key_id(secret);
            if self.decoding_keys.iter().all(|(known, _)| *known != kid) {
                self.decoding_keys
                    .push((kid, DecodingKey::from_secret(secret)));
            }
        }
        Ok(self)
    }

    /// The `kid` this issuer signs with.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// How long an access token lives.
    pub fn access_ttl(&self) -> Duration {
        self.access_ttl
    }

    /// A signed access token for `user_id` acting in `org_id` with `role`, the org being on
    /// `plan`.
    pub fn issue(
        &self,
        user_id: &str,
        org_id: &str,
        role: Role,
        plan: PlanTier,
    ) -> Result<String, AuthError> {
        let now = now_seconds();
        let claims = Claims {
            sub: user_id.to_owned(),
            org: org_id.to_owned(),
            role,
            plan: Some(plan),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            iat: now,
            exp: now.saturating_add(self.access_ttl.as_secs()),
            jti: random_token(16),
        };
        self.sign(&claims)
    }

    /// Signs arbitrary claims (tests use it to craft expired tokens; services use `issue`).
    pub fn sign(&self, claims: &Claims) -> Result<String, AuthError> {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding_key)
            .map_err(|error| AuthError::Malformed(error.to_string()))
    }

    /// The claims of `token` if it is an HS256 token signed with one of our secrets (the one
    /// its `kid` names; the current one when it has none), unexpired, for our issuer and
    /// audience.
    pub fn verify(&self, token: &str) -> Result<Claims, AuthError> {
        // Check the header first so that `alg: none` and other algorithms get a precise error.
        let header = jsonwebtoken::decode_header(token).map_err(|error| match error.kind() {
            ErrorKind::InvalidAlgorithmName | ErrorKind::InvalidAlgorithm => {
                AuthError::WrongAlgorithm
            }
            _ => AuthError::Malformed(error.to_string()),
        })?;
        if header.alg != Algorithm::HS256 {
            return Err(AuthError::WrongAlgorithm);
        }
        let key = match header.kid.as_deref() {
            None => &self.decoding_keys[0].1,
            Some(kid) => {
                let Some((_, key)) = self.decoding_keys.iter().find(|(known, _)| known == kid)
                else {
                    return Err(AuthError::UnknownKey(kid.chars().take(64).collect()));
                };
                key
            }
        };
        jsonwebtoken::decode::<Claims>(token, key, &self.validation)
            .map(|data| data.claims)
            .map_err(|error| match error.kind() {
                ErrorKind::ExpiredSignature => AuthError::Expired,
                ErrorKind::InvalidSignature => AuthError::BadSignature,
                ErrorKind::InvalidAudience => AuthError::WrongAudience,
                ErrorKind::InvalidIssuer => AuthError::WrongIssuer,
                ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
                    AuthError::WrongAlgorithm
                }
                _ => AuthError::Malformed(error.to_string()),
            })
    }
}

/// A new refresh token: `(token, sha256_hex(token))`. Give the token to the client, store
/// only the hash: a leaked database does not leak usable refresh tokens.
pub fn new_refresh_token() -> (String, String) {
    let token = random_token(32);
    let hash = sha256_hex(&token);
    (token, hash)
}

/// Whether `a` and `b` are equal, in a time that depends on their lengths only (not on
/// where they first differ): for comparing secrets or digests of secrets held in memory.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let difference = a
        .iter()
        .zip(b)
        .fold(0u8, |acc, (x, y)| acc | std::hint::black_box(x ^ y));
    std::hint::black_box(difference) == 0
}

/// Lowercase hex SHA-256 of `text`.
pub fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// `bytes` random bytes from the OS, base64url without padding.
fn random_token(bytes: usize) -> String {
    let mut buffer = vec![0u8; bytes];
    OsRng.fill_bytes(&mut buffer);
    URL_SAFE_NO_PAD.encode(buffer)
}

fn now_seconds() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}
