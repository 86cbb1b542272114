-- FHIR lookups: a record is found by its id alone (DocumentReference and
-- Binary reads), and a patient search matches the identifier's system as
-- well as its value (R4 token search: sysA|MRN must not find sysB's MRN).
CREATE INDEX record_contents_record ON record_contents (record_id);

ALTER TABLE referrals ADD COLUMN patient_system text NOT NULL DEFAULT '';
UPDATE referrals SET patient_system = COALESCE(doc->'patient'->>'system', '');
CREATE INDEX referrals_patient ON referrals (patient_id, patient_system);
