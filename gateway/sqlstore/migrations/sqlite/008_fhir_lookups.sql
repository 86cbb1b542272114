-- As in migrations/postgres/008_fhir_lookups.sql.
CREATE INDEX record_contents_record ON record_contents (record_id);

ALTER TABLE referrals ADD COLUMN patient_system TEXT NOT NULL DEFAULT '';
UPDATE referrals SET patient_system = COALESCE(json_extract(doc, '$.patient.system'), '');
CREATE INDEX referrals_patient ON referrals (patient_id, patient_system);
