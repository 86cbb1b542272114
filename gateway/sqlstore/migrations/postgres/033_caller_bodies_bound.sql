-- The caller check was decided by the caller's search_path.
--
-- gateway_caller(), gateway_practice() and gateway_wide() (026, 027) are
-- LANGUAGE sql functions with their bodies stored as text. PostgreSQL
-- parses such a body when it inlines it into a statement (every policy
-- does), under the search_path of the session that runs the statement,
-- and the bodies compare with unqualified operators (`IN`, `NULLIF`,
-- `<>`) and cast to an unqualified type (`oid`). A session whose role may
-- create objects in any schema (public, in a database created before
-- PostgreSQL 15 or upgraded from one) put an `=` and a `<>` on text of
-- its own ahead of pg_catalog (SET search_path = mine, pg_catalog) and
-- gateway_caller() and gateway_wide() answered true without the caller
-- token: the application role's password opened every practice's rows,
-- the data keys and River's tables. A SECURITY DEFINER function's SET
-- search_path does not help here: the check runs in the caller's own
-- statements, as the caller.
--
-- The three now have SQL-standard bodies (RETURN ...): PostgreSQL parses
-- them once, here, as the owner, and stores the parse tree with every
-- operator, function and type resolved; it still inlines them into the
-- policies. The operators are also named with pg_catalog, so the owner's
-- own search_path at migration or registration time does not matter
-- either. gateway_caller_rebuild() writes gateway_caller() the same way.
--
-- The two answers of 031 (gateway_referral_subscriptions,
-- gateway_partner_baa) run as the owner; PostgreSQL lets PUBLIC execute
-- every new function, so any role that could reach the schema (a
-- reporting role, or every role when the schema is public) could call
-- them. They check their caller, but only the application role needs
-- them: EXECUTE is taken from PUBLIC and given to the roles that already
-- read the schema's referrals (the app roles `gateway migrate --app-role`
-- created); GrantAppRole grants it to new ones.
CREATE OR REPLACE FUNCTION gateway_caller_rebuild() RETURNS trigger LANGUAGE plpgsql AS $fn$
DECLARE
    s      text := pg_catalog.quote_ident(TG_TABLE_SCHEMA);
    hashes text;
    owner  oid;
BEGIN
    SELECT c.relowner INTO owner FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) TG_RELID;
    EXECUTE pg_catalog.format('SELECT pg_catalog.string_agg(pg_catalog.quote_literal(pg_catalog.encode(token_hash, ''hex'')), '','' ORDER BY token_hash) FROM %s.gateway_callers', s)
        INTO hashes;
    IF hashes IS NULL THEN
        EXECUTE pg_catalog.format($f$CREATE OR REPLACE FUNCTION %s.gateway_caller() RETURNS pg_catalog.bool LANGUAGE sql STABLE RETURN true$f$, s);
    ELSE
        EXECUTE pg_catalog.format($f$CREATE OR REPLACE FUNCTION %1$s.gateway_caller() RETURNS pg_catalog.bool LANGUAGE sql STABLE
            RETURN pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to(COALESCE(pg_catalog.current_setting('gateway.caller', true), ''), 'UTF8')), 'hex')
                       OPERATOR(pg_catalog.=) ANY (ARRAY[%2$s]::pg_catalog.text[])
                OR pg_catalog.pg_has_role(SESSION_USER, %3$s::pg_catalog.oid, 'MEMBER')
        $f$, s, hashes, owner);
    END IF;
    RETURN NULL;
END;
$fn$;
-- Write gateway_caller() again for what is registered now.
UPDATE gateway_callers SET token_hash = token_hash WHERE false;

DO $migration$
DECLARE
    s   text := quote_ident(current_schema());
    app name;
BEGIN
    EXECUTE format($f$
        CREATE OR REPLACE FUNCTION %1$s.gateway_practice() RETURNS pg_catalog.text LANGUAGE sql STABLE
            RETURN CASE WHEN %1$s.gateway_caller()
                        AND pg_catalog.current_setting('gateway.practice', true) OPERATOR(pg_catalog.<>) ''
                        THEN pg_catalog.current_setting('gateway.practice', true) END
        $f$, s);
    EXECUTE format($f$
        CREATE OR REPLACE FUNCTION %1$s.gateway_wide() RETURNS pg_catalog.bool LANGUAGE sql STABLE
            RETURN COALESCE(pg_catalog.current_setting('gateway.scope', true), '') OPERATOR(pg_catalog.<>) ''
                   AND %1$s.gateway_caller()
        $f$, s);

    EXECUTE format('REVOKE ALL ON FUNCTION %1$s.gateway_referral_subscriptions(pg_catalog.text), %1$s.gateway_partner_baa(pg_catalog.text) FROM PUBLIC', s);
    FOR app IN
        SELECT DISTINCT a.grantee::regrole::text
        FROM pg_catalog.pg_class c, pg_catalog.aclexplode(c.relacl) a
        WHERE c.oid = format('%s.referrals', s)::regclass
          AND a.privilege_type = 'SELECT' AND a.grantee <> 0 AND a.grantee <> c.relowner
    LOOP
        EXECUTE format('GRANT EXECUTE ON FUNCTION %1$s.gateway_referral_subscriptions(pg_catalog.text), %1$s.gateway_partner_baa(pg_catalog.text) TO %2$s',
                       s, app);
    END LOOP;
END;
$migration$;
