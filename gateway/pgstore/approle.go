package pgstore

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
)

// AuditTables are the tables of the audit trail. The application role may
// read them and append to them, nothing else: it can neither change nor
// remove a row, and, not owning them, cannot switch their triggers off.
var AuditTables = []string{"audit_log", "audit_events", "audit_tree_nodes", "audit_signed_heads"}

// roleName is what GrantAppRole accepts as a role name: a plain lowercase
// identifier, so it never needs quoting rules.
var roleName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// GrantAppRole creates (or updates) the login role name that `serve` and
// the command line use, on the database and schema that url reaches as the
// schema's owner. The role is NOSUPERUSER, NOBYPASSRLS, NOCREATEROLE and
// NOCREATEDB; it owns nothing. It gets SELECT, INSERT, UPDATE and DELETE on
// every table of the schema except the audit tables, where it gets SELECT and
// INSERT only, and gateway_callers, where it gets nothing (see
// RegisterCaller), and USAGE on the schema's sequences. password, when not
// empty, becomes the role's login password. Run it after every migration:
// it grants on the tables that exist now.
func GrantAppRole(ctx context.Context, url, name, password string) error {
	if !roleName.MatchString(name) {
		return fmt.Errorf("pgstore: app role %q: want a lowercase identifier ([a-z_][a-z0-9_]*)", name)
	}
	conn, err := Connect(ctx, url)
	if err != nil {
		return fmt.Errorf("pgstore: app role: connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	tx, err := conn.Begin(ctx)
	if err != nil {
		return fmt.Errorf("pgstore: app role: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	var schema, owner string
	if err := tx.QueryRow(ctx, `SELECT current_schema(), current_user`).Scan(&schema, &owner); err != nil {
		return fmt.Errorf("pgstore: app role: %w", err)
	}
	if name == owner {
		return fmt.Errorf("pgstore: app role %q is the role migrating the schema: use a separate role for the application", name)
	}
	stmt, err := appRoleStatement(ctx, tx, name)
	if err != nil {
		return err
	}
	var stmts []string
	if stmt != "" {
		stmts = append(stmts, stmt)
	}
	if password != "" {
		stmts = append(stmts, `ALTER ROLE `+name+` PASSWORD `+quoteLiteral(password))
	}
	tables, err := schemaTables(ctx, tx, schema)
	if err != nil {
		return err
	}
	q := pgx.Identifier{schema}.Sanitize()
	stmts = append(stmts, `GRANT USAGE ON SCHEMA `+q+` TO `+name,
		`GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA `+q+` TO `+name)
	for _, tbl := range tables {
		t := pgx.Identifier{schema, tbl}.Sanitize()
		stmts = append(stmts, `REVOKE ALL ON `+t+` FROM `+name)
		if tbl == callersTable {
			continue // what proves a session is the gateway: the owner's alone
		}
		if slices.Contains(AuditTables, tbl) {
			stmts = append(stmts, `GRANT SELECT, INSERT ON `+t+` TO `+name)
			continue
		}
		stmts = append(stmts, `GRANT SELECT, INSERT, UPDATE, DELETE ON `+t+` TO `+name)
	}
	// The partner answers run as the owner; PUBLIC may not call them
	// (migration 033), the application role may.
	for _, fn := range partnerAnswers {
		stmts = append(stmts, `GRANT EXECUTE ON FUNCTION `+q+`.`+fn+` TO `+name)
	}
	for _, s := range stmts {
		if _, err := tx.Exec(ctx, s); err != nil {
			return fmt.Errorf("pgstore: app role %s: %w", name, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("pgstore: app role %s: %w", name, err)
	}
	return nil
}

// partnerAnswers are the SECURITY DEFINER functions that give a practice
// the answers it needs about its partners' rows (migration 031).
var partnerAnswers = []string{"gateway_referral_subscriptions(text)", "gateway_partner_baa(text)"}

// schemaTables lists the ordinary and partitioned tables of schema.
func schemaTables(ctx context.Context, tx pgx.Tx, schema string) ([]string, error) {
	rows, err := tx.Query(ctx, `SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') ORDER BY c.relname`, schema)
	if err != nil {
		return nil, fmt.Errorf("pgstore: app role: list tables: %w", err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("pgstore: app role: list tables: %w", err)
	}
	return tables, nil
}

// quoteLiteral quotes s as an SQL string literal (ALTER ROLE takes no
// parameters).
func quoteLiteral(s string) string {
	out := []byte{'\''}
	for i := 0; i < len(s); i++ {
		if s[i] == '\'' {
			out = append(out, '\'')
		}
		out = append(out, s[i])
	}
	return string(append(out, '\''))
}

// appRoleStatement creates name as the app role, or makes an existing
// role one. PostgreSQL lets only a superuser name SUPERUSER, BYPASSRLS or
// REPLICATION in ALTER ROLE, even to switch them off, and a managed
// database's owner is no superuser: an existing role's attributes are read
// and only what differs is stated, so running the grant again works as
// such an owner. A role that has one of those three is refused with what
// to do, unless the caller is a superuser, who takes it away.
func appRoleStatement(ctx context.Context, tx pgx.Tx, name string) (string, error) {
	var callerSuper bool
	if err := tx.QueryRow(ctx, `SELECT rolsuper FROM pg_roles WHERE rolname = current_user`).Scan(&callerSuper); err != nil {
		return "", fmt.Errorf("pgstore: app role: %w", err)
	}
	var super, bypass, repl, createRole, createDB, login bool
	err := tx.QueryRow(ctx, `SELECT rolsuper, rolbypassrls, rolreplication, rolcreaterole, rolcreatedb, rolcanlogin
		FROM pg_roles WHERE rolname = $1`, name).Scan(&super, &bypass, &repl, &createRole, &createDB, &login)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return `CREATE ROLE ` + name + ` LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEROLE NOCREATEDB NOREPLICATION`, nil
	case err != nil:
		return "", fmt.Errorf("pgstore: app role: %w", err)
	}
	var change []string
	for _, a := range []struct {
		has  bool
		word string
	}{{super, "SUPERUSER"}, {bypass, "BYPASSRLS"}, {repl, "REPLICATION"}} {
		if !a.has {
			continue
		}
		if !callerSuper {
			return "", fmt.Errorf("pgstore: app role %s has %s, which row-level security does not survive, and only a superuser may take it away: "+
				"run ALTER ROLE %s NO%s as one, or migrate as a superuser", name, a.word, name, a.word)
		}
		change = append(change, "NO"+a.word)
	}
	if !login {
		change = append(change, "LOGIN")
	}
	if createRole {
		change = append(change, "NOCREATEROLE")
	}
	if createDB {
		change = append(change, "NOCREATEDB")
	}
	if len(change) == 0 {
		return "", nil // already what the app role must be
	}
	return `ALTER ROLE ` + name + ` ` + strings.Join(change, " "), nil
}
