-- Migration 029's statement check joined the new nodes to audit_log and
-- audit_tree_nodes in one query. Nothing is known of a transition table's
-- size, and as the application role (row-level security) the join keys,
-- computed from the new rows, were not used as index conditions: each
-- check read both tables whole and cost more as the trail grew (167-244
-- ms a statement in the FHIR bench, more than the insert it checked).
--
-- The statement trigger now walks its new rows and looks each node's two
-- children up by primary key with the keys computed first, as the row
-- trigger of 025 did (index probes whatever the statistics), without a
-- trigger call per row. The rule is unchanged.

CREATE OR REPLACE FUNCTION audit_tree_nodes_check_statement() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    n record;
    l bytea;
    r bytea;
    child_level integer;
    left_idx bigint;
BEGIN
    FOR n IN SELECT tenant, level, idx, hash FROM new_nodes LOOP
        IF n.level < 1 OR n.idx < 0 THEN
            RAISE EXCEPTION 'audit_tree_nodes: % (%, %) is not an interior node', n.tenant, n.level, n.idx
                USING ERRCODE = 'check_violation';
        END IF;
        l := NULL;
        r := NULL;
        left_idx := 2 * n.idx;
        IF n.level = 1 THEN
            SELECT sha256('\x00'::bytea || decode(a.hash, 'hex')) INTO l FROM audit_log a WHERE a.tenant = n.tenant AND a.seq = left_idx + 1;
            SELECT sha256('\x00'::bytea || decode(a.hash, 'hex')) INTO r FROM audit_log a WHERE a.tenant = n.tenant AND a.seq = left_idx + 2;
        ELSE
            child_level := n.level - 1;
            SELECT c.hash INTO l FROM audit_tree_nodes c WHERE c.tenant = n.tenant AND c.level = child_level AND c.idx = left_idx;
            SELECT c.hash INTO r FROM audit_tree_nodes c WHERE c.tenant = n.tenant AND c.level = child_level AND c.idx = left_idx + 1;
        END IF;
        IF l IS NULL OR r IS NULL OR n.hash IS DISTINCT FROM sha256('\x01'::bytea || l || r) THEN
            RAISE EXCEPTION 'audit_tree_nodes: % (%, %) is not the hash of its stored children', n.tenant, n.level, n.idx
                USING ERRCODE = 'check_violation';
        END IF;
    END LOOP;
    RETURN NULL;
END;
$$;
