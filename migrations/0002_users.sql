-- Listing the members of an organization page by page, ordered by a field of the user, must not
-- touch every member: the memberships table carries a copy of the ordering fields of its user
-- (kept in step by the store's user updates), so a page is read from one index, and only the
-- users on the page are looked up.
ALTER TABLE memberships ADD COLUMN user_created BIGINT NOT NULL DEFAULT 0;
ALTER TABLE memberships ADD COLUMN user_updated BIGINT NOT NULL DEFAULT 0;
ALTER TABLE memberships ADD COLUMN user_email_key TEXT NOT NULL DEFAULT '';
UPDATE memberships SET
    user_created = (SELECT u.created FROM users u WHERE u.id = memberships.user_id),
    user_updated = (SELECT u.updated FROM users u WHERE u.id = memberships.user_id),
    user_email_key = (SELECT u.email_key FROM users u WHERE u.id = memberships.user_id);
CREATE INDEX memberships_by_user_created ON memberships (organization_id, user_created, user_id);
CREATE INDEX memberships_by_user_updated ON memberships (organization_id, user_updated, user_id);
CREATE INDEX memberships_by_user_email ON memberships (organization_id, user_email_key, user_id);

-- An invitation of a user who is waiting for one (created by an invitation, never accepted)
-- enables him when accepted; one of a user who exists otherwise only adds the membership.
ALTER TABLE codes ADD COLUMN enables_user BIGINT NOT NULL DEFAULT 0;

-- A mail the sender gave up on (a permanent refusal, or too many attempts).
ALTER TABLE mail_outbox ADD COLUMN gave_up BIGINT;
