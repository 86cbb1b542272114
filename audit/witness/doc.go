// Package witness keeps the audit log's signed checkpoints outside the
// database, where whoever can rewrite the database cannot reach them: Dir,
// an append-only directory (meant for another disk or host), and Server
// and Client, the C2SP tlog-witness protocol over HTTP. Every witness
// refuses a checkpoint that does not extend the one it holds (a rollback,
// a fork, a bad consistency proof), so a rewritten trail cannot be
// published over a witnessed one.
//
// It imports only the audit package, the transparency libraries and the
// standard library; it logs metadata only (origins, sizes), never entries.
package witness
