// Package audit owns the gateway's tamper-evident audit trail: the Entry that
// one event becomes in one practice's (tenant's) chain, the canonical hash that
// links each entry to the one before it, verification of whole trails with the
// first break of each tenant pinpointed, HMAC-signed checkpoints that expose a
// truncated tail, and export of a trail as FHIR R4 AuditEvent resources.
//
// The package is pure logic and imports only the standard library. It must not
// store, read or log anything: the PostgreSQL and SQLite stores call NewEntry to
// compute the next row before inserting it and feed rows back to Verify as an
// iterator. Entries carry metadata only (ids, codes, reasons), never PHI.
//
// # Chains
//
// Each tenant has its own chain with gap-free sequence numbers starting at 1.
// Entry n stores PrevHash = Hash of entry n-1; entry 1 stores
// GenesisHash(tenant), so the first entry is bound to its tenant too. A
// cross-practice event becomes one entry in each practice's chain.
//
// # Canonical encoding (version 1)
//
// Hash is the lowercase hex SHA-256 of a byte string built from fields, each
// written as its length in bytes (8-byte big-endian unsigned integer) followed
// by the bytes themselves. Because every field carries its length, no choice of
// field contents can make two different entries encode alike ("ab"+"c" and
// "a"+"bc" differ in their length prefixes). The fields, in order:
//
//  1. the tag "referralgw/audit/entry/v1"
//  2. Tenant
//  3. Seq in base 10
//  4. Time in UTC as RFC 3339 with exactly six fractional digits,
//     e.g. "2026-03-01T09:30:00.123456Z" (sub-microsecond digits are dropped)
//  5. Actor
//  6. ReferralID
//  7. Action
//  8. Outcome
//  9. the number of Detail pairs in base 10, then each key and its value,
//     keys sorted by byte order
//  10. PrevHash
//
// GenesisHash(tenant) is the hex SHA-256 of the fields
// "referralgw/audit/genesis/v1" and the tenant, in the same encoding.
// A Checkpoint's MAC is the hex HMAC-SHA256 of the fields
// "referralgw/audit/checkpoint/v1", tenant, seq, hash and time (as in 4).
//
// # What verification finds
//
// A hash chain shows a changed row (its stored hash no longer matches its
// fields), a deleted row in the middle (a sequence gap, or a PrevHash that no
// longer matches the row before) and reordered rows. It cannot show that the
// newest rows were removed, nor a chain rewritten from scratch by someone who
// can recompute hashes. Checkpoints cover that: a Checkpoint is an HMAC-SHA256,
// under a key kept outside the database, over the tenant, sequence number,
// hash and time of a chain head. VerifyWithCheckpoints requires the chain to
// still hold that exact entry.
package audit
