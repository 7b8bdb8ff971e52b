-- Simulation jobs. Statuses are lower-case words (queued, running, completed, failed,
-- cancelled, interrupted). Seeds use all 64 bits and are stored as the two's-complement
-- BIGINT of the same bits. Timestamps are Unix epoch milliseconds.
CREATE TABLE simulations (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    role INTEGER NOT NULL,
    model_id TEXT NOT NULL,
    iterations BIGINT NOT NULL,
    seed BIGINT NOT NULL,
    sampling INTEGER NOT NULL,
    engine INTEGER NOT NULL,
    status TEXT NOT NULL,
    completed_iterations BIGINT NOT NULL DEFAULT 0,
    error TEXT NOT NULL DEFAULT '',
    compute_units DOUBLE PRECISION NOT NULL DEFAULT 0,
    -- Times this job was claimed by a worker; bounded by ULTRA_SIMULATION_MAX_ATTEMPTS.
    attempts INTEGER NOT NULL DEFAULT 0,
    -- Set by Cancel; read by whichever instance runs the job, with each progress write.
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    -- The instance running the job and its last sign of life, for orphan recovery.
    worker_id TEXT,
    heartbeat_at_ms BIGINT,
    created_at_ms BIGINT NOT NULL,
    started_at_ms BIGINT,
    finished_at_ms BIGINT
);

CREATE INDEX simulations_org_created ON simulations (org_id, created_at_ms, id);
CREATE INDEX simulations_status ON simulations (status, created_at_ms);

-- The compiled model of each unfinished job, snapshotted at submit: a run is a pure
-- function of (model, iterations, seed, sampling), so it must not change if the file is
-- replaced or deleted meanwhile. Deleted when the job reaches a final status.
CREATE TABLE simulation_models (
    simulation_id TEXT PRIMARY KEY,
    ir_json TEXT NOT NULL
);
