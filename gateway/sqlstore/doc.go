// Package sqlstore is the SQL implementation of gateway.Store shared by the
// PostgreSQL store (gateway/pgstore, pgx/v5) and the embedded SQLite store
// (gateway/litestore). It owns the schema (versioned SQL files per dialect
// under migrations/, embedded in the binary), the queries, the hash-chained
// audit append and the River job glue.
//
// A Backend supplies what differs between databases: connections,
// transactions, placeholder style, row locking and the River driver. This
// package must not open connections itself or import a database driver.
package sqlstore
