-- Invitations and API keys. Portable SQL (SQLite and PostgreSQL): TEXT ids, BIGINT ms
-- timestamps. No foreign keys to `users`, so that erasing a user (GDPR) deletes these rows
-- in whatever order it likes.

-- An invited member is a user with an empty `password_hash` (no login can match it) and a
-- membership, until they set a password with the invite token. Only the token's SHA-256 is
-- stored; it works once and for 7 days.
CREATE TABLE invitations (
    token_hash     TEXT PRIMARY KEY,
    org_id         TEXT NOT NULL,
    user_id        TEXT NOT NULL,
    invited_by     TEXT NOT NULL,
    created_at_ms  BIGINT NOT NULL,
    expires_at_ms  BIGINT NOT NULL,
    accepted_at_ms BIGINT
);
CREATE INDEX invitations_by_user ON invitations (user_id);

-- API keys of an organisation. `key_hash` is the SHA-256 of the key (shown once); `prefix`
-- its first characters in the clear; `scopes` space-separated permission names.
-- `last_used_at_ms` is written at most once a minute per key.
CREATE TABLE api_keys (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL,
    created_by      TEXT NOT NULL,
    name            TEXT NOT NULL,
    prefix          TEXT NOT NULL,
    key_hash        TEXT NOT NULL UNIQUE,
    scopes          TEXT NOT NULL,
    created_at_ms   BIGINT NOT NULL,
    expires_at_ms   BIGINT,
    last_used_at_ms BIGINT,
    revoked_at_ms   BIGINT
);
CREATE INDEX api_keys_by_org ON api_keys (org_id, created_at_ms);
CREATE INDEX api_keys_by_creator ON api_keys (created_by);
