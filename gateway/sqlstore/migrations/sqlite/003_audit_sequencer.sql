-- The audit trail gets a sequencer and Merkle trees (issue 10).
--
-- Transactions append their events to audit_events, unsequenced; the
-- sequencer gives each its place in every tenant's chain, in batches, with
-- the tree nodes that prove it. SQLite runs one writer at a time, so ids
-- commit in order and the sequencer needs no more than the last id it took.
CREATE TABLE audit_events (
    id          INTEGER PRIMARY KEY,
    at          TEXT NOT NULL,
    actor       TEXT NOT NULL,
    tenants     TEXT NOT NULL, -- JSON array
    referral_id TEXT,
    action      TEXT NOT NULL,
    outcome     TEXT NOT NULL,
    detail      TEXT NOT NULL
);

ALTER TABLE audit_log ADD COLUMN event_id INTEGER;
CREATE INDEX audit_log_event ON audit_log (event_id);

CREATE TABLE audit_tree_nodes (
    tenant TEXT NOT NULL,
    level  INTEGER NOT NULL,
    idx    INTEGER NOT NULL,
    hash   BLOB NOT NULL,
    PRIMARY KEY (tenant, level, idx)
);

CREATE TABLE audit_signed_heads (
    tenant TEXT NOT NULL,
    size   INTEGER NOT NULL,
    at     TEXT NOT NULL,
    note   TEXT NOT NULL,
    PRIMARY KEY (tenant, size)
);


CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit_events is append-only: UPDATE refused'); END;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit_events is append-only: DELETE refused'); END;
CREATE TRIGGER audit_tree_nodes_no_update BEFORE UPDATE ON audit_tree_nodes
BEGIN SELECT RAISE(ABORT, 'audit_tree_nodes is append-only: UPDATE refused'); END;
CREATE TRIGGER audit_tree_nodes_no_delete BEFORE DELETE ON audit_tree_nodes
BEGIN SELECT RAISE(ABORT, 'audit_tree_nodes is append-only: DELETE refused'); END;
CREATE TRIGGER audit_signed_heads_no_update BEFORE UPDATE ON audit_signed_heads
BEGIN SELECT RAISE(ABORT, 'audit_signed_heads is append-only: UPDATE refused'); END;
CREATE TRIGGER audit_signed_heads_no_delete BEFORE DELETE ON audit_signed_heads
BEGIN SELECT RAISE(ABORT, 'audit_signed_heads is append-only: DELETE refused'); END;
