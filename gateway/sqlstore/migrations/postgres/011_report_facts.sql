-- Report figures of each referral (gateway.Referral.ReportFacts), kept in
-- clear columns beside the referral so practice reports aggregate them
-- with indexed queries. None of them is PHI.
ALTER TABLE referrals
    ADD COLUMN intra         boolean NOT NULL DEFAULT false,
    ADD COLUMN part2         boolean NOT NULL DEFAULT false,
    ADD COLUMN delivered_via text,
    ADD COLUMN received_at   timestamptz,
    ADD COLUMN answered_at   timestamptz,
    ADD COLUMN closed_at     timestamptz,
    ADD COLUMN declined      boolean NOT NULL DEFAULT false,
    ADD COLUMN rerouted      boolean NOT NULL DEFAULT false,
    ADD COLUMN info_requests integer NOT NULL DEFAULT 0,
    ADD COLUMN refusals      text; -- comma-separated gate names, NULL when never refused

CREATE INDEX referrals_requester_created ON referrals (requester_org, created_at);
CREATE INDEX referrals_receiver_created ON referrals (receiver_org, created_at);
-- The remediation list: open referrals by age.
CREATE INDEX referrals_open_created ON referrals (created_at)
    WHERE status IN ('draft', 'requested', 'received', 'accepted', 'on-hold', 'in-progress');
-- Refusals are rare: the report reads them through this small index.
CREATE INDEX referrals_refused ON referrals (requester_org, created_at) WHERE refusals IS NOT NULL;
