// Package layout holds the repository's import rules as data and checks
// a package graph against them. The rules are the README's:
//
//   - audit imports only the standard library (and the transparency-log
//     libraries, should the audit trail adopt them);
//   - gateway (the core and its stores) may import audit, never a channel;
//   - fhir, direct and fax import gateway and audit, never each other;
//   - only cmd/ knows them all: nothing imports cmd/;
//   - protocol packages (S/MIME, MIME, MDN, SMTP, certificates, the fax
//     packet, Phaxio and its emulator, SMART, the HTTP Retry-After
//     field) import nothing of the gateway but other protocol packages;
//   - edges reach data only through the core's Service: outside the core,
//     its store packages and gateway/storetest, non-test code never names
//     gateway.Store, gateway.Tx or gateway.Document nor calls a Store()
//     method, and cmd/ names the store only to wire it (SourceRules,
//     checked on the parsed source).
//
// Rules hold transitively (a package may not reach a forbidden one through
// a third) and for test code too. TestImportRules checks the real module
// with `go list -deps -test -json`; the checker itself is tested against
// synthetic graphs that break each rule. It must not import anything of
// the gateway: it only reads the graph.
package layout
