//! Passwords (argon2id), JWT access tokens, refresh tokens, roles and permissions.
