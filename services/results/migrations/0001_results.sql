-- One row per finished simulation. The per-output figures (statistics, percentiles,
-- histogram, sensitivity) are one JSON document: they are always read together, and a JSON
-- text column is the same on SQLite and PostgreSQL. Non-finite numbers are JSON null.
CREATE TABLE results (
    simulation_id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL,
    iterations BIGINT NOT NULL,
    seed BIGINT NOT NULL,
    sampling INTEGER NOT NULL,
    engine TEXT NOT NULL,
    elapsed_ms DOUBLE PRECISION NOT NULL,
    compute_units DOUBLE PRECISION NOT NULL,
    outputs_json TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL
);

CREATE INDEX results_org ON results (org_id, simulation_id);
