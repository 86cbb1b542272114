-- River's tables had no policy, so the application role's password alone
-- (without the gateway's keys, see migration 026) still read every job's
-- arguments (delivery, message and subscription ids with their
-- practices), queued jobs of its own (a delivery sent again, a message
-- processed again, a subscription notified) and deleted queued ones (a
-- delivery never sent). River runs on the store's own connections, which
-- carry the caller token, so its tables now answer only the gateway's
-- sessions (and their owner, who migrates them). river_migration stays
-- open: it holds version numbers, and a process checks it before it knows
-- whether the database recognises it.
ALTER TABLE river_job ENABLE ROW LEVEL SECURITY;
ALTER TABLE river_job FORCE ROW LEVEL SECURITY;
CREATE POLICY river_job_gateway ON river_job USING ((SELECT gateway_caller()));
ALTER TABLE river_leader ENABLE ROW LEVEL SECURITY;
ALTER TABLE river_leader FORCE ROW LEVEL SECURITY;
CREATE POLICY river_leader_gateway ON river_leader USING ((SELECT gateway_caller()));
ALTER TABLE river_queue ENABLE ROW LEVEL SECURITY;
ALTER TABLE river_queue FORCE ROW LEVEL SECURITY;
CREATE POLICY river_queue_gateway ON river_queue USING ((SELECT gateway_caller()));
ALTER TABLE river_notification ENABLE ROW LEVEL SECURITY;
ALTER TABLE river_notification FORCE ROW LEVEL SECURITY;
CREATE POLICY river_notification_gateway ON river_notification USING ((SELECT gateway_caller()));
