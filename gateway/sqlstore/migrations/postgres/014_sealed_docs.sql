-- The documents that hold PHI become sealed bytes: AES-256-GCM under a
-- data key (migration 004), the row's id as additional data. Rows written
-- before keep their JSON text, read as they are until rewritten. This runs
-- after the migrations that backfill columns from the JSON.
ALTER TABLE referrals ALTER COLUMN doc TYPE bytea USING convert_to(doc::text, 'UTF8');
ALTER TABLE referral_versions ALTER COLUMN doc TYPE bytea USING convert_to(doc::text, 'UTF8');
ALTER TABLE consents ALTER COLUMN doc TYPE bytea USING convert_to(doc::text, 'UTF8');
ALTER TABLE deliveries ALTER COLUMN doc TYPE bytea USING convert_to(doc::text, 'UTF8');
ALTER TABLE documents ALTER COLUMN doc TYPE bytea USING convert_to(doc, 'UTF8');
