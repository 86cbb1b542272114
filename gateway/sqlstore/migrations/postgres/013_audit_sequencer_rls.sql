-- The chain heads and HMAC checkpoints gave way to the sequencer and to
-- signed, witnessed tree heads (003); the new audit tables get row-level
-- security like audit_log (005): a practice sees its own tree and signed
-- heads; unsequenced events are read only on a gateway-wide path (the
-- sequencer's "audit-sequencer", verification's "audit") and appended on
-- "audit-append".
DROP TABLE audit_heads;
DROP TABLE audit_checkpoints;

ALTER TABLE audit_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_events FORCE ROW LEVEL SECURITY;
CREATE POLICY audit_events_gateway ON audit_events USING (gateway_wide());

ALTER TABLE audit_tree_nodes ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_tree_nodes FORCE ROW LEVEL SECURITY;
CREATE POLICY audit_tree_nodes_practice ON audit_tree_nodes
    USING (gateway_wide() OR tenant = gateway_practice());

ALTER TABLE audit_signed_heads ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_signed_heads FORCE ROW LEVEL SECURITY;
CREATE POLICY audit_signed_heads_practice ON audit_signed_heads
    USING (gateway_wide() OR tenant = gateway_practice());
