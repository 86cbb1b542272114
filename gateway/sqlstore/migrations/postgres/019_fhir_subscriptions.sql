-- FHIR rest-hook subscriptions and their delivery state, in a table of
-- their own (they were documents before). What the core matches and
-- schedules on are columns: status, the criteria (the organisation whose
-- Tasks it follows, as owner or requester), the delivery cursor, the
-- backoff and the lease that keeps two senders of one subscription apart.
-- The channel (endpoint, headers with the receiver's credentials, payload)
-- and the client's reason are sealed (AES-256-GCM under a data key, the
-- row id as additional data). Subscriptions kept as documents before this
-- migration are not carried over: their clients create them again.
CREATE TABLE fhir_subscriptions (
    id             text PRIMARY KEY,
    org_id         text NOT NULL,  -- the practice the subscription belongs to
    client_id      text NOT NULL,
    status         text NOT NULL CHECK (status IN ('requested','active','error','off')),
    criteria_param text NOT NULL CHECK (criteria_param IN ('owner','requester')),
    criteria_org   text NOT NULL,
    end_at         timestamptz,
    error          text NOT NULL DEFAULT '',
    version        integer NOT NULL,
    updated_at     timestamptz NOT NULL,
    channel        bytea NOT NULL, -- sealed
    -- delivery state
    start_at       timestamptz NOT NULL,
    cursor_at      timestamptz NOT NULL,
    sent           text NOT NULL DEFAULT '{}', -- referral id -> last version sent near the cursor
    failures       integer NOT NULL DEFAULT 0,
    next_attempt   timestamptz,
    holder         text NOT NULL DEFAULT '',
    held_until     timestamptz,
    state_version  integer NOT NULL
);
CREATE INDEX fhir_subscriptions_org ON fhir_subscriptions (org_id, id);
CREATE INDEX fhir_subscriptions_match ON fhir_subscriptions (criteria_org, criteria_param)
    WHERE status IN ('requested','active');

-- Row-level security (docs/tenancy.md): a subscription belongs to its
-- organisation's practice. The transaction that stores a Task version
-- acts for one of the two practices of the referral and queues the
-- notifications of both, so a practice also reads (never changes) the
-- subscriptions of a practice it shares a referral with; their channel
-- stays sealed and only ids and criteria are read there.
ALTER TABLE fhir_subscriptions ENABLE ROW LEVEL SECURITY;
ALTER TABLE fhir_subscriptions FORCE ROW LEVEL SECURITY;
-- The acting practice and scope are read once per statement (initplans,
-- as in 018); the exception probes referrals_pair, an index on
-- (requester_org, receiver_org), with both columns bound, for each
-- candidate row only (the live subscriptions of the referral's practices).
CREATE POLICY fhir_subscriptions_practice ON fhir_subscriptions
    USING ((SELECT gateway_wide()) OR org_id = (SELECT gateway_practice()));
CREATE POLICY fhir_subscriptions_match ON fhir_subscriptions FOR SELECT
    USING (EXISTS (SELECT 1 FROM referrals r
                   WHERE r.requester_org = (SELECT gateway_practice()) AND r.receiver_org = fhir_subscriptions.org_id)
           OR EXISTS (SELECT 1 FROM referrals r
                   WHERE r.requester_org = fhir_subscriptions.org_id AND r.receiver_org = (SELECT gateway_practice())));
