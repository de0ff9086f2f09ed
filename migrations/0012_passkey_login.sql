-- Logging in with a passkey alone, where an organization allows it.

-- The digest of a passkey's credential ID (`security::passkeys::lookup`), so that an assertion
-- naming no user finds its factor while the store keeps no credential ID in clear. Unique: a
-- credential serves one user (WebAuthn's registration refuses one registered already). NULL for
-- TOTP factors; for a passkey registered before this column, until its next use as a second
-- factor fills it.
ALTER TABLE second_factors ADD COLUMN lookup TEXT;
CREATE UNIQUE INDEX second_factors_lookup ON second_factors (lookup);

-- Whether the organization lets its members log in with a passkey alone (0: not).
ALTER TABLE mfa_policies ADD COLUMN passkey_login BIGINT NOT NULL DEFAULT 0;

-- Logins with a passkey alone that were finished (or tried): each is spent at its first finish,
-- whatever the outcome. A login's start writes nothing (its state travels sealed in its
-- ceremony ID, so that anonymous starts cost no row); this keeps the digest of each ceremony ID
-- presented until the ceremony would have expired anyway.
CREATE TABLE passkey_logins_spent (
    digest  TEXT PRIMARY KEY,
    expires BIGINT NOT NULL
);
CREATE INDEX passkey_logins_spent_expires ON passkey_logins_spent (expires);
