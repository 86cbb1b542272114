-- Migration 025 checks every audit tree node as it is inserted: a node is
-- accepted only as the RFC 6962 hash of its two stored children. It did so
-- in a row trigger, two lookups run one node at a time, which took the
-- sequencer from about 26,000 to 17,000 entries a second
-- (BenchmarkSequencer, docs/BENCHMARKS.md): the sequencer stores about one
-- node per entry.
--
-- The same rule is now checked once per statement, over the statement's
-- new rows (a transition table) joined to their children in one query.
-- The check runs after the statement's rows are in, so a parent and the
-- children it needs may arrive in the same statement; any node that is not
-- the hash of its children fails the whole statement, as before. The
-- function runs as the caller, under the same policies as the row check.

CREATE FUNCTION audit_tree_nodes_check_statement() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bad record;
BEGIN
    SELECT n.tenant, n.level, n.idx INTO bad
    FROM new_nodes n
    LEFT JOIN audit_log ll ON n.level = 1 AND ll.tenant = n.tenant AND ll.seq = 2 * n.idx + 1
    LEFT JOIN audit_log lr ON n.level = 1 AND lr.tenant = n.tenant AND lr.seq = 2 * n.idx + 2
    LEFT JOIN audit_tree_nodes cl ON n.level > 1 AND cl.tenant = n.tenant AND cl.level = n.level - 1 AND cl.idx = 2 * n.idx
    LEFT JOIN audit_tree_nodes cr ON n.level > 1 AND cr.tenant = n.tenant AND cr.level = n.level - 1 AND cr.idx = 2 * n.idx + 1
    WHERE n.level < 1 OR n.idx < 0
       OR n.hash IS DISTINCT FROM sha256('\x01'::bytea
            || CASE WHEN n.level = 1 THEN sha256('\x00'::bytea || decode(ll.hash, 'hex')) ELSE cl.hash END
            || CASE WHEN n.level = 1 THEN sha256('\x00'::bytea || decode(lr.hash, 'hex')) ELSE cr.hash END)
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'audit_tree_nodes: % (%, %) is not the hash of its stored children', bad.tenant, bad.level, bad.idx
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER audit_tree_nodes_check_statement AFTER INSERT ON audit_tree_nodes
    REFERENCING NEW TABLE AS new_nodes
    FOR EACH STATEMENT EXECUTE FUNCTION audit_tree_nodes_check_statement();
DROP TRIGGER audit_tree_nodes_check ON audit_tree_nodes;
DROP FUNCTION audit_tree_node_check();
