-- The audit trail made readable and tamper-evident. Each organization's events form a chain
-- (the events of no organization one more, `chain` = ''): each event carries its sequence
-- number in the chain, the digest of the event before it and its own digest, a SHA-256 over
-- its fields and that previous digest. Rows written before this migration keep `chain` NULL:
-- a sealed, unchained prefix that verification counts but cannot vouch for.
ALTER TABLE audit_events ADD COLUMN chain TEXT;
ALTER TABLE audit_events ADD COLUMN seq BIGINT;
ALTER TABLE audit_events ADD COLUMN prev_digest TEXT;
ALTER TABLE audit_events ADD COLUMN digest TEXT;
ALTER TABLE audit_events ADD COLUMN subject_id TEXT;
ALTER TABLE audit_events ADD COLUMN outcome TEXT NOT NULL DEFAULT 'succeeded';
ALTER TABLE audit_events ADD COLUMN reason TEXT;
ALTER TABLE audit_events ADD COLUMN client_address TEXT;
ALTER TABLE audit_events ADD COLUMN user_agent TEXT;
CREATE UNIQUE INDEX audit_events_chain_seq ON audit_events (chain, seq);
-- Listing an organization's events newest first.
CREATE INDEX audit_events_organization ON audit_events (organization_id, occurred, id);

-- The head of each chain: the sequence number of its last event. Its row lock orders the
-- appenders of one chain (across nodes) until they commit; a last event deleted behind its
-- back shows as a head past the chain's end.
CREATE TABLE audit_chains (
    chain    TEXT PRIMARY KEY,
    last_seq BIGINT NOT NULL
);
