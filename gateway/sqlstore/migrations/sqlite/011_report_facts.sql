-- Report figures of each referral (gateway.Referral.ReportFacts), kept in
-- clear columns beside the referral so practice reports aggregate them
-- with indexed queries. None of them is PHI.
ALTER TABLE referrals ADD COLUMN intra INTEGER NOT NULL DEFAULT 0;
ALTER TABLE referrals ADD COLUMN part2 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE referrals ADD COLUMN delivered_via TEXT;
ALTER TABLE referrals ADD COLUMN received_at TEXT;
ALTER TABLE referrals ADD COLUMN answered_at TEXT;
ALTER TABLE referrals ADD COLUMN closed_at TEXT;
ALTER TABLE referrals ADD COLUMN declined INTEGER NOT NULL DEFAULT 0;
ALTER TABLE referrals ADD COLUMN rerouted INTEGER NOT NULL DEFAULT 0;
ALTER TABLE referrals ADD COLUMN info_requests INTEGER NOT NULL DEFAULT 0;
ALTER TABLE referrals ADD COLUMN refusals TEXT; -- comma-separated gate names, NULL when never refused

CREATE INDEX referrals_requester_created ON referrals (requester_org, created_at);
CREATE INDEX referrals_receiver_created ON referrals (receiver_org, created_at);
CREATE INDEX referrals_open_created ON referrals (created_at)
    WHERE status IN ('draft', 'requested', 'received', 'accepted', 'on-hold', 'in-progress');
-- Refusals are rare: the report reads them through this small index.
CREATE INDEX referrals_refused ON referrals (requester_org, created_at) WHERE refusals IS NOT NULL;
