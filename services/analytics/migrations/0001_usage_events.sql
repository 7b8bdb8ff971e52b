-- One row per simulation.completed event, kept per user for reports. Analytics keeps its
-- own copy (it owns its database; billing's ledger is billing's).
CREATE TABLE usage_events (
    event_id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    simulation_id TEXT NOT NULL,
    model_id TEXT NOT NULL,
    occurred_at_ms BIGINT NOT NULL,
    iterations BIGINT NOT NULL,
    evaluated_cells BIGINT NOT NULL,
    compute_units DOUBLE PRECISION NOT NULL,
    wall_seconds DOUBLE PRECISION NOT NULL,
    engine TEXT NOT NULL
);

CREATE INDEX usage_events_org_time ON usage_events (org_id, occurred_at_ms);

-- Idempotent consumption (ultra_store::PROCESSED_EVENTS_TABLE_SQL).
CREATE TABLE processed_events (
    event_id        TEXT PRIMARY KEY,
    processed_at_ms BIGINT NOT NULL
);
