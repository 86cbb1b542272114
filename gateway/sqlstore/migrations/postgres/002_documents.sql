-- Small records the edges keep (FHIR client registrations, seen JWT ids,
-- admin accounts and sessions, the Direct inbox index), each a JSON
-- document of a kind, with optimistic versioning and an optional expiry.
CREATE TABLE documents (
    kind       text NOT NULL,
    id         text NOT NULL,
    version    integer NOT NULL,
    updated_at timestamptz NOT NULL,
    expires_at timestamptz,
    doc        text NOT NULL, -- opaque to the database: kept byte for byte
    PRIMARY KEY (kind, id)
);
CREATE INDEX documents_expiry ON documents (expires_at) WHERE expires_at IS NOT NULL;
