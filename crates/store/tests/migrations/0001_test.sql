CREATE TABLE outbox (
    event_id      TEXT PRIMARY KEY,
    event_type    TEXT NOT NULL,
    payload       TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL
);
CREATE INDEX outbox_by_age ON outbox (created_at_ms, event_id);

CREATE TABLE processed_events (
    event_id        TEXT PRIMARY KEY,
    processed_at_ms BIGINT NOT NULL
);

CREATE TABLE widgets (
    id     TEXT PRIMARY KEY,
    org_id TEXT NOT NULL
);
