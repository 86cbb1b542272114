package main

import (
	"context"
	"crypto"
	"fmt"
	"io"
	"os"
	"slices"
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
	want := smart.Client{ID: *id, OrgID: *org, Scopes: strings.Fields(*scope)}
	reg := smartstore.New(a.svc)
	c, found, err := registeredAlready(ctx, reg, want, jwks)
	if err != nil {
		return err
	}
	if found {
		fmt.Fprintf(stdout, "client %s is already registered with these keys and scopes: unchanged\n", c.ID)
	} else if c, err = reg.Register(ctx, cliActor(os.Getenv("USER")).ID, want, jwks); err != nil {
		return err
	}
	base := strings.TrimSuffix(ec.PublicURL, "/")
	if base == "" {
		base = "http://" + cfg.HTTPAddr
	}
	fmt.Fprintf(stdout, "client id: %s\ntoken url: %s%s\n", c.ID, base, smart.TokenPath)
	return nil
}

// registeredAlready finds a registered client that already is what want and jwks
// describe (same organisation, scopes and keys, and id when one is given),
// so that running `client add` twice registers one client.
func registeredAlready(ctx context.Context, reg *smartstore.Store, want smart.Client, jwks []byte) (smart.Client, bool, error) {
	keys, err := smart.ParseJWKS(jwks)
	if err != nil {
		return smart.Client{}, false, nil // Register reports it
	}
	have, err := reg.Clients(ctx)
	if err != nil {
		return smart.Client{}, false, err
	}
	for _, c := range have {
		if (want.ID == "" || c.ID == want.ID) && c.OrgID == want.OrgID && !c.Disabled &&
			slices.Equal(slices.Sorted(slices.Values(c.Scopes)), slices.Sorted(slices.Values(want.Scopes))) && sameKeys(c.JWKS, keys) {
			return c, true, nil
		}
	}
	return smart.Client{}, false, nil
}

// sameKeys reports whether two key sets hold the same keys under the same ids.
func sameKeys(a, b smart.JWKS) bool {
	if len(a) != len(b) {
		return false
	}
	for _, k := range b {
		i := slices.IndexFunc(a, func(o smart.PublicKeyWithKID) bool { return o.KID == k.KID })
		eq, ok := k.Key.(interface{ Equal(crypto.PublicKey) bool })
		if i < 0 || !ok || !eq.Equal(a[i].Key) {
			return false
		}
	}
	return true
}
