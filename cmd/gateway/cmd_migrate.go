package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/referralgw/gateway/gateway/pgstore"
)

func cmdMigrate(ctx context.Context, cfg Config, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("migrate", &cfg, stderr)
	appRole := fs.String("app-role", "", "PostgreSQL: create or update this login role for serve and the CLI "+
		"(may append to the audit trail but never change it; password from GATEWAY_APP_ROLE_PASSWORD)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *appRole != "" && cfg.DB == "" {
		return usagef("--app-role needs --db (the owner's PostgreSQL URL); the embedded store has no roles")
	}
	a, err := openApp(ctx, cfg, stdout, stderr) // opening applies River's and our migrations
	if err != nil {
		return err
	}
	defer a.Close()
	where := "embedded store in " + cfg.DataDir
	if cfg.DB != "" {
		where = "PostgreSQL"
	}
	fmt.Fprintf(stdout, "schema up to date (%s)\n", where)
	// Rows written before PHI was sealed at rest are sealed now (audited);
	// on an up-to-date database there are none.
	n, err := a.store.SealLegacyRows(ctx, cliActor(os.Getenv("USER")).ID)
	if err != nil {
		return err
	}
	if n > 0 {
		fmt.Fprintf(stdout, "sealed %d row(s) written before PHI was sealed at rest\n", n)
	}
	if *appRole != "" {
		if err := pgstore.GrantAppRole(ctx, cfg.DB, *appRole, os.Getenv("GATEWAY_APP_ROLE_PASSWORD")); err != nil {
			return err
		}
		token, err := cfg.callerToken()
		if err != nil {
			return err
		}
		if err := pgstore.RegisterCaller(ctx, cfg.DB, token); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "app role %s: may read all tables, append to the audit trail, never change or delete it\n", *appRole)
		fmt.Fprintf(stdout, "registered this gateway's caller token (from its index key): sessions without it see no practice's rows\n")
	}
	return nil
}
