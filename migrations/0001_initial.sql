-- One schema for SQLite and PostgreSQL: only types and statements both understand.
-- Timestamps are BIGINT milliseconds since the Unix epoch (UTC); booleans are BIGINT 0/1,
-- because the two drivers disagree on BOOLEAN and on date types.

CREATE TABLE organizations (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    customer_code TEXT NOT NULL,
    created       BIGINT NOT NULL,
    updated       BIGINT NOT NULL,
    changed_by    TEXT,
    deleted       BIGINT NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX organizations_customer_code ON organizations (customer_code);

CREATE TABLE users (
    id                        TEXT PRIMARY KEY,
    organization_id           TEXT NOT NULL REFERENCES organizations (id),
    email                     TEXT NOT NULL,
    -- The lower-cased e-mail: logins are global and case-insensitive.
    email_key                 TEXT NOT NULL,
    first_name                TEXT,
    last_name                 TEXT,
    company_name              TEXT,
    timezone                  TEXT,
    enabled                   BIGINT NOT NULL DEFAULT 1,
    account_non_locked        BIGINT NOT NULL DEFAULT 1,
    account_non_expired       BIGINT NOT NULL DEFAULT 1,
    credentials_non_expired   BIGINT NOT NULL DEFAULT 1,
    bf_admin                  BIGINT NOT NULL DEFAULT 0,
    password_hash             TEXT,
    password_reset_valid_till BIGINT,
    created                   BIGINT NOT NULL,
    updated                   BIGINT NOT NULL,
    changed_by                TEXT
);
CREATE UNIQUE INDEX users_email_key ON users (email_key);

CREATE TABLE memberships (
    user_id         TEXT NOT NULL REFERENCES users (id),
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    created         BIGINT NOT NULL,
    changed_by      TEXT,
    PRIMARY KEY (user_id, organization_id)
);
-- Listing the members of an organization in creation order, page by page.
CREATE INDEX memberships_organization ON memberships (organization_id, created, user_id);

CREATE TABLE roles (
    id              TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    name            TEXT NOT NULL,
    description     TEXT,
    default_role    BIGINT NOT NULL DEFAULT 0,
    created         BIGINT NOT NULL,
    updated         BIGINT NOT NULL,
    changed_by      TEXT,
    revoked         BIGINT,
    deleted         BIGINT NOT NULL DEFAULT 0
);
-- Names are unique among live roles of an organization; revoked ones keep their history.
CREATE UNIQUE INDEX roles_live_name ON roles (organization_id, name) WHERE revoked IS NULL;
CREATE UNIQUE INDEX roles_live_default ON roles (organization_id) WHERE revoked IS NULL AND default_role = 1;

CREATE TABLE permissions (
    id         TEXT PRIMARY KEY,
    role_id    TEXT NOT NULL REFERENCES roles (id),
    resource   TEXT NOT NULL,
    action     TEXT NOT NULL,
    created    BIGINT NOT NULL,
    updated    BIGINT NOT NULL,
    changed_by TEXT,
    revoked    BIGINT,
    deleted    BIGINT NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX permissions_live ON permissions (role_id, resource, action) WHERE revoked IS NULL;

CREATE TABLE user_roles (
    user_id         TEXT NOT NULL REFERENCES users (id),
    role_id         TEXT NOT NULL REFERENCES roles (id),
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    created         BIGINT NOT NULL,
    changed_by      TEXT,
    PRIMARY KEY (user_id, role_id)
);
CREATE INDEX user_roles_by_organization ON user_roles (user_id, organization_id);

-- Bearer tokens. Only the SHA-256 digest of the secret is kept.
CREATE TABLE tokens (
    id              TEXT PRIMARY KEY,
    kind            TEXT NOT NULL, -- 'access', 'refresh' or 'permanent'
    digest          TEXT NOT NULL,
    user_id         TEXT NOT NULL REFERENCES users (id),
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    -- Access and refresh tokens issued by one login share a family; reusing a rotated refresh
    -- token revokes the whole family.
    family_id       TEXT,
    description     TEXT,
    created         BIGINT NOT NULL,
    expires         BIGINT,
    -- When the token stops working; may lie in the future (a rotated permanent token's grace).
    revoked         BIGINT,
    created_by      TEXT
);
CREATE UNIQUE INDEX tokens_digest ON tokens (digest);
CREATE INDEX tokens_user ON tokens (user_id, kind);
CREATE INDEX tokens_family ON tokens (family_id);
CREATE UNIQUE INDEX tokens_one_live_permanent ON tokens (user_id, organization_id)
    WHERE kind = 'permanent' AND revoked IS NULL;

-- Single-use codes mailed to people: password reset and invitation. Digest only.
CREATE TABLE codes (
    id              TEXT PRIMARY KEY,
    kind            TEXT NOT NULL, -- 'reset' or 'invite'
    digest          TEXT NOT NULL,
    user_id         TEXT NOT NULL REFERENCES users (id),
    organization_id TEXT REFERENCES organizations (id),
    -- For invitations: the JSON array of role IDs the invited user receives.
    role_ids        TEXT,
    created         BIGINT NOT NULL,
    expires         BIGINT NOT NULL,
    used            BIGINT,
    failed_attempts BIGINT NOT NULL DEFAULT 0,
    created_by      TEXT
);
CREATE UNIQUE INDEX codes_digest ON codes (digest);
CREATE INDEX codes_user ON codes (user_id, kind);

-- OpenID Connect identities linked to users.
CREATE TABLE identities (
    issuer  TEXT NOT NULL,
    subject TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id),
    created BIGINT NOT NULL,
    PRIMARY KEY (issuer, subject)
);

-- Mail written in the same transaction as the change that causes it, sent by a background worker.
CREATE TABLE mail_outbox (
    id           TEXT PRIMARY KEY,
    recipient    TEXT NOT NULL,
    subject      TEXT NOT NULL,
    body_text    TEXT NOT NULL,
    created      BIGINT NOT NULL,
    attempts     BIGINT NOT NULL DEFAULT 0,
    next_attempt BIGINT NOT NULL,
    sent         BIGINT,
    last_error   TEXT
);
CREATE INDEX mail_outbox_pending ON mail_outbox (sent, next_attempt);

CREATE TABLE audit_events (
    id              TEXT PRIMARY KEY,
    occurred        BIGINT NOT NULL,
    actor_id        TEXT,
    organization_id TEXT,
    action          TEXT NOT NULL,
    target_id       TEXT,
    details         TEXT
);
CREATE INDEX audit_events_occurred ON audit_events (occurred);
