-- GDPR erasures this service has carried out (ultra_store::ERASURES_TABLE_SQL): the gateway's
-- erasure status reads completion from here. No personal data: the erasure id, its
-- organisation and when it was done.
CREATE TABLE erasures (
    erasure_id      TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL,
    completed_at_ms BIGINT NOT NULL
);

-- Users erased, by a one-way hash of their id (ultra_store::ERASED_USERS_TABLE_SQL): usage
-- of theirs delivered after the erasure is recorded under the pseudonym.
CREATE TABLE erased_users (
    user_hash TEXT PRIMARY KEY,
    pseudonym TEXT NOT NULL
);
