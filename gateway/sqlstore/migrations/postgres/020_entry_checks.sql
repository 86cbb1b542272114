-- The gateway's own last check of each of an entry's channels (certificate
-- discovery and revocation, the FHIR endpoint's CapabilityStatement, the
-- fax vendor's BAA), as JSON. Kept beside the entry's document so that a
-- check neither bumps the entry's version nor conflicts with an admin's
-- edit. No PHI: endpoints, times, statuses and reasons.
ALTER TABLE directory_entries ADD COLUMN checks jsonb;
