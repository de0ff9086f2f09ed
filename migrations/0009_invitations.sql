-- Invitations become objects of their own: listed with their state, resent with a new code,
-- revoked or declined. The codes table is rebuilt (both stores understand the copy, not an
-- ALTER of a column's nullability):
-- - `user_id` may be NULL: revoking an invitation retires the user it created if he never used
--   his account, and the invitation stays, as revoked, with the e-mail it was made for.
-- - `email`: an invitation's address as the inviter typed it (existing invitations: their
--   user's address).
-- - `outcome`: how an invitation ended, with `used` its time: 'accepted', 'declined',
--   'revoked', or 'replaced' by a newer invitation. NULL while it lives (and for reset codes).
-- - `sent`: when its code was last made (at the invitation, or its last resend).
-- - `updated`, `changed_by`: its last change, as every entity carries it.
CREATE TABLE codes_v9 (
    id              TEXT PRIMARY KEY,
    kind            TEXT NOT NULL,
    digest          TEXT NOT NULL,
    user_id         TEXT REFERENCES users (id),
    organization_id TEXT REFERENCES organizations (id),
    role_ids        TEXT,
    created         BIGINT NOT NULL,
    expires         BIGINT NOT NULL,
    used            BIGINT,
    failed_attempts BIGINT NOT NULL DEFAULT 0,
    created_by      TEXT,
    enables_user    BIGINT NOT NULL DEFAULT 0,
    email           TEXT,
    outcome         TEXT,
    sent            BIGINT NOT NULL,
    updated         BIGINT NOT NULL,
    changed_by      TEXT
);

-- Before this migration a used invitation did not say how it ended: one whose acceptance the
-- audit trail records was accepted, any other was replaced by a newer one.
INSERT INTO codes_v9 (id, kind, digest, user_id, organization_id, role_ids, created, expires,
    used, failed_attempts, created_by, enables_user, email, outcome, sent, updated, changed_by)
SELECT c.id, c.kind, c.digest, c.user_id, c.organization_id, c.role_ids, c.created, c.expires,
    c.used, c.failed_attempts, c.created_by, c.enables_user,
    CASE WHEN c.kind = 'invite' THEN (SELECT u.email FROM users u WHERE u.id = c.user_id) END,
    CASE
        WHEN c.kind <> 'invite' OR c.used IS NULL THEN NULL
        WHEN EXISTS (SELECT 1 FROM audit_events a
                     WHERE a.action = 'invitation.accepted'
                       AND a.details LIKE '%' || c.id || '%') THEN 'accepted'
        ELSE 'replaced'
    END,
    c.created, COALESCE(c.used, c.created), c.created_by
FROM codes c;

DROP TABLE codes;
ALTER TABLE codes_v9 RENAME TO codes;
CREATE UNIQUE INDEX codes_digest ON codes (digest);
CREATE INDEX codes_user ON codes (user_id, kind);
-- An organization's invitations, page by page.
CREATE INDEX codes_invitations ON codes (organization_id, kind, created, id);
