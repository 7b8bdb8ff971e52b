-- The transactional outbox of ultra-store (ultra_store::OUTBOX_TABLE_SQL).
CREATE TABLE outbox (
    event_id      TEXT PRIMARY KEY,
    event_type    TEXT NOT NULL,
    payload       TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL
);
CREATE INDEX outbox_by_age ON outbox (created_at_ms, event_id);
