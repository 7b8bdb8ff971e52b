//! API keys presented as `Authorization: Bearer ultra_...`: verified by the users service
//! (`VerifyApiKey`) and remembered here for [`CACHE_TTL`], so that a pipeline's requests
//! cost one users-service call per key per half minute, not one each.
//!
//! The cost of the cache: a key revoked through another gateway replica, or whose creator
//! was demoted or removed, keeps working here for up to [`CACHE_TTL`]; a key revoked
//! through this replica is forgotten at once ([`ApiKeyVerifier::forget`]). A key's expiry
//! is checked on every use. Only the key's SHA-256 is kept in memory, never the key.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tonic::Code;
use tonic::transport::Channel;
use ultra_auth::{PermissionSet, Principal};
use ultra_proto::v1::organizations_service_client::OrganizationsServiceClient;
use ultra_proto::v1::{PlanTier, VerifyApiKeyRequest};

use crate::problem::ApiError;

/// How long a verified key is trusted without asking the users service again.
pub const CACHE_TTL: Duration = Duration::from_secs(30);

/// Most keys remembered; beyond, stale entries are dropped (and all of them if none is).
const MAX_ENTRIES: usize = 10_000;

/// The one answer to a refused key (as the users service gives it).
const BAD_API_KEY: &str = "invalid, expired or revoked API key";

#[derive(Clone, Debug)]
struct Verified {
    principal: Principal,
    plan_tier: PlanTier,
    /// 0: never.
    expires_at_ms: i64,
    fetched: Instant,
}

/// Verifies API keys through the users service, with a short cache of the keys it accepted
/// and another of those it refused (so a client retrying a bad key in a loop costs the
/// users service one call per [`CACHE_TTL`], not one per request).
#[derive(Debug, Default)]
pub struct ApiKeyVerifier {
    cache: Mutex<HashMap<String, Verified>>,
    refused: Mutex<HashMap<String, Instant>>,
}

impl ApiKeyVerifier {
    pub fn new() -> ApiKeyVerifier {
        ApiKeyVerifier::default()
    }

    /// The principal (the key's organisation, its creator, its effective scopes) and the
    /// organisation's plan tier; 401 `invalid-token` for a key the users service refuses.
    pub async fn verify(
        &self,
        orgs: &OrganizationsServiceClient<Channel>,
        token: &str,
    ) -> Result<(Principal, PlanTier), ApiError> {
        if !ultra_auth::is_well_formed_api_key(token) {
            return Err(ApiError::InvalidToken(BAD_API_KEY.into()));
        }
        let hash = ultra_auth::api_key_hash(token);
        if self.was_refused(&hash) {
            return Err(ApiError::InvalidToken(BAD_API_KEY.into()));
        }
        let now_ms = crate::now_ms();
        if let Some(hit) = self.lookup(&hash) {
            if hit.expires_at_ms != 0 && hit.expires_at_ms <= now_ms {
                self.remove(&hash);
                return Err(ApiError::InvalidToken(BAD_API_KEY.into()));
            }
            return Ok((hit.principal, hit.plan_tier));
        }
        let answer = orgs
            .clone()
            .verify_api_key(VerifyApiKeyRequest {
                secret: token.to_owned(),
            })
            .await;
        let verified = match answer {
            Ok(response) => response.into_inner(),
            Err(status) if status.code() == Code::Unauthenticated => {
                self.remember_refused(hash);
                return Err(ApiError::InvalidToken(BAD_API_KEY.into()));
            }
            Err(status) => return Err(ApiError::Upstream(status)),
        };
        let scopes = PermissionSet::parse(&verified.scopes).map_err(|error| {
            tracing::error!(%error, "users service returned an unknown scope");
            ApiError::InvalidToken(BAD_API_KEY.into())
        })?;
        let principal =
            Principal::api_key(verified.org_id, verified.user_id, verified.key_id, scopes);
        let plan_tier = PlanTier::try_from(verified.org_plan_tier).unwrap_or(PlanTier::Unspecified);
        self.insert(
            hash,
            Verified {
                principal: principal.clone(),
                plan_tier,
                expires_at_ms: verified.expires_at_ms,
                fetched: Instant::now(),
            },
        );
        Ok((principal, plan_tier))
    }

    /// Forgets the key `key_id` (revoked through this gateway): its next use asks again.
    pub fn forget(&self, key_id: &str) {
        self.entries()
            .retain(|_, entry| entry.principal.api_key_id.as_deref() != Some(key_id));
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<String, Verified>> {
        // A panic while holding the lock leaves a map that is still consistent.
        self.cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn refused_entries(&self) -> std::sync::MutexGuard<'_, HashMap<String, Instant>> {
        self.refused
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether the users service refused this key within [`CACHE_TTL`].
    fn was_refused(&self, hash: &str) -> bool {
        let mut refused = self.refused_entries();
        match refused.get(hash) {
            Some(at) if at.elapsed() < CACHE_TTL => true,
            Some(_) => {
                refused.remove(hash);
                false
            }
            None => false,
        }
    }

    fn remember_refused(&self, hash: String) {
        let mut refused = self.refused_entries();
        if refused.len() >= MAX_ENTRIES {
            refused.retain(|_, at| at.elapsed() < CACHE_TTL);
            if refused.len() >= MAX_ENTRIES {
                refused.clear();
            }
        }
        refused.insert(hash, Instant::now());
    }

    fn lookup(&self, hash: &str) -> Option<Verified> {
        let mut entries = self.entries();
        match entries.get(hash) {
            Some(entry) if entry.fetched.elapsed() < CACHE_TTL => Some(entry.clone()),
            Some(_) => {
                entries.remove(hash);
                None
            }
            None => None,
        }
    }

    fn remove(&self, hash: &str) {
        self.entries().remove(hash);
    }

    fn insert(&self, hash: String, verified: Verified) {
        let mut entries = self.entries();
        if entries.len() >= MAX_ENTRIES {
            entries.retain(|_, entry| entry.fetched.elapsed() < CACHE_TTL);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(hash, verified);
    }
}
