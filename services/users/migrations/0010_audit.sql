-- Audit log: append-only and hash-chained per organisation. `hash` is the SHA-256 of the
-- canonical encoding of the entry's fields and `prev_hash` (services/users/src/audit.rs),
-- so an edited or deleted row breaks the chain at that `seq`. The primary key makes two
-- appenders that read the same chain head collide: the loser retries on the new head.
-- `org_id` is '' for the chain of failed logins whose email matches no user.
CREATE TABLE audit_log (
    org_id         TEXT NOT NULL,
    seq            BIGINT NOT NULL,
    id             TEXT NOT NULL UNIQUE,
    occurred_at_ms BIGINT NOT NULL,
    actor_type     TEXT NOT NULL,
    actor_id       TEXT NOT NULL,
    action         TEXT NOT NULL,
    target_id      TEXT NOT NULL,
    outcome        TEXT NOT NULL,
    ip             TEXT NOT NULL,
    user_agent     TEXT NOT NULL,
    request_id     TEXT NOT NULL,
    detail         TEXT NOT NULL,
    prev_hash      TEXT NOT NULL,
    hash           TEXT NOT NULL,
    PRIMARY KEY (org_id, seq)
);
CREATE INDEX audit_log_by_time ON audit_log (org_id, occurred_at_ms);
