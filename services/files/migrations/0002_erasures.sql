-- GDPR erasures (user.deleted pseudonymises the uploader of the user's models, org.deleted
-- deletes the organisation's models, objects and data key), consumed idempotently
-- (ultra_store::PROCESSED_EVENTS_TABLE_SQL) and recorded as done
-- (ultra_store::ERASURES_TABLE_SQL) for the gateway's erasure status.
CREATE TABLE processed_events (
    event_id        TEXT PRIMARY KEY,
    processed_at_ms BIGINT NOT NULL
);

CREATE TABLE erasures (
    erasure_id      TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL,
    completed_at_ms BIGINT NOT NULL
);
