-- Second factors of a login. One table for every kind, so that a later kind (a passkey,
-- `webauthn`) is a new `kind` with its own `credential`, not a new table:
-- - `kind`: 'totp' (RFC 6238); 'webauthn' later.
-- - `credential`: what the factor is checked with. For 'totp' the shared secret, sealed
--   (XChaCha20-Poly1305 under the secrets key, with the factor's ID as associated data, so a
--   sealed secret copied onto another factor does not open): base64 of nonce and ciphertext.
--   For a passkey it would be its public key credential, which is no secret.
-- - `confirmed`: NULL while the factor is pending (enrolled, never proven with a first code);
--   a pending factor is never asked for nor accepted at a login.
-- - `last_step`: the last TOTP time step accepted, so that a code is used once: a code of that
--   step or an earlier one is refused.
CREATE TABLE second_factors (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id),
    kind       TEXT NOT NULL,
    name       TEXT NOT NULL,
    credential TEXT NOT NULL,
    created    BIGINT NOT NULL,
    confirmed  BIGINT,
    last_used  BIGINT,
    last_step  BIGINT
);
CREATE INDEX second_factors_user ON second_factors (user_id, created);

-- Recovery codes: single-use, kept as SHA-256 digests of high-entropy codes. `used` is when
-- one was spent; regenerating deletes the user's codes and makes new ones.
CREATE TABLE recovery_codes (
    id      TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id),
    digest  TEXT NOT NULL,
    created BIGINT NOT NULL,
    used    BIGINT
);
CREATE INDEX recovery_codes_user ON recovery_codes (user_id);

-- The second step of a login: the `mfa_token` a right password (or ID token) answers when its
-- user has a second factor, kept as a digest, bound to the login it continues (the user, the
-- organization asked for, the client), short-lived and single-use. Its own table, so that no
-- other code or token can be taken for it, nor it for one.
CREATE TABLE mfa_challenges (
    id              TEXT PRIMARY KEY,
    digest          TEXT NOT NULL,
    user_id         TEXT NOT NULL REFERENCES users (id),
    organization_id TEXT,
    client          TEXT NOT NULL,
    method          TEXT NOT NULL,
    details         TEXT,
    created         BIGINT NOT NULL,
    expires         BIGINT NOT NULL,
    used            BIGINT,
    failed_attempts BIGINT NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX mfa_challenges_digest ON mfa_challenges (digest);
CREATE INDEX mfa_challenges_expires ON mfa_challenges (expires);

-- Organizations that require a second factor of their members. No row: not required.
CREATE TABLE mfa_policies (
    organization_id TEXT PRIMARY KEY REFERENCES organizations (id),
    required        BIGINT NOT NULL,
    updated         BIGINT NOT NULL,
    changed_by      TEXT
);

-- How a session's login stood to second factors: 'passed' (a factor was checked), 'enrol'
-- (its organization requires a factor the user had not: the session may only enrol one).
-- NULL: no factor was asked.
ALTER TABLE sessions ADD COLUMN second_factor TEXT;

-- The same for a permanent token: 'passed' when the login that made it passed a second factor
-- (the pairs minted from it, whose family is its ID, stand as it does). NULL: it was made by a
-- login that passed none, so an organization requiring a factor refuses it.
ALTER TABLE tokens ADD COLUMN second_factor TEXT;
