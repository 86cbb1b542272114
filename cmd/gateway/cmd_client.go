package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/referralgw/gateway/fhir/smart"
	"github.com/referralgw/gateway/fhir/smartstore"
)

func cmdClient(ctx context.Context, cfg Config, args []string, stdout, stderr io.Writer) error {
	_, args, err := sub(args, "add")
	if err != nil {
		return err
	}
	fs := newFlags("client add", &cfg, stderr)
	ec := &cfg.Edges
	org := fs.String("org", "", "directory id of the organisation the client acts for (required)")
	jwksFile := fs.String("jwks", "", "file holding the client's JWKS (public keys), \"-\" for standard input (required)")
	scope := fs.String("scope", "", `space-separated SMART system scopes, e.g. "system/Task.rs system/Task.u" (required)`)
	id := fs.String("id", "", "client id; default: a new id")
	fs.StringVar(&ec.PublicURL, "public-url", ec.PublicURL, "the gateway's public base URL, for the token URL printed (env GATEWAY_PUBLIC_URL)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *org == "" || *jwksFile == "" || strings.TrimSpace(*scope) == "" {
		return usagef("--org, --jwks and --scope are required")
	}
	var jwks []byte
	if *jwksFile == "-" {
		jwks, err = io.ReadAll(os.Stdin)
	} else {
		jwks, err = os.ReadFile(*jwksFile)
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", *jwksFile, err)
	}
	a, err := openApp(ctx, cfg, stdout, stderr)
	if err != nil {
		return err
	}
	defer a.Close()
	if _, err := a.svc.Entry(ctx, *org); err != nil {
		return fmt.Errorf("organisation %s: %w", *org, err)
	}
	c, err := smartstore.New(a.svc).Register(ctx, cliActor(os.Getenv("USER")).ID,
		smart.Client{ID: *id, OrgID: *org, Scopes: strings.Fields(*scope)}, jwks)
	if err != nil {
		return err
	}
	base := strings.TrimSuffix(ec.PublicURL, "/")
	if base == "" {
		base = "http://" + cfg.HTTPAddr
	}
	fmt.Fprintf(stdout, "client id: %s\ntoken url: %s%s\n", c.ID, base, smart.TokenPath)
	return nil
}
