-- Deep pages of an organization's members are found from a sparse index of positions kept in
-- each node's memory (every thousandth member in each order). A node must know when that index
-- no longer describes the memberships, also after a change made by another node: every change
-- to the rows of `memberships` or to their copies of the ordering fields bumps this counter of
-- each organization concerned, in the same transaction (the store's functions do it).
ALTER TABLE organizations ADD COLUMN members_version BIGINT NOT NULL DEFAULT 0;
