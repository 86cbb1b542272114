-- As in migrations/postgres/006_inbound.sql.
CREATE TABLE inbound_messages (
    id             TEXT PRIMARY KEY,
    channel        TEXT NOT NULL,
    received_at    TEXT NOT NULL,
    sender         TEXT NOT NULL,
    message_id     TEXT NOT NULL,
    content_hash   TEXT NOT NULL,
    state          TEXT NOT NULL,
    tenant         TEXT NOT NULL,
    referral_id    TEXT,
    version        INTEGER NOT NULL,
    updated_at     TEXT NOT NULL,
    doc            TEXT NOT NULL,
    raw_sealed     BLOB NOT NULL,
    summary_sealed BLOB
);
CREATE UNIQUE INDEX inbound_messages_hash ON inbound_messages (channel, content_hash);
CREATE INDEX inbound_messages_msgid ON inbound_messages (channel, sender, message_id) WHERE message_id <> '';
CREATE INDEX inbound_messages_tenant ON inbound_messages (tenant, state, id);
CREATE INDEX inbound_messages_state ON inbound_messages (state, id);

CREATE TABLE inbound_notices (
    id          TEXT PRIMARY KEY,
    inbound_id  TEXT NOT NULL REFERENCES inbound_messages (id),
    state       TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    doc         TEXT NOT NULL,
    wire        BLOB
);
CREATE INDEX inbound_notices_inbound ON inbound_notices (inbound_id);
