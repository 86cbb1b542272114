-- A receipt key belongs to its delivery's practices (docs/tenancy.md): it
-- is visible where the delivery is.
ALTER TABLE receipt_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE receipt_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY receipt_keys_practice ON receipt_keys
    USING (EXISTS (SELECT 1 FROM deliveries d WHERE d.id = delivery_id));
