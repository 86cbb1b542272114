-- Row-level security without subqueries (docs/tenancy.md, docs/BENCHMARKS.md).
--
-- The policies of 005, 015 and 017 made a row that hangs off a referral
-- (a version, a record's content, a delivery) or off a delivery (a receipt
-- key) or off a received message (a notice) visible through
-- EXISTS (SELECT 1 FROM <parent> ...): a lookup of the parent, under the
-- parent's own policy, for every row a statement touches. With the
-- generic plans of prepared statements and little or no statistics (a new
-- or small database, the bench) PostgreSQL planned it as a hashed subplan
-- that read the whole parent table on every statement; with statistics it
-- is a primary-key probe of the parent per row.
--
-- Each of these tables now carries its parent's practice columns, and its
-- policy compares them like the parent's own policy does. The columns
-- cannot disagree with the parent: a composite foreign key ties them to it
-- (ON UPDATE CASCADE: should the parent's practice change, its rows
-- follow), and they are NOT NULL so the key is always checked. Writers
-- need not name them: a BEFORE INSERT trigger copies them from the parent
-- when they are left out, reading the parent under the parent's own
-- policy, so a practice cannot add a row under a parent it does not see.
--
-- The acting practice and scope are read once per statement: the policies
-- compare with (SELECT gateway_practice()) and (SELECT gateway_wide()),
-- which PostgreSQL evaluates once as an initplan instead of once per row.

-- Referral children: referral_versions, record_contents, deliveries.
ALTER TABLE referrals ADD CONSTRAINT referrals_practices UNIQUE (id, requester_org, receiver_org);

CREATE FUNCTION referral_child_practices() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.requester_org IS NULL OR NEW.receiver_org IS NULL THEN
        SELECT r.requester_org, r.receiver_org INTO NEW.requester_org, NEW.receiver_org
            FROM referrals r WHERE r.id = NEW.referral_id;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'new row violates row-level security policy for table "%": referral % is not visible', TG_TABLE_NAME, NEW.referral_id
                USING ERRCODE = 'insufficient_privilege';
        END IF;
    END IF;
    RETURN NEW;
END;
$$;

ALTER TABLE referral_versions ADD COLUMN requester_org text, ADD COLUMN receiver_org text;
UPDATE referral_versions v SET requester_org = r.requester_org, receiver_org = r.receiver_org
    FROM referrals r WHERE r.id = v.referral_id;
ALTER TABLE referral_versions ALTER COLUMN requester_org SET NOT NULL, ALTER COLUMN receiver_org SET NOT NULL,
    DROP CONSTRAINT referral_versions_referral_id_fkey,
    ADD CONSTRAINT referral_versions_practices FOREIGN KEY (referral_id, requester_org, receiver_org)
        REFERENCES referrals (id, requester_org, receiver_org) ON UPDATE CASCADE;
CREATE TRIGGER referral_versions_practices BEFORE INSERT ON referral_versions
    FOR EACH ROW EXECUTE FUNCTION referral_child_practices();
DROP POLICY referral_versions_practice ON referral_versions;
CREATE POLICY referral_versions_practice ON referral_versions
    USING ((SELECT gateway_wide()) OR requester_org = (SELECT gateway_practice()) OR receiver_org = (SELECT gateway_practice()));

-- record_contents had no foreign key: content whose referral is gone was
-- visible to no practice under 005's policy; it cannot satisfy the new key.
DELETE FROM record_contents c WHERE NOT EXISTS (SELECT 1 FROM referrals r WHERE r.id = c.referral_id);
ALTER TABLE record_contents ADD COLUMN requester_org text, ADD COLUMN receiver_org text;
UPDATE record_contents c SET requester_org = r.requester_org, receiver_org = r.receiver_org
    FROM referrals r WHERE r.id = c.referral_id;
ALTER TABLE record_contents ALTER COLUMN requester_org SET NOT NULL, ALTER COLUMN receiver_org SET NOT NULL,
    ADD CONSTRAINT record_contents_practices FOREIGN KEY (referral_id, requester_org, receiver_org)
        REFERENCES referrals (id, requester_org, receiver_org) ON UPDATE CASCADE;
CREATE TRIGGER record_contents_practices BEFORE INSERT ON record_contents
    FOR EACH ROW EXECUTE FUNCTION referral_child_practices();
DROP POLICY record_contents_practice ON record_contents;
CREATE POLICY record_contents_practice ON record_contents
    USING ((SELECT gateway_wide()) OR requester_org = (SELECT gateway_practice()) OR receiver_org = (SELECT gateway_practice()));

ALTER TABLE deliveries ADD COLUMN requester_org text, ADD COLUMN receiver_org text;
UPDATE deliveries d SET requester_org = r.requester_org, receiver_org = r.receiver_org
    FROM referrals r WHERE r.id = d.referral_id;
ALTER TABLE deliveries ALTER COLUMN requester_org SET NOT NULL, ALTER COLUMN receiver_org SET NOT NULL,
    DROP CONSTRAINT deliveries_referral_id_fkey,
    ADD CONSTRAINT deliveries_practices FOREIGN KEY (referral_id, requester_org, receiver_org)
        REFERENCES referrals (id, requester_org, receiver_org) ON UPDATE CASCADE;
CREATE TRIGGER deliveries_practices BEFORE INSERT ON deliveries
    FOR EACH ROW EXECUTE FUNCTION referral_child_practices();
DROP POLICY deliveries_practice ON deliveries;
CREATE POLICY deliveries_practice ON deliveries
    USING ((SELECT gateway_wide()) OR requester_org = (SELECT gateway_practice()) OR receiver_org = (SELECT gateway_practice()));

-- Receipt keys follow their delivery.
ALTER TABLE deliveries ADD CONSTRAINT deliveries_practices_key UNIQUE (id, requester_org, receiver_org);

CREATE FUNCTION delivery_child_practices() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.requester_org IS NULL OR NEW.receiver_org IS NULL THEN
        SELECT d.requester_org, d.receiver_org INTO NEW.requester_org, NEW.receiver_org
            FROM deliveries d WHERE d.id = NEW.delivery_id;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'new row violates row-level security policy for table "%": delivery % is not visible', TG_TABLE_NAME, NEW.delivery_id
                USING ERRCODE = 'insufficient_privilege';
        END IF;
    END IF;
    RETURN NEW;
END;
$$;

-- A receipt key without its delivery was visible to no practice (017).
DELETE FROM receipt_keys k WHERE NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.id = k.delivery_id);
ALTER TABLE receipt_keys ADD COLUMN requester_org text, ADD COLUMN receiver_org text;
UPDATE receipt_keys k SET requester_org = d.requester_org, receiver_org = d.receiver_org
    FROM deliveries d WHERE d.id = k.delivery_id;
ALTER TABLE receipt_keys ALTER COLUMN requester_org SET NOT NULL, ALTER COLUMN receiver_org SET NOT NULL,
    ADD CONSTRAINT receipt_keys_practices FOREIGN KEY (delivery_id, requester_org, receiver_org)
        REFERENCES deliveries (id, requester_org, receiver_org) ON UPDATE CASCADE;
CREATE TRIGGER receipt_keys_practices BEFORE INSERT ON receipt_keys
    FOR EACH ROW EXECUTE FUNCTION delivery_child_practices();
DROP POLICY receipt_keys_practice ON receipt_keys;
CREATE POLICY receipt_keys_practice ON receipt_keys
    USING ((SELECT gateway_wide()) OR requester_org = (SELECT gateway_practice()) OR receiver_org = (SELECT gateway_practice()));

-- Notices follow their received message's tenant (which changes when the
-- message is matched to its practice: the cascade carries it along).
ALTER TABLE inbound_messages ADD CONSTRAINT inbound_messages_tenant_key UNIQUE (id, tenant);

CREATE FUNCTION inbound_child_tenant() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.tenant IS NULL THEN
        SELECT m.tenant INTO NEW.tenant FROM inbound_messages m WHERE m.id = NEW.inbound_id;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'new row violates row-level security policy for table "%": message % is not visible', TG_TABLE_NAME, NEW.inbound_id
                USING ERRCODE = 'insufficient_privilege';
        END IF;
    END IF;
    RETURN NEW;
END;
$$;

ALTER TABLE inbound_notices ADD COLUMN tenant text;
UPDATE inbound_notices n SET tenant = m.tenant FROM inbound_messages m WHERE m.id = n.inbound_id;
ALTER TABLE inbound_notices ALTER COLUMN tenant SET NOT NULL,
    DROP CONSTRAINT inbound_notices_inbound_id_fkey,
    ADD CONSTRAINT inbound_notices_tenant FOREIGN KEY (inbound_id, tenant)
        REFERENCES inbound_messages (id, tenant) ON UPDATE CASCADE;
CREATE TRIGGER inbound_notices_tenant BEFORE INSERT ON inbound_notices
    FOR EACH ROW EXECUTE FUNCTION inbound_child_tenant();
DROP POLICY inbound_notices_practice ON inbound_notices;
CREATE POLICY inbound_notices_practice ON inbound_notices
    USING ((SELECT gateway_wide()) OR tenant = (SELECT gateway_practice()));
