//! API keys: `ultra_` and 43 random base62 characters (256 bits), shown once at creation.
//! Only the SHA-256 of a key is stored and looked up: a key has far too much entropy to be
//! brute-forced from its hash, so a slow password hash would buy nothing, and the lookup by
//! hash (an index probe) never compares secret bytes in variable time. The first characters
//! (`ultra_` plus 6) are kept in the clear so that a listing can tell keys apart.

use rand_core::{OsRng, RngCore};

use crate::sha256_hex;

/// What every API key starts with; the gateway tells keys from JWTs by it.
pub const API_KEY_PREFIX: &str = "ultra_";

/// Random base62 characters after the prefix: 43 × log2(62) ≈ 256 bits.
const RANDOM_CHARS: usize = 43;

/// Characters of the key kept in the clear for listings (`ultra_` + 6).
const DISPLAY_CHARS: usize = 12;

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A freshly generated key: give `token` to the client once, store `hash` and `prefix`.
#[derive(Clone, PartialEq, Eq)]
pub struct NewApiKey {
    pub token: String,
    pub hash: String,
    pub prefix: String,
}

impl std::fmt::Debug for NewApiKey {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("NewApiKey")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// A new random API key.
pub fn new_api_key() -> NewApiKey {
    let mut token = String::with_capacity(API_KEY_PREFIX.len() + RANDOM_CHARS);
    token.push_str(API_KEY_PREFIX);
    let mut buffer = [0_u8; 64];
    while token.len() < API_KEY_PREFIX.len() + RANDOM_CHARS {
        OsRng.fill_bytes(&mut buffer);
        // Rejection sampling: 248 = 4 × 62, so accepted bytes map uniformly onto base62.
        for byte in buffer.iter().filter(|byte| **byte < 248) {
            if token.len() == API_KEY_PREFIX.len() + RANDOM_CHARS {
                break;
            }
            token.push(char::from(BASE62[usize::from(*byte % 62)]));
        }
    }
    let hash = api_key_hash(&token);
    let prefix = token[..DISPLAY_CHARS].to_owned();
    NewApiKey {
        token,
        hash,
        prefix,
    }
}

/// Whether a bearer credential is an API key (rather than a JWT, which never starts so).
pub fn is_api_key(token: &str) -> bool {
    token.starts_with(API_KEY_PREFIX)
}

/// Whether `token` has the shape of a key this module issues: checked before any lookup so
/// that garbage never reaches the database.
pub fn is_well_formed_api_key(token: &str) -> bool {
    token.strip_prefix(API_KEY_PREFIX).is_some_and(|rest| {
        rest.len() == RANDOM_CHARS && rest.bytes().all(|b| b.is_ascii_alphanumeric())
    })
}

/// The stored form of a key: lowercase hex SHA-256.
pub fn api_key_hash(token: &str) -> String {
    sha256_hex(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_prefixed_random_and_stored_hashed() {
        let key = new_api_key();
        let other = new_api_key();
        assert_ne!(key.token, other.token);
        assert!(is_api_key(&key.token) && is_well_formed_api_key(&key.token));
        assert_eq!(key.token.len(), API_KEY_PREFIX.len() + RANDOM_CHARS);
        assert_eq!(key.hash, sha256_hex(&key.token));
        assert!(key.token.starts_with(&key.prefix));
        assert!(!format!("{key:?}").contains(&key.token), "never logged");
        assert!(!is_well_formed_api_key("ultra_short"));
        assert!(!is_well_formed_api_key(&format!(
            "ultra_{}",
            "!".repeat(43)
        )));
        assert!(!is_api_key("eyJhbGciOiJIUzI1NiJ9.e30.x"));
    }
}
