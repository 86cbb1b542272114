// Package storetest is the conformance suite every gateway.Store must pass.
// It drives the real gateway.Service over the store, with a recording test
// channel in place of FHIR, Direct and fax, so that one suite proves the
// lifecycle, the gates, durable dispatch and the audit chain on PostgreSQL
// and on the embedded SQLite store alike.
//
// The recording channel exists only for tests; nothing user-facing uses it.
package storetest
