//! Input validation for registration and login: bad input is INVALID_ARGUMENT naming the
//! field, before any hashing or SQL.

use crate::error::{Error, Result};

/// The shortest password a login considers (accounts created before the policy below).
pub const MIN_PASSWORD_CHARS: usize = 8;
/// The shortest password a new account (or a password change) may set.
pub const MIN_NEW_PASSWORD_CHARS: usize = 12;
/// Fewer distinct characters than this (`aaaaaaaaaaaa`, `abababababab`) is refused.
const MIN_DISTINCT_PASSWORD_CHARS: usize = 5;
pub const MAX_PASSWORD_CHARS: usize = 256;
pub const MAX_NAME_CHARS: usize = 100;
const MAX_EMAIL_CHARS: usize = 254;
const MAX_EMAIL_LOCAL_CHARS: usize = 64;

/// The email, trimmed and lowercased (the form stored and compared), if it has the shape
/// `local@domain.tld` with no spaces or control characters.
pub fn email(raw: &str) -> Result<String> {
    let email = raw.trim().to_lowercase();
    let invalid = || Error::InvalidArgument("email is not a valid address".into());
    if email.is_empty() {
        return Err(Error::InvalidArgument("email is required".into()));
    }
    if email.chars().count() > MAX_EMAIL_CHARS
        || email.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(invalid());
    }
    let Some((local, domain)) = email.split_once('@') else {
        return Err(invalid());
    };
    let domain_ok = !domain.contains('@')
        && domain.contains('.')
        && domain.split('.').all(|label| !label.is_empty());
    if local.is_empty() || local.chars().count() > MAX_EMAIL_LOCAL_CHARS || !domain_ok {
        return Err(invalid());
    }
    Ok(email)
}

pub fn password(password: &str) -> Result<()> {
    let length = password.chars().count();
    if !(MIN_PASSWORD_CHARS..=MAX_PASSWORD_CHARS).contains(&length) {
        return Err(Error::InvalidArgument(format!(
            "password must be {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters"
        )));
    }
    Ok(())
}

/// Passwords that appear near the top of every breach list and are long enough to pass
/// the length rule, compared after lowercasing and dropping everything but letters and
/// digits (so `Password-1234` is `password1234`).
const COMMON_PASSWORDS: &[&str] = &[
    "123456789012",
    "1234567890123",
    "12345678901234",
    "123456789123",
    "1234567890qwerty",
    "1q2w3e4r5t6y",
    "1q2w3e4r5t6y7u8i",
    "qwerty123456",
    "qwertyuiop123",
    "qwertyuiopasdf",
    "qwertyuiopasdfghjkl",
    "1qaz2wsx3edc",
    "1qaz2wsx3edc4rfv",
    "zaq12wsxcde3",
    "password1234",
    "password12345",
    "password123456",
    "passwordpassword",
    "mypassword123",
    "password1234567",
    "passw0rd1234",
    "p4ssw0rd1234",
    "letmein123456",
    "iloveyou1234",
    "iloveyouiloveyou",
    "welcome12345",
    "welcome123456",
    "administrator",
    "administrator1",
    "admin1234567",
    "changeme1234",
    "changemenow123",
    "trustno11234",
    "football1234",
    "baseball1234",
    "superman1234",
    "sunshine1234",
    "monkey123456",
    "dragon123456",
    "abcdefghijkl",
    "abc123456789",
    "abcd12345678",
    "asdfghjkl123",
    "princess1234",
    "starwars1234",
    "whatever1234",
    "qazwsxedcrfv",
    "ultrapassword",
    "ultra1234567",
];

/// The policy for a password being set (registration, later a change): 12 to 256
/// characters, at least 5 different characters, not the email or its local part, and not
/// a well-known password. Errors name the rule broken; the password itself never appears
/// in them.
pub fn new_password(password: &str, email: &str) -> Result<()> {
    let length = password.chars().count();
    if !(MIN_NEW_PASSWORD_CHARS..=MAX_PASSWORD_CHARS).contains(&length) {
        return Err(Error::InvalidArgument(format!(
            "password must be {MIN_NEW_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters"
        )));
    }
    let mut distinct: Vec<char> = password.chars().collect();
    distinct.sort_unstable();
    distinct.dedup();
    if distinct.len() < MIN_DISTINCT_PASSWORD_CHARS {
        return Err(Error::InvalidArgument(format!(
            "password must use at least {MIN_DISTINCT_PASSWORD_CHARS} different characters"
        )));
    }
    let lowered = password.trim().to_lowercase();
    let local_part = email.split('@').next().unwrap_or_default();
    if lowered == email || (!local_part.is_empty() && lowered == local_part) {
        return Err(Error::InvalidArgument(
            "password must not be the email address".into(),
        ));
    }
    let letters_and_digits: String = lowered.chars().filter(|c| c.is_alphanumeric()).collect();
    if COMMON_PASSWORDS.contains(&letters_and_digits.as_str()) {
        return Err(Error::InvalidArgument(
            "password is too common: it is among the most used passwords (choose a passphrase)"
                .into(),
        ));
    }
    Ok(())
}

/// A display or organisation name: trimmed, 1..=100 characters, no control characters.
pub fn name(field: &str, raw: &str) -> Result<String> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(Error::InvalidArgument(format!("{field} is required")));
    }
    if name.chars().count() > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(Error::InvalidArgument(format!(
            "{field} must be at most {MAX_NAME_CHARS} characters without control characters"
        )));
    }
    Ok(name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert_eq!(
            email("  Ada@Example.COM ").ok().as_deref(),
            Some("ada@example.com")
        );
        for bad in [
            "",
            "ada",
            "ada@",
            "@example.com",
            "ada@example",
            "a b@example.com",
            "a@b@c.d",
            "ada@example..com",
        ] {
            assert!(email(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_new_password_policy() {
        let email = "ada.lovelace@example.com";
        let refused = |password: &str| new_password(password, email).err().map(|e| e.to_string());
        assert!(refused("elevenchars").is_some_and(|m| m.contains("12 to 256")));
        assert!(refused(&"x".repeat(257)).is_some_and(|m| m.contains("12 to 256")));
        assert!(refused("aaaaaaaaaaaaaaaa").is_some_and(|m| m.contains("different")));
        assert!(refused("abababababab").is_some_and(|m| m.contains("different")));
        assert!(refused("Ada.Lovelace@Example.com").is_some_and(|m| m.contains("email")));
        assert!(refused("ada.lovelace").is_some_and(|m| m.contains("email")));
        for common in [
            "password1234",
            "Password-1234",
            "QWERTY123456",
            "1q2w3e4r5t6y",
        ] {
            assert!(
                refused(common).is_some_and(|m| m.contains("common")),
                "{common}"
            );
        }
        assert_eq!(refused("a long enough password"), None);
        assert_eq!(refused("Tr0ub4dor&3-horse"), None);
    }

    #[test]
    fn passwords_and_names() {
        assert!(password("1234567").is_err());
        assert!(password("12345678").is_ok());
        assert!(password(&"x".repeat(257)).is_err());
        assert!(name("organization_name", "  ").is_err());
        assert!(new_password("correct horse battery", "ada@example.com").is_ok());
        assert!(name("organization_name", &"x".repeat(101)).is_err());
        assert_eq!(name("display_name", " Ada ").ok().as_deref(), Some("Ada"));
    }
}
