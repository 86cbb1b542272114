-- Received mail is matched to the directory by its recipient's exact
-- Direct address (at RCPT TO, and for every recipient of every message
-- processed): an index on the folded address makes that one probe instead
-- of a search through every entry.
CREATE INDEX directory_entries_direct_address ON directory_entries (lower(direct_address));
