-- OpenID Connect single sign-on per organisation (services/users/src/oidc.rs).

-- One provider per organisation. The client secret is sent to the provider's token
-- endpoint only; no RPC returns it and nothing logs it.
CREATE TABLE oidc_providers (
    org_id        TEXT PRIMARY KEY,
    issuer        TEXT NOT NULL,
    client_id     TEXT NOT NULL,
    client_secret TEXT NOT NULL,
    default_role  TEXT NOT NULL,
    updated_at_ms BIGINT NOT NULL
);

-- Logins in flight: the SHA-256 of the `state` handed to the browser, with the nonce and the
-- PKCE verifier that stay here. Deleted when the callback uses it (once) or on expiry.
CREATE TABLE oidc_logins (
    state_hash    TEXT PRIMARY KEY,
    org_id        TEXT NOT NULL,
    nonce         TEXT NOT NULL,
    code_verifier TEXT NOT NULL,
    redirect_uri  TEXT NOT NULL,
    expires_at_ms BIGINT NOT NULL
);
CREATE INDEX oidc_logins_by_expiry ON oidc_logins (expires_at_ms);

-- Which Ultra user a provider's subject is.
CREATE TABLE oidc_identities (
    issuer        TEXT NOT NULL,
    subject       TEXT NOT NULL,
    user_id       TEXT NOT NULL,
    org_id        TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    PRIMARY KEY (issuer, subject)
);
CREATE INDEX oidc_identities_by_user ON oidc_identities (user_id);
