-- Each login is a session: the refresh family of its tokens (`tokens.family_id`), seen and
-- ended as one. The pairs minted from a permanent token form a session too, named after it.
-- A session ends when it is ended (`ended`), at its absolute end (`ends`, fixed at its
-- start), or after a stretch unused (`last_used` plus the idle timeout of the settings, so
-- a changed setting holds for sessions open already). `last_used` and its client are
-- written at most once a minute, not on every request.
CREATE TABLE sessions (
    id                 TEXT PRIMARY KEY,
    user_id            TEXT NOT NULL REFERENCES users (id),
    organization_id    TEXT NOT NULL REFERENCES organizations (id),
    method             TEXT NOT NULL, -- 'password', 'openid' or 'tokens'
    created            BIGINT NOT NULL,
    last_used          BIGINT NOT NULL,
    ends               BIGINT NOT NULL,
    ended              BIGINT,
    created_address    TEXT,
    created_user_agent TEXT,
    last_address       TEXT,
    last_user_agent    TEXT
);
-- A user's sessions, newest first, page by page.
CREATE INDEX sessions_user ON sessions (user_id, created, id);

-- Permanent tokens as objects: the first characters of the secret, to recognise it (no
-- secret: the kind's prefix and four characters of 256 random bits), the client address
-- ranges it may be used from (a JSON array of CIDRs; none: anywhere), and when it was last
-- used (written at most once a minute).
ALTER TABLE tokens ADD COLUMN prefix TEXT;
ALTER TABLE tokens ADD COLUMN allowed_ranges TEXT;
ALTER TABLE tokens ADD COLUMN last_used BIGINT;
