//! Password hashing with argon2id (the `argon2` crate's defaults: m = 19 MiB, t = 2, p = 1,
//! the OWASP recommendation), stored as PHC strings so parameters can be raised later
//! without invalidating existing hashes.

use std::sync::LazyLock;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use rand_core::OsRng;

use crate::AuthError;

/// A hash of a password nobody knows, verified against when the email is unknown so that a
/// login for an unknown email costs the same time as a wrong password (no user enumeration
/// by timing).
static DUMMY_HASH: LazyLock<Option<String>> =
    LazyLock::new(|| hash_password("ultra-dummy-password-for-timing").ok());

/// Hashes `password` with a fresh random salt; returns the PHC string to store.
pub fn hash_password(password: &str) -> Result<String, AuthError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|error| AuthError::Hashing(error.to_string()))
}

/// Whether `password` matches the stored PHC `hash`. A malformed stored hash is `false`
/// (and logged), never a panic.
pub fn verify_password(password: &str, hash: &str) -> bool {
    let parsed = match PasswordHash::new(hash) {
        Ok(parsed) => parsed,
        Err(error) => {
            log_malformed_hash(&error.to_string());
            return false;
        }
    };
    Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok()
}

/// Spends the time of one verification and returns `false`: call it when the user does not
/// exist, so both failure paths of a login take the same time.
pub fn verify_password_against_dummy(password: &str) -> bool {
    if let Some(hash) = DUMMY_HASH.as_deref() {
        let _same_cost = verify_password(password, hash);
    }
    false
}

fn log_malformed_hash(message: &str) {
    // This crate has no logging dependency; the caller sees `false` and the reason is rare
    // enough (a corrupted row) that stderr is the right place.
    eprintln!("ultra-auth: stored password hash is malformed: {message}");
}
