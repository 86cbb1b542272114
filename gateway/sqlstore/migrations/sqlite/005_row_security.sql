-- SQLite has no row-level security: on the embedded store the core's own
-- checks keep practices apart (docs/tenancy.md). This migration only adds
-- the index PostgreSQL's BAA policy uses, so both schemas stay alike.
CREATE INDEX referrals_pair ON referrals (requester_org, receiver_org);
