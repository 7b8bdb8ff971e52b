-- GDPR erasures requested here (services/users/src/erasure.rs). The users service erases
-- its own rows in the transaction that inserts the erasure, so `completed_at_ms` is set at
-- once; the other services record their own completion in their own `erasures` tables. No
-- personal data: the erased user's id is only in the `user.deleted` event. Only the
-- SHA-256 of the status token (which authorises reading the erasure's status once the
-- user's access token stops working) is stored.
CREATE TABLE erasures (
    erasure_id        TEXT PRIMARY KEY,
    org_id            TEXT NOT NULL,
    scope             TEXT NOT NULL,
    status_token_hash TEXT NOT NULL,
    requested_at_ms   BIGINT NOT NULL,
    completed_at_ms   BIGINT NOT NULL
);
