-- Passkeys (WebAuthn) as second factors, kind 'webauthn' in `second_factors`: their
-- `credential` is the passkey (its public key, its credential ID and its signature counter),
-- sealed as a TOTP secret is, so that the store holds no credential ID or key in clear.
--
-- A ceremony spans two requests, which may reach two nodes: its state (the challenge and what
-- the answer is checked against) is kept here, sealed with the ceremony's ID as associated data.

-- Registrations started by a user and not finished yet: single-use (finishing deletes the row,
-- whatever the outcome), short-lived, bound to the user who started it.
CREATE TABLE webauthn_registrations (
    id      TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id),
    state   TEXT NOT NULL,
    created BIGINT NOT NULL,
    expires BIGINT NOT NULL
);
CREATE INDEX webauthn_registrations_expires ON webauthn_registrations (expires);

-- The authentication a login's second step may answer with a passkey: its state, started with
-- the `mfa_token` (and answered with it), lives and is spent with it. NULL: the user had no
-- passkey.
ALTER TABLE mfa_challenges ADD COLUMN webauthn TEXT;
