-- Failed logins, counted per account (the normalised email's SHA-256, whether or not a
-- user has it, so the lockout says nothing about which emails exist) and per client
-- address. Kept in the database so that every gateway and users replica sees the same
-- counts. `locked_until_ms` is 0 while under the threshold.
CREATE TABLE login_throttle (
    subject            TEXT PRIMARY KEY,
    failures           BIGINT NOT NULL,
    last_failure_at_ms BIGINT NOT NULL,
    locked_until_ms    BIGINT NOT NULL
);
