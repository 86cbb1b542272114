package main

import (
	"context"
	"fmt"
	"io"
)

func cmdMigrate(ctx context.Context, cfg Config, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("migrate", &cfg, stderr)
	if err := parse(fs, args); err != nil {
		return err
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
	return nil
}
