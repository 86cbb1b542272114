-- The audit trail gets a sequencer and Merkle trees (issue 10).
--
-- Transactions no longer lock a chain head: they append their events to
-- audit_events, unsequenced, and one sequencer per database gives each
-- event its place (seq, prev_hash, hash) in every tenant's chain, in
-- batches, with the tree nodes that prove it. xid records the appending
-- transaction, so the sequencer knows which rows can no longer appear
-- behind it (every transaction older than its snapshot's xmin is over).
CREATE TABLE audit_events (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    xid         xid8 NOT NULL DEFAULT pg_current_xact_id(),
    at          timestamptz NOT NULL,
    actor       text NOT NULL,
    tenants     text NOT NULL, -- JSON array
    referral_id text,
    action      text NOT NULL,
    outcome     text NOT NULL,
    detail      text NOT NULL
);
CREATE INDEX audit_events_xid ON audit_events (xid);

-- The event a chain row was sequenced from (NULL for rows written before
-- the sequencer).
ALTER TABLE audit_log ADD COLUMN event_id bigint;
CREATE INDEX audit_log_event ON audit_log (event_id);

-- Interior nodes (level >= 1) of each tenant's Merkle tree; leaves are the
-- chain rows themselves. Enough for any inclusion or consistency proof.
CREATE TABLE audit_tree_nodes (
    tenant text NOT NULL,
    level  integer NOT NULL,
    idx    bigint NOT NULL,
    hash   bytea NOT NULL,
    PRIMARY KEY (tenant, level, idx)
);

-- Every checkpoint the sequencer signed, also handed to the witnesses
-- outside the database (which are what verification trusts).
CREATE TABLE audit_signed_heads (
    tenant text NOT NULL,
    size   bigint NOT NULL,
    at     timestamptz NOT NULL,
    note   text NOT NULL,
    PRIMARY KEY (tenant, size)
);


CREATE TRIGGER audit_events_no_update BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_tree_nodes_no_update BEFORE UPDATE OR DELETE ON audit_tree_nodes
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_tree_nodes_no_truncate BEFORE TRUNCATE ON audit_tree_nodes
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_signed_heads_no_update BEFORE UPDATE OR DELETE ON audit_signed_heads
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_signed_heads_no_truncate BEFORE TRUNCATE ON audit_signed_heads
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
