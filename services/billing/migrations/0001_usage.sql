-- One row per simulation.completed event: the usage ledger. event_id is the event's UUIDv7,
-- so a redelivered event can never be counted twice (processed_events guards it first).
CREATE TABLE usage_ledger (
    event_id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    simulation_id TEXT NOT NULL,
    occurred_at_ms BIGINT NOT NULL,
    iterations BIGINT NOT NULL,
    evaluated_cells BIGINT NOT NULL,
    compute_units DOUBLE PRECISION NOT NULL,
    gpu_seconds DOUBLE PRECISION NOT NULL,
    wall_seconds DOUBLE PRECISION NOT NULL,
    engine TEXT NOT NULL
);

CREATE INDEX usage_ledger_org_time ON usage_ledger (org_id, occurred_at_ms);

-- Idempotent consumption (ultra_store::PROCESSED_EVENTS_TABLE_SQL).
CREATE TABLE processed_events (
    event_id        TEXT PRIMARY KEY,
    processed_at_ms BIGINT NOT NULL
);
