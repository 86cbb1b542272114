-- Row-level security read the acting practice and the gateway-wide path
-- from two settings that any session may set (set_config): whoever held
-- the application role's password could name any practice, or a
-- gateway-wide path, and read and change every practice's rows, or
-- append forged entries to any practice's audit trail. The settings are
-- now believed only from the gateway itself: a session that proves it
-- holds the gateway's keys, or the schema's owner (who migrates it).
--
-- The proof is the setting gateway.caller, a token the gateway derives
-- from its blind-index key (which never enters the database) and sends
-- when it connects, in the startup packet, never in a statement; the
-- database keeps only SHA-256 of each accepted token, in gateway_callers,
-- which the application role cannot read or change (GrantAppRole grants
-- nothing on it). `gateway migrate --app-role` registers the token of the
-- keys it runs with. While no token is registered, every session is
-- believed, as before.
--
-- gateway_caller() runs as the owner, to read gateway_callers. Its body,
-- and those of gateway_practice() and gateway_wide(), name the schema
-- explicitly: a caller's search_path (a temporary table of the same name
-- comes first in it) must not choose what they read or call.
CREATE TABLE gateway_callers (
    token_hash bytea PRIMARY KEY,
    added_at   timestamptz NOT NULL DEFAULT now()
);

DO $migration$
DECLARE
    s text := quote_ident(current_schema());
BEGIN
    EXECUTE format($f$
        CREATE FUNCTION gateway_caller() RETURNS boolean LANGUAGE sql STABLE SECURITY DEFINER AS $$
            SELECT EXISTS (SELECT 1 FROM %1$s.gateway_callers
                           WHERE token_hash = pg_catalog.sha256(pg_catalog.convert_to(coalesce(pg_catalog.current_setting('gateway.caller', true), ''), 'UTF8')))
                OR NOT EXISTS (SELECT 1 FROM %1$s.gateway_callers)
                OR pg_catalog.pg_has_role(session_user, (SELECT c.relowner FROM pg_catalog.pg_class c
                                                         WHERE c.oid = '%1$s.gateway_callers'::regclass), 'MEMBER')
        $$ $f$, s);
    EXECUTE format($f$
        CREATE OR REPLACE FUNCTION gateway_practice() RETURNS text LANGUAGE sql STABLE AS $$
            SELECT nullif(pg_catalog.current_setting('gateway.practice', true), '') WHERE %1$s.gateway_caller()
        $$ $f$, s);
    EXECUTE format($f$
        CREATE OR REPLACE FUNCTION gateway_wide() RETURNS boolean LANGUAGE sql STABLE AS $$
            SELECT coalesce(pg_catalog.current_setting('gateway.scope', true), '') <> '' AND %1$s.gateway_caller()
        $$ $f$, s);
END;
$migration$;

-- The tables no policy covered hold the whole gateway's records: the
-- wrapped data keys (deleting them destroys every sealed value) and the
-- edges' documents (console accounts and sessions, SMART clients). Only
-- the gateway reads and writes them.
ALTER TABLE data_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE data_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY data_keys_gateway ON data_keys USING ((SELECT gateway_caller()));
ALTER TABLE documents ENABLE ROW LEVEL SECURITY;
ALTER TABLE documents FORCE ROW LEVEL SECURITY;
CREATE POLICY documents_gateway ON documents USING ((SELECT gateway_caller()));
