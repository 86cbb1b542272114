-- The practice columns of 018 are checked by triggers instead of composite
-- foreign keys (docs/tenancy.md, docs/BENCHMARKS.md).
--
-- Before a table has statistics, PostgreSQL planned the composite key's
-- check (id, requester_org, receiver_org) on an index of receiver_org,
-- filtering by id: each insert of a version, record or delivery read every
-- referral to the receiver, for as long as the connection kept the plan.
-- The single-column keys come back (their check uses the primary key),
-- and triggers keep the copies true:
--   - on insert, a column left out is filled from the parent and a column
--     given must equal the parent's (the parent read under its own policy,
--     so a row cannot be added under a parent the writer does not see);
--   - a child's practice columns or parent id cannot be changed;
--   - a referral's practices and a delivery's referral cannot be changed
--     (nothing changes them; the copies would otherwise go stale).
-- Notices keep their composite key to inbound_messages (id, tenant): a
-- message's tenant changes when it is matched, and the key's cascade
-- carries the change to its notices.

CREATE OR REPLACE FUNCTION referral_child_practices() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    req  text;
    recv text;
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF NEW.referral_id IS DISTINCT FROM OLD.referral_id OR NEW.requester_org IS DISTINCT FROM OLD.requester_org
           OR NEW.receiver_org IS DISTINCT FROM OLD.receiver_org THEN
            RAISE EXCEPTION '%: a row''s referral and practices cannot change', TG_TABLE_NAME
                USING ERRCODE = 'insufficient_privilege';
        END IF;
        RETURN NEW;
    END IF;
    SELECT r.requester_org, r.receiver_org INTO req, recv FROM referrals r WHERE r.id = NEW.referral_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'new row violates row-level security policy for table "%": referral % is not visible', TG_TABLE_NAME, NEW.referral_id
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF (NEW.requester_org IS NOT NULL AND NEW.requester_org <> req) OR (NEW.receiver_org IS NOT NULL AND NEW.receiver_org <> recv) THEN
        RAISE EXCEPTION '%: practices % → % disagree with referral %', TG_TABLE_NAME, NEW.requester_org, NEW.receiver_org, NEW.referral_id
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    NEW.requester_org := req;
    NEW.receiver_org := recv;
    RETURN NEW;
END;
$$;

CREATE OR REPLACE FUNCTION delivery_child_practices() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    req  text;
    recv text;
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF NEW.delivery_id IS DISTINCT FROM OLD.delivery_id OR NEW.requester_org IS DISTINCT FROM OLD.requester_org
           OR NEW.receiver_org IS DISTINCT FROM OLD.receiver_org THEN
            RAISE EXCEPTION '%: a row''s delivery and practices cannot change', TG_TABLE_NAME
                USING ERRCODE = 'insufficient_privilege';
        END IF;
        RETURN NEW;
    END IF;
    SELECT d.requester_org, d.receiver_org INTO req, recv FROM deliveries d WHERE d.id = NEW.delivery_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'new row violates row-level security policy for table "%": delivery % is not visible', TG_TABLE_NAME, NEW.delivery_id
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF (NEW.requester_org IS NOT NULL AND NEW.requester_org <> req) OR (NEW.receiver_org IS NOT NULL AND NEW.receiver_org <> recv) THEN
        RAISE EXCEPTION '%: practices % → % disagree with delivery %', TG_TABLE_NAME, NEW.requester_org, NEW.receiver_org, NEW.delivery_id
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    NEW.requester_org := req;
    NEW.receiver_org := recv;
    RETURN NEW;
END;
$$;

CREATE FUNCTION parent_practices_fixed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '%: the practices of % cannot change (rows that hang off it carry them)', TG_TABLE_NAME, OLD.id
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

-- referral_versions, record_contents, deliveries, receipt_keys: back to
-- keys on the parent's id; the triggers fire on insert and on an update
-- of the columns they guard.
DROP TRIGGER referral_versions_practices ON referral_versions;
DROP TRIGGER record_contents_practices ON record_contents;
DROP TRIGGER deliveries_practices ON deliveries;
DROP TRIGGER receipt_keys_practices ON receipt_keys;
ALTER TABLE referral_versions DROP CONSTRAINT referral_versions_practices,
    ADD CONSTRAINT referral_versions_referral_id_fkey FOREIGN KEY (referral_id) REFERENCES referrals (id);
ALTER TABLE record_contents DROP CONSTRAINT record_contents_practices,
    ADD CONSTRAINT record_contents_referral_id_fkey FOREIGN KEY (referral_id) REFERENCES referrals (id);
ALTER TABLE receipt_keys DROP CONSTRAINT receipt_keys_practices,
    ADD CONSTRAINT receipt_keys_delivery_id_fkey FOREIGN KEY (delivery_id) REFERENCES deliveries (id);
ALTER TABLE deliveries DROP CONSTRAINT deliveries_practices,
    DROP CONSTRAINT deliveries_practices_key,
    ADD CONSTRAINT deliveries_referral_id_fkey FOREIGN KEY (referral_id) REFERENCES referrals (id);
ALTER TABLE referrals DROP CONSTRAINT referrals_practices;

CREATE TRIGGER referral_versions_practices BEFORE INSERT OR UPDATE OF referral_id, requester_org, receiver_org
    ON referral_versions FOR EACH ROW EXECUTE FUNCTION referral_child_practices();
CREATE TRIGGER record_contents_practices BEFORE INSERT OR UPDATE OF referral_id, requester_org, receiver_org
    ON record_contents FOR EACH ROW EXECUTE FUNCTION referral_child_practices();
CREATE TRIGGER deliveries_practices BEFORE INSERT OR UPDATE OF referral_id, requester_org, receiver_org
    ON deliveries FOR EACH ROW EXECUTE FUNCTION referral_child_practices();
CREATE TRIGGER receipt_keys_practices BEFORE INSERT OR UPDATE OF delivery_id, requester_org, receiver_org
    ON receipt_keys FOR EACH ROW EXECUTE FUNCTION delivery_child_practices();
CREATE TRIGGER referrals_practices_fixed BEFORE UPDATE OF requester_org, receiver_org ON referrals
    FOR EACH ROW WHEN (OLD.requester_org IS DISTINCT FROM NEW.requester_org OR OLD.receiver_org IS DISTINCT FROM NEW.receiver_org)
    EXECUTE FUNCTION parent_practices_fixed();
