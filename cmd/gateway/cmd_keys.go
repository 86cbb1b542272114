package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"text/tabwriter"

	"github.com/referralgw/gateway/gateway"
)

// cmdKeys is `gateway keys status|rotate`.
func cmdKeys(ctx context.Context, cfg Config, args []string, stdout, stderr io.Writer) error {
	verb, args, err := sub(args, "status", "rotate")
	if err != nil {
		return err
	}
	fs := newFlags("keys "+verb, &cfg, stderr)
	var keepRetired bool
	actor := fs.String("actor", os.Getenv("USER"), "who rotates, for the audit trail")
	if verb == "rotate" {
		fs.BoolVar(&keepRetired, "keep-retired", false, "keep retired KEKs even when no data key uses them any more")
	}
	if err := parse(fs, args); err != nil {
		return err
	}
	if verb == "status" {
		a, err := openApp(ctx, cfg, stdout, stderr)
		if err != nil {
			return err
		}
		defer a.Close()
		return keyStatus(ctx, a, stdout)
	}
	return rotateKeys(ctx, cfg, cliActor(*actor).ID, keepRetired, stdout, stderr)
}

// keyStatus prints each KEK the database or this gateway knows, its role
// and how many data keys it wraps.
func keyStatus(ctx context.Context, a *app, stdout io.Writer) error {
	counts, err := a.store.DataKeyCounts(ctx)
	if err != nil {
		return err
	}
	held := map[string]bool{}
	for _, id := range a.sealer.KnownKEKs() {
		held[id] = true
	}
	ids := map[string]bool{}
	for id := range counts {
		ids[id] = true
	}
	for id := range held {
		ids[id] = true
	}
	var sorted []string
	for id := range ids {
		sorted = append(sorted, id)
	}
	sort.Strings(sorted)
	cur := a.sealer.CurrentKEK()
	w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "KEK\tROLE\tDATA KEYS")
	for _, id := range sorted {
		role := "retired"
		switch {
		case id == cur:
			role = "current"
		case !held[id]:
			role = "MISSING (data keys it wraps cannot be opened)"
		case counts[id] == 0:
			role = "retired, unused (can be destroyed)"
		}
		fmt.Fprintf(w, "%s\t%s\t%d\n", id, role, counts[id])
	}
	return w.Flush()
}

// rotateKeys puts a new KEK in force and rewraps every data key under it.
// With key files it generates the new KEK, keeping the old one under
// keys/retired/ (both stay readable throughout, so running gateways keep
// working); with GATEWAY_RECORD_KEY the operator sets the new key there and
// lists the old ones in GATEWAY_RECORD_KEYS_RETIRED. Retired KEKs that no
// data key uses any more are destroyed (files) or named for removal (env).
func rotateKeys(ctx context.Context, cfg Config, actor string, keepRetired bool, stdout, stderr io.Writer) error {
	fromEnv := os.Getenv("GATEWAY_RECORD_KEY") != ""
	if !fromEnv {
		if err := newKEKFile(&cfg); err != nil {
			return err
		}
	}
	a, err := openApp(ctx, cfg, stdout, stderr)
	if err != nil {
		return err
	}
	defer a.Close()
	n, err := a.store.RewrapDataKeys(ctx, a.sealer, actor)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "rewrapped %d data key(s) under KEK %s\n", n, a.sealer.CurrentKEK())
	counts, err := a.store.DataKeyCounts(ctx)
	if err != nil {
		return err
	}
	if keepRetired {
		return keyStatus(ctx, a, stdout)
	}
	if fromEnv {
		_, retired, err := cfg.recordKeys()
		if err != nil {
			return err
		}
		for _, k := range retired {
			if id := gateway.KEKID(k); counts[id] == 0 {
				fmt.Fprintf(stdout, "KEK %s wraps no data key: remove it from %s\n", id, envRetiredKEKs)
			}
		}
		return keyStatus(ctx, a, stdout)
	}
	files, err := cfg.retiredKEKFiles()
	if err != nil {
		return err
	}
	for _, f := range files {
		k, err := readKeyFile(f)
		if err != nil {
			return err
		}
		id := gateway.KEKID(k)
		if counts[id] > 0 {
			fmt.Fprintf(stdout, "KEK %s still wraps %d data key(s): kept in %s\n", id, counts[id], f)
			continue
		}
		if err := os.Remove(f); err != nil {
			return fmt.Errorf("retire KEK %s: %w", id, err)
		}
		if err := a.store.AuditKEKRetired(ctx, id, actor); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "retired KEK %s: no data key uses it; %s removed\n", id, f)
	}
	return keyStatus(ctx, a, stdout)
}

// newKEKFile moves the current record key to keys/retired/ and writes a
// new one in its place. The old key is copied before the new one replaces
// it, so at every moment a gateway re-reading the files finds both.
func newKEKFile(cfg *Config) error {
	path := cfg.keyPath("record")
	old, err := readKeyFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("no record key at %s to rotate", path)
	} else if err != nil {
		return err
	}
	retired := filepath.Join(cfg.DataDir, keysDir, retiredDir, "record-"+gateway.KEKID(old)+".key")
	if err := writeKeyFile(retired, old, false); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		return err
	}
	return writeKeyFile(path, k, true)
}
