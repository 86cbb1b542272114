-- PHI sealed at rest, as in migrations/postgres/004_sealed_phi.sql. The doc
-- columns keep their TEXT declaration: SQLite stores the sealed bytes as
-- BLOBs in them, and rows written before stay JSON text.
CREATE TABLE data_keys (
    id         TEXT PRIMARY KEY,
    kek_id     TEXT NOT NULL,
    wrapped    BLOB NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX data_keys_kek ON data_keys (kek_id);

ALTER TABLE referrals ADD COLUMN patient_identifier_idx TEXT;
ALTER TABLE referrals ADD COLUMN birth_date_idx TEXT;
CREATE INDEX referrals_patient_identifier ON referrals (patient_identifier_idx);
CREATE INDEX referrals_birth_date ON referrals (birth_date_idx);
