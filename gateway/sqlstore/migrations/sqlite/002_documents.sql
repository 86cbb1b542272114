-- As in migrations/postgres/002_documents.sql.
CREATE TABLE documents (
    kind       TEXT NOT NULL,
    id         TEXT NOT NULL,
    version    INTEGER NOT NULL,
    updated_at TEXT NOT NULL,
    expires_at TEXT,
    doc        TEXT NOT NULL,
    PRIMARY KEY (kind, id)
);
CREATE INDEX documents_expiry ON documents (expires_at) WHERE expires_at IS NOT NULL;
