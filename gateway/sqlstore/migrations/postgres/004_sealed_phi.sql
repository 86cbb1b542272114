-- PHI sealed at rest (envelope encryption, see gateway.Sealer).
--
-- Data keys are random AES-256 keys, stored here wrapped by a
-- key-encryption key (KEK) that never enters the database; kek_id names
-- the KEK (an HMAC of a label under it) so rotation can find what to
-- rewrap and `gateway keys status` can count.
CREATE TABLE data_keys (
    id         text PRIMARY KEY,
    kek_id     text NOT NULL,
    wrapped    bytea NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE INDEX data_keys_kek ON data_keys (kek_id);

-- Blind indexes (HMAC-SHA-256 under the index key) stand in for the
-- patient's identifier and birth date: patient_id holds the index of the
-- identifier's value, patient_identifier_idx that of system and value.
-- The documents themselves become sealed bytes in migration 014.
ALTER TABLE referrals ADD COLUMN patient_identifier_idx text;
ALTER TABLE referrals ADD COLUMN birth_date_idx text;
CREATE INDEX referrals_patient_identifier ON referrals (patient_identifier_idx);
CREATE INDEX referrals_birth_date ON referrals (birth_date_idx);
