-- A practice read another practice's rows whole where the core needs only
-- an answer (docs/tenancy.md):
--
-- - fhir_subscriptions_match (019, 022) let a practice that shares any
--   referral with another SELECT all of that practice's subscriptions:
--   client, criteria, status, error, delivery cursor and the sealed
--   channel, which the gateway's own code unseals in whatever transaction
--   reads it. The transaction that stores a referral version needs the ids
--   of the live subscriptions that version notifies, on either side.
-- - baas_read (005, 022) let a practice that has referred to another read
--   all of that practice's BAAs. The send gate needs, for one party of the
--   receiver's chain, the BAA's id, state and end date.
--
-- Each answer now comes from a SECURITY DEFINER function that checks its
-- caller and returns nothing more:
--
-- - gateway_referral_subscriptions(referral) returns the ids of the live
--   subscriptions matching that referral, read from its stored row (its
--   practices and receiver never change, migration 021), when the caller
--   acts for the referral's requester or receiver (or on a gateway-wide
--   path, which sees every subscription anyway);
-- - gateway_partner_baa(party) returns {id, partyId, state, end} of the
--   party's BAA when it belongs to a practice the caller has referred to.
--
-- The caller is whom gateway_practice() and gateway_wide() name: they read
-- the session's settings and its caller token (026, 027), which a SECURITY
-- DEFINER function does not change (session_user and the settings stay the
-- caller's), so a session without the gateway's token gets no answer. The
-- functions run as the schema's owner with a fixed search_path and name
-- every object with its schema: a caller's temporary table or function of
-- the same name is never what they read. Their queries use generic plans
-- (plan_cache_mode): a pooled connection plans each once, where the
-- default made five custom plans first on every connection
-- (docs/BENCHMARKS.md, "Partner answers").
--
-- FORCE ROW LEVEL SECURITY binds the owner too, inside its functions, so
-- the owner gets the partner rule as a policy of its own (TO the owner):
-- inside a function it defines, called from another role's session
-- (session_user <> current_user), it reads every row, and the function's
-- own WHERE is the rule; in its own sessions (it migrates, or a gateway
-- runs as it) the partner rule of 022 stays. A superuser owner is bound by
-- no policy; the functions' checks are written for that case. The
-- application role gets neither policy: it reads its own rows, the
-- vendors' BAAs, and the two answers.
DO $migration$
DECLARE
    s     text := quote_ident(current_schema());
    owner text := quote_ident(current_user);
BEGIN
    -- 022's probes named referrals and gateway_practice() through the
    -- caller's search_path; they are called from the owner's policies now.
    EXECUTE format($f$
        CREATE OR REPLACE FUNCTION %1$s.gateway_refers_to(receiver text) RETURNS boolean LANGUAGE plpgsql STABLE AS $$
        BEGIN
            RETURN EXISTS (SELECT 1 FROM %1$s.referrals r
                           WHERE r.requester_org = %1$s.gateway_practice() AND r.receiver_org = receiver);
        END;
        $$ $f$, s);
    EXECUTE format($f$
        CREATE OR REPLACE FUNCTION %1$s.gateway_shares_referral(other text) RETURNS boolean LANGUAGE plpgsql STABLE AS $$
        BEGIN
            RETURN EXISTS (SELECT 1 FROM %1$s.referrals r
                           WHERE r.requester_org = %1$s.gateway_practice() AND r.receiver_org = other)
                OR EXISTS (SELECT 1 FROM %1$s.referrals r
                           WHERE r.requester_org = other AND r.receiver_org = %1$s.gateway_practice());
        END;
        $$ $f$, s);

    -- The subscriptions a stored version of referral notifies (the match
    -- sqlstore's MatchSubscriptions ran as a plain query before).
    EXECUTE format($f$
        CREATE FUNCTION %1$s.gateway_referral_subscriptions(referral text) RETURNS SETOF text
            LANGUAGE plpgsql STABLE SECURITY DEFINER
            SET search_path = %1$s, pg_temp SET plan_cache_mode = force_generic_plan AS $$
        DECLARE
            me       text := %1$s.gateway_practice();
            req      text;
            recv     text;
            recv_org text;
        BEGIN
            SELECT r.requester_org, r.receiver_id, r.receiver_org INTO req, recv, recv_org
                FROM %1$s.referrals r WHERE r.id = referral;
            IF NOT FOUND OR NOT (me IS NOT NULL AND me IN (req, recv_org) OR %1$s.gateway_wide()) THEN
                RETURN;
            END IF;
            RETURN QUERY SELECT sub.id FROM %1$s.fhir_subscriptions sub
                WHERE sub.status IN ('requested', 'active') AND sub.org_id = sub.criteria_org
                  AND ((sub.criteria_param = 'owner' AND sub.criteria_org IN (recv_org, recv))
                       OR (sub.criteria_param = 'requester' AND sub.criteria_org = req))
                ORDER BY sub.id;
        END;
        $$ $f$, s);

    -- The BAA of party as the send gate of a referral to its practice
    -- reads it; NULL unless party's practice is one the caller has
    -- referred to (its own and the vendors' BAAs it reads from the table).
    -- The fields come from the stored document, as the gateway wrote them.
    EXECUTE format($f$
        CREATE FUNCTION %1$s.gateway_partner_baa(party text) RETURNS jsonb
            LANGUAGE plpgsql STABLE SECURITY DEFINER
            SET search_path = %1$s, pg_temp SET plan_cache_mode = force_generic_plan AS $$
        DECLARE
            me     text := %1$s.gateway_practice();
            answer jsonb;
        BEGIN
            IF me IS NULL THEN
                RETURN NULL;
            END IF;
            SELECT pg_catalog.jsonb_build_object('id', b.doc->'id', 'partyId', b.doc->'partyId',
                                                 'state', b.doc->'state', 'end', b.doc->'end')
                INTO answer
                FROM %1$s.baas b
                WHERE b.party_id = party AND b.tenant <> me AND b.tenant <> 'gateway'
                  AND EXISTS (SELECT 1 FROM %1$s.referrals r WHERE r.requester_org = me AND r.receiver_org = b.tenant);
            RETURN answer;
        END;
        $$ $f$, s);

    -- The owner's policies: see above.
    EXECUTE format($f$
        CREATE POLICY fhir_subscriptions_owner_match ON %1$s.fhir_subscriptions FOR SELECT TO %2$s
            USING (session_user <> current_user OR %1$s.gateway_shares_referral(org_id))
        $f$, s, owner);
    EXECUTE format($f$
        CREATE POLICY baas_owner_partner ON %1$s.baas FOR SELECT TO %2$s
            USING (session_user <> current_user OR %1$s.gateway_refers_to(tenant))
        $f$, s, owner);
END;
$migration$;

DROP POLICY fhir_subscriptions_match ON fhir_subscriptions;
ALTER POLICY baas_read ON baas
    USING ((SELECT gateway_wide()) OR tenant = (SELECT gateway_practice())
           OR (tenant = 'gateway' AND (SELECT gateway_practice()) IS NOT NULL));
