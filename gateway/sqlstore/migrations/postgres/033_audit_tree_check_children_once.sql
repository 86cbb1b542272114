-- 032's check named each child twice, once in `IS NULL` and once in the
-- hash, and PostgreSQL inlined the child subquery into both places: every
-- child was probed twice (17 ms for 900 nodes as the application role,
-- EXPLAIN ANALYZE on a copy of the check). OFFSET 0 keeps the children a
-- subquery of their own, computed once per node: 7 ms for the same nodes,
-- one primary-key probe per child. The rule is unchanged.

CREATE OR REPLACE FUNCTION audit_tree_nodes_check_statement() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bad record;
BEGIN
    SELECT n.tenant, n.level, n.idx INTO bad
    FROM new_nodes n
    CROSS JOIN LATERAL (
        SELECT n.level - 1 AS child_level, 2 * n.idx AS left_idx, 2 * n.idx + 1 AS right_idx,
               2 * n.idx + 1 AS left_seq, 2 * n.idx + 2 AS right_seq
        OFFSET 0
    ) AS k
    CROSS JOIN LATERAL (
        SELECT
            CASE WHEN n.level = 1 THEN
                (SELECT sha256('\x00'::bytea || decode(a.hash, 'hex')) FROM audit_log a
                  WHERE a.tenant = n.tenant AND a.seq = k.left_seq)
            ELSE
                (SELECT c.hash FROM audit_tree_nodes c
                  WHERE c.tenant = n.tenant AND c.level = k.child_level AND c.idx = k.left_idx)
            END AS l,
            CASE WHEN n.level = 1 THEN
                (SELECT sha256('\x00'::bytea || decode(a.hash, 'hex')) FROM audit_log a
                  WHERE a.tenant = n.tenant AND a.seq = k.right_seq)
            ELSE
                (SELECT c.hash FROM audit_tree_nodes c
                  WHERE c.tenant = n.tenant AND c.level = k.child_level AND c.idx = k.right_idx)
            END AS r
        OFFSET 0
    ) AS child
    WHERE n.level < 1 OR n.idx < 0 OR child.l IS NULL OR child.r IS NULL
       OR n.hash IS DISTINCT FROM sha256('\x01'::bytea || child.l || child.r)
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'audit_tree_nodes: % (%, %) is not an interior node holding the hash of its stored children',
            bad.tenant, bad.level, bad.idx
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END;
$$;
