-- Row-level security: the database, not only the Go code, keeps each
-- practice to its own rows (docs/tenancy.md).
--
-- Every store transaction sets two transaction-local settings when it
-- begins (set_config(..., true), so they end with the transaction and a
-- pooled connection never carries them into the next one):
--   gateway.practice  the acting practice (a root organisation's id), or ''
--   gateway.scope     the name of a gateway-wide path, or ''
-- With neither set, the policies below show no practice rows at all.
-- FORCE makes them hold for the tables' owner too; only a superuser or a
-- role with BYPASSRLS escapes them, so the gateway runs as a role that is
-- neither (gateway migrate --app-role).

CREATE FUNCTION gateway_practice() RETURNS text LANGUAGE sql STABLE
    AS $$ SELECT nullif(current_setting('gateway.practice', true), '') $$;
CREATE FUNCTION gateway_wide() RETURNS boolean LANGUAGE sql STABLE
    AS $$ SELECT coalesce(current_setting('gateway.scope', true), '') <> '' $$;

-- A referral belongs to both practices it connects.
ALTER TABLE referrals ENABLE ROW LEVEL SECURITY;
ALTER TABLE referrals FORCE ROW LEVEL SECURITY;
CREATE POLICY referrals_practice ON referrals
    USING (gateway_wide() OR requester_org = gateway_practice() OR receiver_org = gateway_practice());
-- For the BAA policy below: has the acting practice referred to a tenant?
CREATE INDEX referrals_pair ON referrals (requester_org, receiver_org);

-- Rows hanging off a referral are visible exactly when the referral is
-- (the subquery is itself filtered by the referrals policy).
ALTER TABLE referral_versions ENABLE ROW LEVEL SECURITY;
ALTER TABLE referral_versions FORCE ROW LEVEL SECURITY;
CREATE POLICY referral_versions_practice ON referral_versions
    USING (EXISTS (SELECT 1 FROM referrals r WHERE r.id = referral_id));

ALTER TABLE record_contents ENABLE ROW LEVEL SECURITY;
ALTER TABLE record_contents FORCE ROW LEVEL SECURITY;
CREATE POLICY record_contents_practice ON record_contents
    USING (EXISTS (SELECT 1 FROM referrals r WHERE r.id = referral_id));

ALTER TABLE deliveries ENABLE ROW LEVEL SECURITY;
ALTER TABLE deliveries FORCE ROW LEVEL SECURITY;
CREATE POLICY deliveries_practice ON deliveries
    USING (EXISTS (SELECT 1 FROM referrals r WHERE r.id = referral_id));

ALTER TABLE consents ENABLE ROW LEVEL SECURITY;
ALTER TABLE consents FORCE ROW LEVEL SECURITY;
CREATE POLICY consents_practice ON consents
    USING (gateway_wide() OR tenant = gateway_practice());

-- Audit rows belong to their tenant. Appending runs on the named path
-- "audit-append" (an event about a shared referral enters both chains).
ALTER TABLE audit_log ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_log FORCE ROW LEVEL SECURITY;
CREATE POLICY audit_log_practice ON audit_log
    USING (gateway_wide() OR tenant = gateway_practice());

ALTER TABLE audit_heads ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_heads FORCE ROW LEVEL SECURITY;
CREATE POLICY audit_heads_practice ON audit_heads
    USING (gateway_wide() OR tenant = gateway_practice());

ALTER TABLE audit_checkpoints ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_checkpoints FORCE ROW LEVEL SECURITY;
CREATE POLICY audit_checkpoints_practice ON audit_checkpoints
    USING (gateway_wide() OR tenant = gateway_practice());

-- The directory is the shared address book: every acting practice reads
-- it (a referral names a receiver of another practice), and only the
-- gateway-wide path "directory" changes it.
ALTER TABLE directory_entries ENABLE ROW LEVEL SECURITY;
ALTER TABLE directory_entries FORCE ROW LEVEL SECURITY;
CREATE POLICY directory_read ON directory_entries FOR SELECT
    USING (gateway_wide() OR gateway_practice() IS NOT NULL);
CREATE POLICY directory_insert ON directory_entries FOR INSERT WITH CHECK (gateway_wide());
CREATE POLICY directory_update ON directory_entries FOR UPDATE USING (gateway_wide()) WITH CHECK (gateway_wide());
CREATE POLICY directory_delete ON directory_entries FOR DELETE USING (gateway_wide());

-- A BAA belongs to the practice at the root of its party's directory
-- chain, or to the gateway when the party is a vendor (fax, HISP), whose
-- BAA gates every practice's sends. The database derives it, so the Go
-- code cannot get it wrong.
ALTER TABLE baas ADD COLUMN tenant text;
CREATE FUNCTION baas_set_tenant() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    cur  text := NEW.party_id;
    nxt  text;
    k    text;
    hops integer := 0;
BEGIN
    SELECT kind INTO k FROM directory_entries WHERE id = NEW.party_id;
    IF k = 'vendor' THEN
        NEW.tenant := 'gateway';
        RETURN NEW;
    END IF;
    LOOP
        SELECT parent_id INTO nxt FROM directory_entries WHERE id = cur;
        EXIT WHEN nxt IS NULL OR hops >= 16 OR NOT EXISTS (SELECT 1 FROM directory_entries WHERE id = nxt);
        cur := nxt;
        hops := hops + 1;
    END LOOP;
    NEW.tenant := cur;
    RETURN NEW;
END;
$$;
CREATE TRIGGER baas_tenant BEFORE INSERT OR UPDATE ON baas
    FOR EACH ROW EXECUTE FUNCTION baas_set_tenant();
UPDATE baas SET tenant = NULL;
ALTER TABLE baas ALTER COLUMN tenant SET NOT NULL;
CREATE INDEX baas_tenant_idx ON baas (tenant);

-- A practice reads its own BAAs, the vendors' (tenant 'gateway'), and
-- those of a practice it has referred to (its send gate checks the
-- receiver's BAA); it changes only its own.
ALTER TABLE baas ENABLE ROW LEVEL SECURITY;
ALTER TABLE baas FORCE ROW LEVEL SECURITY;
CREATE POLICY baas_read ON baas FOR SELECT
    USING (gateway_wide() OR tenant = gateway_practice() OR (tenant = 'gateway' AND gateway_practice() IS NOT NULL)
           OR EXISTS (SELECT 1 FROM referrals r WHERE r.requester_org = gateway_practice() AND r.receiver_org = baas.tenant));
CREATE POLICY baas_insert ON baas FOR INSERT WITH CHECK (gateway_wide() OR tenant = gateway_practice());
CREATE POLICY baas_update ON baas FOR UPDATE
    USING (gateway_wide() OR tenant = gateway_practice()) WITH CHECK (gateway_wide() OR tenant = gateway_practice());
CREATE POLICY baas_delete ON baas FOR DELETE USING (gateway_wide() OR tenant = gateway_practice());
