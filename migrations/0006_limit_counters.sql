-- Abuse limits, counted where every node sees them. One row per limit and subject (an e-mail,
-- a client address), named by the digest of both: neither is kept in clear. A row counts the
-- attempts of one window, from `started` to `ends`; the next attempt after `ends` starts a new
-- window in the same row. `latest` is when the last attempt was counted (the growing delay of
-- password guessing is measured from it); `hit` is 1 once the window has refused an attempt, so
-- that the first refusal alone is audited. Rows whose window has ended are deleted from time
-- to time: the table holds at most one window's worth of subjects.
CREATE TABLE limit_counters (
    key     TEXT PRIMARY KEY,
    started BIGINT NOT NULL,
    ends    BIGINT NOT NULL,
    count   BIGINT NOT NULL,
    latest  BIGINT NOT NULL,
    hit     BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX limit_counters_ends ON limit_counters (ends);

-- Clients a user has logged in from with his password: the digest of a client address, or of
-- the random ID of a device cookie. Password logins from them are not held back by the
-- failures of strangers with his e-mail. Forgotten when `expires` passes.
CREATE TABLE known_clients (
    user_id TEXT NOT NULL REFERENCES users (id),
    digest  TEXT NOT NULL,
    expires BIGINT NOT NULL,
    PRIMARY KEY (user_id, digest)
);
CREATE INDEX known_clients_expires ON known_clients (expires);
