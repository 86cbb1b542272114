-- The statement check of 030 walked its new rows in PL/pgSQL and ran two
-- lookup statements per node. Each lookup was a statement of its own:
-- executor start-up, and the row-level-security initplans of its table
-- evaluated again, about 10 µs a lookup as the application role, for
-- 20-odd nodes per referral in the FHIR bench.
--
-- The check is now one query: each new node's children are correlated
-- scalar subqueries, and the policies' initplans run once per check. The
-- children's keys are computed first, in a subquery that OFFSET 0 keeps
-- from being flattened: under row-level security a condition may become
-- an index condition only if it is leakproof, and `seq = 2 * n.idx + 1`
-- is not (int8 arithmetic is not marked leakproof), so written inline it
-- was a filter over every row of the tenant, as in 029. Compared with
-- plain columns of the key subquery the conditions are leakproof and
-- each child is one primary-key probe. The children get an OFFSET 0 of
-- their own too: the check names each child twice (IS NULL, the hash),
-- and inlined into both places every child was probed twice (17 ms
-- against 7 ms for 900 nodes, EXPLAIN ANALYZE as the application role).
--
-- The rule is unchanged: an interior node is the RFC 6962 hash of its two
-- stored children, a level-1 node's children being the leaf hashes of two
-- chain rows.

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
