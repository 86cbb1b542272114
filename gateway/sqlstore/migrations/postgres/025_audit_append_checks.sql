-- The application role appends tree nodes and signed heads (the sequencer
-- runs as it), and row-level security does not keep it from any tenant:
-- the role sets gateway.scope itself. Someone holding the role could
-- therefore write a node ahead of the sequencer, at a place the tree has
-- not reached; the sequencer's own insert of that node does nothing on the
-- conflict, and the next process to take the sequencer lock rebuilds its
-- tree edge from the forged node, signing roots the rows do not have (the
-- witnesses refuse them) and serving proofs that do not verify. Likewise a
-- signed head stored ahead of the chain took the place of the real one.
--
-- Now the database takes only the true node: the RFC 6962 hash of its two
-- children, the leaves' from the chain rows (SHA-256(0x00 || entry hash))
-- and the interior ones' from this table, so a node can be stored only
-- once both children are. A signed head needs the chain row of its size.
-- The functions run as the caller, under the same policies: the sequencer
-- (a gateway-wide path) sees every tenant's rows, a practice its own.

CREATE FUNCTION audit_tree_node_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    l bytea;
    r bytea;
BEGIN
    IF NEW.level < 1 OR NEW.idx < 0 THEN
        RAISE EXCEPTION 'audit_tree_nodes: % (%, %) is not an interior node', NEW.tenant, NEW.level, NEW.idx
            USING ERRCODE = 'check_violation';
    END IF;
    IF NEW.level = 1 THEN
        SELECT sha256('\x00'::bytea || decode(hash, 'hex')) INTO l FROM audit_log WHERE tenant = NEW.tenant AND seq = 2 * NEW.idx + 1;
        SELECT sha256('\x00'::bytea || decode(hash, 'hex')) INTO r FROM audit_log WHERE tenant = NEW.tenant AND seq = 2 * NEW.idx + 2;
    ELSE
        SELECT hash INTO l FROM audit_tree_nodes WHERE tenant = NEW.tenant AND level = NEW.level - 1 AND idx = 2 * NEW.idx;
        SELECT hash INTO r FROM audit_tree_nodes WHERE tenant = NEW.tenant AND level = NEW.level - 1 AND idx = 2 * NEW.idx + 1;
    END IF;
    IF l IS NULL OR r IS NULL THEN
        RAISE EXCEPTION 'audit_tree_nodes: % (%, %): its children are not stored', NEW.tenant, NEW.level, NEW.idx
            USING ERRCODE = 'check_violation';
    END IF;
    IF NEW.hash IS DISTINCT FROM sha256('\x01'::bytea || l || r) THEN
        RAISE EXCEPTION 'audit_tree_nodes: % (%, %) is not the hash of its children', NEW.tenant, NEW.level, NEW.idx
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER audit_tree_nodes_check BEFORE INSERT ON audit_tree_nodes
    FOR EACH ROW EXECUTE FUNCTION audit_tree_node_check();

CREATE FUNCTION audit_signed_head_check() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM audit_log WHERE tenant = NEW.tenant AND seq = NEW.size) THEN
        RAISE EXCEPTION 'audit_signed_heads: the chain of % has no entry %', NEW.tenant, NEW.size
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER audit_signed_heads_check BEFORE INSERT ON audit_signed_heads
    FOR EACH ROW EXECUTE FUNCTION audit_signed_head_check();
