-- A token acts in the organization it was issued for, or in every organization of its user.
-- Bound (1): permanent tokens, and the pairs minted from a bound token: an organization's API
-- credential never reaches another organization. Unbound (0): the pairs of a login, which the
-- user proved with his own credential.
ALTER TABLE tokens ADD COLUMN bound BIGINT NOT NULL DEFAULT 0;
UPDATE tokens SET bound = 1 WHERE kind = 'permanent';

-- The organization's default role is given to a member who joined without a role of his own,
-- as long as nobody has given him one; it is never a fallback for a member whose own roles
-- were taken away or retired (that would hand him the default role's permissions).
ALTER TABLE memberships ADD COLUMN follows_default BIGINT NOT NULL DEFAULT 1;
UPDATE memberships SET follows_default = 0
WHERE EXISTS (SELECT 1 FROM user_roles ur
              WHERE ur.user_id = memberships.user_id
                AND ur.organization_id = memberships.organization_id);
