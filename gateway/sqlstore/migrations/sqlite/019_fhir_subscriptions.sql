-- As in migrations/postgres/019_fhir_subscriptions.sql (no row-level
-- security: the embedded store relies on the core's checks).
CREATE TABLE fhir_subscriptions (
    id             TEXT PRIMARY KEY,
    org_id         TEXT NOT NULL,
    client_id      TEXT NOT NULL,
    status         TEXT NOT NULL CHECK (status IN ('requested','active','error','off')),
    criteria_param TEXT NOT NULL CHECK (criteria_param IN ('owner','requester')),
    criteria_org   TEXT NOT NULL,
    end_at         TEXT,
    error          TEXT NOT NULL DEFAULT '',
    version        INTEGER NOT NULL,
    updated_at     TEXT NOT NULL,
    channel        BLOB NOT NULL,
    start_at       TEXT NOT NULL,
    cursor_at      TEXT NOT NULL,
    sent           TEXT NOT NULL DEFAULT '{}',
    failures       INTEGER NOT NULL DEFAULT 0,
    next_attempt   TEXT,
    holder         TEXT NOT NULL DEFAULT '',
    held_until     TEXT,
    state_version  INTEGER NOT NULL
);
CREATE INDEX fhir_subscriptions_org ON fhir_subscriptions (org_id, id);
CREATE INDEX fhir_subscriptions_match ON fhir_subscriptions (criteria_org, criteria_param)
    WHERE status IN ('requested','active');
