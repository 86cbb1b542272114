-- The chain heads and HMAC checkpoints gave way to the sequencer and to
-- signed, witnessed tree heads (003).
DROP TABLE audit_heads;
DROP TABLE audit_checkpoints;
