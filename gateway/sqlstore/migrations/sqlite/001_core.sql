-- The referral core, as in migrations/postgres/001_core.sql; times are
-- fixed-width UTC text, JSON is text, content is a BLOB.

CREATE TABLE directory_entries (
    id             TEXT PRIMARY KEY,
    kind           TEXT NOT NULL,
    name           TEXT NOT NULL,
    npi            TEXT,
    parent_id      TEXT,
    direct_address TEXT,
    version        INTEGER NOT NULL,
    updated_at     TEXT NOT NULL,
    doc            TEXT NOT NULL
);
CREATE INDEX directory_entries_parent ON directory_entries (parent_id);
CREATE INDEX directory_entries_npi ON directory_entries (npi);

CREATE TABLE baas (
    party_id   TEXT PRIMARY KEY,
    id         TEXT NOT NULL UNIQUE,
    state      TEXT NOT NULL,
    end_date   TEXT,
    version    INTEGER NOT NULL,
    updated_at TEXT NOT NULL,
    doc        TEXT NOT NULL
);

CREATE TABLE consents (
    id         TEXT PRIMARY KEY,
    tenant     TEXT NOT NULL,
    patient_id TEXT NOT NULL,
    kind       TEXT NOT NULL,
    doc        TEXT NOT NULL
);
CREATE INDEX consents_patient ON consents (tenant, patient_id);

CREATE TABLE referrals (
    id              TEXT PRIMARY KEY,
    requester_org   TEXT NOT NULL,
    identifier      TEXT,
    receiver_id     TEXT NOT NULL,
    receiver_org    TEXT NOT NULL,
    patient_id      TEXT NOT NULL,
    status          TEXT NOT NULL,
    business_status TEXT,
    version         INTEGER NOT NULL,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    doc             TEXT NOT NULL
);
CREATE UNIQUE INDEX referrals_identifier ON referrals (requester_org, identifier) WHERE identifier IS NOT NULL;
CREATE INDEX referrals_requester ON referrals (requester_org, id);
CREATE INDEX referrals_receiver ON referrals (receiver_org, id);
CREATE INDEX referrals_updated ON referrals (updated_at);

CREATE TABLE referral_versions (
    referral_id TEXT NOT NULL REFERENCES referrals (id),
    version     INTEGER NOT NULL,
    updated_at  TEXT NOT NULL,
    doc         TEXT NOT NULL,
    PRIMARY KEY (referral_id, version)
);

CREATE TABLE record_contents (
    referral_id  TEXT NOT NULL,
    record_id    TEXT NOT NULL,
    content_type TEXT NOT NULL,
    sha256       TEXT NOT NULL,
    size         INTEGER NOT NULL,
    sealed       BLOB NOT NULL,
    PRIMARY KEY (referral_id, record_id)
);

CREATE TABLE deliveries (
    id          TEXT PRIMARY KEY,
    referral_id TEXT NOT NULL REFERENCES referrals (id),
    channel     TEXT NOT NULL,
    state       TEXT NOT NULL,
    remote_id   TEXT,
    updated_at  TEXT NOT NULL,
    deadline    TEXT,
    doc         TEXT NOT NULL
);
CREATE INDEX deliveries_referral ON deliveries (referral_id);
CREATE INDEX deliveries_remote ON deliveries (channel, remote_id);

CREATE TABLE audit_log (
    tenant      TEXT NOT NULL,
    seq         INTEGER NOT NULL,
    at          TEXT NOT NULL,
    actor       TEXT NOT NULL,
    referral_id TEXT,
    action      TEXT NOT NULL,
    outcome     TEXT NOT NULL,
    detail      TEXT NOT NULL,
    prev_hash   TEXT NOT NULL,
    hash        TEXT NOT NULL,
    PRIMARY KEY (tenant, seq)
);
CREATE INDEX audit_log_referral ON audit_log (referral_id);

CREATE TABLE audit_heads (
    tenant TEXT PRIMARY KEY,
    seq    INTEGER NOT NULL,
    hash   TEXT NOT NULL
);

CREATE TABLE audit_checkpoints (
    tenant TEXT NOT NULL,
    seq    INTEGER NOT NULL,
    hash   TEXT NOT NULL,
    at     TEXT NOT NULL,
    mac    TEXT NOT NULL,
    PRIMARY KEY (tenant, seq)
);

-- The trail is append-only.
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: UPDATE refused'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: DELETE refused'); END;
