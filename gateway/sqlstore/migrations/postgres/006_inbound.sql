-- Received messages (Direct mail) and the notifications we send about
-- them. A message is stored, sealed, in the same transaction as its
-- processing job; the quarantine and the inbox are states of one table.
-- The content hash and (sender, Message-ID) find a copy received again.
CREATE TABLE inbound_messages (
    id             text PRIMARY KEY,
    channel        text NOT NULL,
    received_at    timestamptz NOT NULL,
    sender         text NOT NULL,      -- SMTP reverse path, lower case; '' for the null sender
    message_id     text NOT NULL,      -- outer Message-ID, '' when absent
    content_hash   text NOT NULL,
    state          text NOT NULL,
    tenant         text NOT NULL,      -- the first practice the message is for
    referral_id    text,
    version        integer NOT NULL,
    updated_at     timestamptz NOT NULL,
    doc            jsonb NOT NULL,     -- metadata: ids, addresses, states, reasons; no content
    raw_sealed     bytea NOT NULL,     -- the message as received, sealed
    summary_sealed bytea               -- subject and attachment list, sealed
);
CREATE UNIQUE INDEX inbound_messages_hash ON inbound_messages (channel, content_hash);
CREATE INDEX inbound_messages_msgid ON inbound_messages (channel, sender, message_id) WHERE message_id <> '';
CREATE INDEX inbound_messages_tenant ON inbound_messages (tenant, state, id);
CREATE INDEX inbound_messages_state ON inbound_messages (state, id);

CREATE TABLE inbound_notices (
    id          text PRIMARY KEY,     -- the notification's Message-ID
    inbound_id  text NOT NULL REFERENCES inbound_messages (id),
    state       text NOT NULL,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    doc         jsonb NOT NULL,
    wire        bytea                 -- signed and encrypted for its recipient; sent again for a duplicate
);
CREATE INDEX inbound_notices_inbound ON inbound_notices (inbound_id);
