-- Files service schema. Portable SQL (SQLite and PostgreSQL): TEXT ids, BIGINT ms timestamps.

-- One data key per organisation, stored wrapped (AES-256-GCM under the master key, with the
-- org id as associated data): base64 of nonce || ciphertext.
CREATE TABLE org_keys (
    org_id        TEXT PRIMARY KEY,
    wrapped_key   TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL
);

-- Metadata of uploaded models; the bytes live encrypted in the object store under
-- `{org_id}/{id}`. `inputs_json` / `outputs_json` are what the compiler found.
CREATE TABLE models (
    id            TEXT PRIMARY KEY,
    org_id        TEXT NOT NULL,
    user_id       TEXT NOT NULL,
    filename      TEXT NOT NULL,
    format        TEXT NOT NULL,
    size_bytes    BIGINT NOT NULL,
    sha256        TEXT NOT NULL,
    inputs_json   TEXT NOT NULL,
    outputs_json  TEXT NOT NULL,
    cell_count    BIGINT NOT NULL,
    created_at_ms BIGINT NOT NULL
);
CREATE INDEX models_by_org_newest ON models (org_id, created_at_ms, id);

-- Transactional outbox (ultra_store::OUTBOX_TABLE_SQL).
CREATE TABLE outbox (
    event_id      TEXT PRIMARY KEY,
    event_type    TEXT NOT NULL,
    payload       TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL
);
CREATE INDEX outbox_by_age ON outbox (created_at_ms, event_id);
