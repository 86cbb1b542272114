-- The policies of 005, 013 and 015 called gateway_wide() and
-- gateway_practice() on every row a statement touched; 018 rewrote the
-- child tables' policies so that PostgreSQL reads the two settings once per
-- statement, as initplans ((SELECT gateway_wide()), (SELECT
-- gateway_practice())). The rest follow here. It matters most where one
-- statement touches many rows: the audit sequencer reads hundreds of
-- unsequenced events and appends them to each tenant's chain in one
-- statement, and under the per-row form its read of audit_events took
-- about twice as long as the table owner's (docs/BENCHMARKS.md). Who may
-- see and change what does not change.

ALTER POLICY referrals_practice ON referrals
    USING ((SELECT gateway_wide()) OR requester_org = (SELECT gateway_practice()) OR receiver_org = (SELECT gateway_practice()));

ALTER POLICY consents_practice ON consents
    USING ((SELECT gateway_wide()) OR tenant = (SELECT gateway_practice()));

ALTER POLICY audit_log_practice ON audit_log
    USING ((SELECT gateway_wide()) OR tenant = (SELECT gateway_practice()));

ALTER POLICY audit_events_gateway ON audit_events
    USING ((SELECT gateway_wide()));

ALTER POLICY audit_tree_nodes_practice ON audit_tree_nodes
    USING ((SELECT gateway_wide()) OR tenant = (SELECT gateway_practice()));

ALTER POLICY audit_signed_heads_practice ON audit_signed_heads
    USING ((SELECT gateway_wide()) OR tenant = (SELECT gateway_practice()));

ALTER POLICY inbound_messages_practice ON inbound_messages
    USING ((SELECT gateway_wide()) OR tenant = (SELECT gateway_practice()));

ALTER POLICY directory_read ON directory_entries
    USING ((SELECT gateway_wide()) OR (SELECT gateway_practice()) IS NOT NULL);
ALTER POLICY directory_insert ON directory_entries WITH CHECK ((SELECT gateway_wide()));
ALTER POLICY directory_update ON directory_entries USING ((SELECT gateway_wide())) WITH CHECK ((SELECT gateway_wide()));
ALTER POLICY directory_delete ON directory_entries USING ((SELECT gateway_wide()));

ALTER POLICY baas_insert ON baas WITH CHECK ((SELECT gateway_wide()) OR tenant = (SELECT gateway_practice()));
ALTER POLICY baas_update ON baas
    USING ((SELECT gateway_wide()) OR tenant = (SELECT gateway_practice()))
    WITH CHECK ((SELECT gateway_wide()) OR tenant = (SELECT gateway_practice()));
ALTER POLICY baas_delete ON baas USING ((SELECT gateway_wide()) OR tenant = (SELECT gateway_practice()));
