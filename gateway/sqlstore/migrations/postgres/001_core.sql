-- The referral core: directory, BAAs, consents, referrals with their
-- versions, sealed record content, deliveries, and the audit trail.
-- Each table keeps the columns the gateway filters on, plus the whole
-- record as JSON (doc) so the Go type is the single source of its shape.

CREATE TABLE directory_entries (
    id             text PRIMARY KEY,
    kind           text NOT NULL,
    name           text NOT NULL,
    npi            text,
    parent_id      text,
    direct_address text,
    version        integer NOT NULL,
    updated_at     timestamptz NOT NULL,
    doc            jsonb NOT NULL
);
CREATE INDEX directory_entries_parent ON directory_entries (parent_id);
CREATE INDEX directory_entries_npi ON directory_entries (npi);

-- One current Business Associate Agreement per counterparty.
CREATE TABLE baas (
    party_id   text PRIMARY KEY,
    id         text NOT NULL UNIQUE,
    state      text NOT NULL,
    end_date   timestamptz,
    version    integer NOT NULL,
    updated_at timestamptz NOT NULL,
    doc        jsonb NOT NULL
);

-- Authorizations and 42 CFR Part 2 consents on file.
CREATE TABLE consents (
    id         text PRIMARY KEY,
    tenant     text NOT NULL,
    patient_id text NOT NULL,
    kind       text NOT NULL,
    doc        jsonb NOT NULL
);
CREATE INDEX consents_patient ON consents (tenant, patient_id);

CREATE TABLE referrals (
    id              text PRIMARY KEY,
    requester_org   text NOT NULL,
    identifier      text,
    receiver_id     text NOT NULL,
    receiver_org    text NOT NULL,
    patient_id      text NOT NULL,
    status          text NOT NULL,
    business_status text,
    version         integer NOT NULL,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    doc             jsonb NOT NULL
);
CREATE UNIQUE INDEX referrals_identifier ON referrals (requester_org, identifier) WHERE identifier IS NOT NULL;
CREATE INDEX referrals_requester ON referrals (requester_org, id);
CREATE INDEX referrals_receiver ON referrals (receiver_org, id);
CREATE INDEX referrals_updated ON referrals (updated_at);

-- Every version of a referral, for FHIR _history and the timeline.
CREATE TABLE referral_versions (
    referral_id text NOT NULL REFERENCES referrals (id),
    version     integer NOT NULL,
    updated_at  timestamptz NOT NULL,
    doc         jsonb NOT NULL,
    PRIMARY KEY (referral_id, version)
);

-- Record content, encrypted at rest (AES-256-GCM, see gateway.Sealer).
CREATE TABLE record_contents (
    referral_id  text NOT NULL,
    record_id    text NOT NULL,
    content_type text NOT NULL,
    sha256       text NOT NULL,
    size         bigint NOT NULL,
    sealed       bytea NOT NULL,
    PRIMARY KEY (referral_id, record_id)
);

CREATE TABLE deliveries (
    id          text PRIMARY KEY,
    referral_id text NOT NULL REFERENCES referrals (id),
    channel     text NOT NULL,
    state       text NOT NULL,
    remote_id   text,
    updated_at  timestamptz NOT NULL,
    deadline    timestamptz,
    doc         jsonb NOT NULL
);
CREATE INDEX deliveries_referral ON deliveries (referral_id);
CREATE INDEX deliveries_remote ON deliveries (channel, remote_id);

-- The audit trail: one hash chain per tenant (practice).
CREATE TABLE audit_log (
    tenant      text NOT NULL,
    seq         bigint NOT NULL,
    at          timestamptz NOT NULL,
    actor       text NOT NULL,
    referral_id text,
    action      text NOT NULL,
    outcome     text NOT NULL,
    detail      text NOT NULL,
    prev_hash   text NOT NULL,
    hash        text NOT NULL,
    PRIMARY KEY (tenant, seq)
);
CREATE INDEX audit_log_referral ON audit_log (referral_id);

CREATE TABLE audit_heads (
    tenant text PRIMARY KEY,
    seq    bigint NOT NULL,
    hash   text NOT NULL
);

CREATE TABLE audit_checkpoints (
    tenant text NOT NULL,
    seq    bigint NOT NULL,
    hash   text NOT NULL,
    at     timestamptz NOT NULL,
    mac    text NOT NULL,
    PRIMARY KEY (tenant, seq)
);

-- The trail is append-only: ordinary roles cannot change or delete rows.
-- (A superuser can disable the trigger; the hash chain and the signed
-- checkpoints still expose that.)
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP;
END;
$$;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
