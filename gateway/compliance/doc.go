// Package compliance renders what the core assembles for auditors and
// practice leadership: a referral's compliance receipt
// (gateway.ComplianceReceipt) as text, HTML and a FHIR Provenance +
// AuditEvent bundle, and a practice report (gateway.PracticeReport) as a
// table, CSV and server-rendered SVG charts. It only formats: every figure
// and statement comes from the core, and nothing here reads the store or
// carries PHI (receipts and reports hold ids, states and citations).
package compliance
