-- A random value kept with each refresh token, from which (with the token's secret, which only
-- its holder has) the pair that succeeds it at rotation is derived: a repeated refresh within
-- the reuse interval answers that same pair again, and no secret is stored.
ALTER TABLE tokens ADD COLUMN successor_salt TEXT;
