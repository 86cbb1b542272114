-- Row-level security for the tables added after 005 that hold a
-- practice's rows (docs/tenancy.md): received messages belong to the
-- practice they are for (tenant), their notices follow their message. The
-- inbound pipeline works them on the named gateway-wide path "inbound"
-- until a message is matched. (Receipt keys: migration 017.)
ALTER TABLE inbound_messages ENABLE ROW LEVEL SECURITY;
ALTER TABLE inbound_messages FORCE ROW LEVEL SECURITY;
CREATE POLICY inbound_messages_practice ON inbound_messages
    USING (gateway_wide() OR tenant = gateway_practice());

ALTER TABLE inbound_notices ENABLE ROW LEVEL SECURITY;
ALTER TABLE inbound_notices FORCE ROW LEVEL SECURITY;
CREATE POLICY inbound_notices_practice ON inbound_notices
    USING (EXISTS (SELECT 1 FROM inbound_messages m WHERE m.id = inbound_id));
