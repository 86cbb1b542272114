-- The two read exceptions that look into referrals (docs/tenancy.md): a
-- practice reads the BAAs of a practice it has referred to, and the FHIR
-- subscriptions of a practice it shares a referral with.
--
-- Written as EXISTS subqueries in the policies (005, 019), they were
-- planned into every statement that reads those tables, together with the
-- referrals policy nested inside them: planning the subscription match
-- took 0.8 ms against 0.2 ms without the exception, once per pooled
-- connection and statement, and it was the costliest plan of the hot path
-- (docs/BENCHMARKS.md). The same questions now sit behind two small
-- functions. PL/pgSQL plans their queries once per session and keeps the
-- plan, so a statement on baas or fhir_subscriptions plans a function
-- call, and the probe of referrals_pair runs only for the candidate rows
-- the other conditions leave (rows of another practice).
--
-- Neither function is SECURITY DEFINER: it runs as the caller, so its
-- queries see referrals through the referrals policy, and it can only
-- tell a practice what that practice could read itself.

CREATE FUNCTION gateway_refers_to(receiver text) RETURNS boolean LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN EXISTS (SELECT 1 FROM referrals r
                   WHERE r.requester_org = gateway_practice() AND r.receiver_org = receiver);
END;
$$;

CREATE FUNCTION gateway_shares_referral(other text) RETURNS boolean LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN EXISTS (SELECT 1 FROM referrals r
                   WHERE r.requester_org = gateway_practice() AND r.receiver_org = other)
        OR EXISTS (SELECT 1 FROM referrals r
                   WHERE r.requester_org = other AND r.receiver_org = gateway_practice());
END;
$$;

DROP POLICY baas_read ON baas;
CREATE POLICY baas_read ON baas FOR SELECT
    USING ((SELECT gateway_wide()) OR tenant = (SELECT gateway_practice())
           OR (tenant = 'gateway' AND (SELECT gateway_practice()) IS NOT NULL)
           OR gateway_refers_to(tenant));

DROP POLICY fhir_subscriptions_match ON fhir_subscriptions;
CREATE POLICY fhir_subscriptions_match ON fhir_subscriptions FOR SELECT
    USING (gateway_shares_referral(org_id));
