-- Receipts a channel's edge reports under its own key (a fax id and
-- status): the key commits with the receipt, so a replay is recognised and
-- a crash between the two cannot lose the receipt. The key is per
-- delivery: a reused vendor id on another delivery is not a replay.
CREATE TABLE receipt_keys (
    delivery_id text NOT NULL,
    key         text NOT NULL,
    received_at text NOT NULL,
    expires_at  text NOT NULL,
    PRIMARY KEY (delivery_id, key)
);
CREATE INDEX receipt_keys_expiry ON receipt_keys (expires_at);
