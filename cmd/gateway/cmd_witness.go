package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/referralgw/gateway/audit"
	"github.com/referralgw/gateway/audit/witness"
)

// cmdWitness runs a C2SP tlog-witness for gateways' audit logs: it keeps
// the latest checkpoint of each log in an append-only directory, verifies
// the log's signature and the consistency proof of each new checkpoint,
// refuses a rollback or a fork, and cosigns.
func cmdWitness(ctx context.Context, cfg Config, args []string, stdout, stderr io.Writer) error {
	verb, args, err := sub(args, "serve")
	if err != nil {
		return err
	}
	fs := newFlags("witness "+verb, &cfg, stderr, dataFlag)
	listen := fs.String("listen", "127.0.0.1:8480", "HTTP listen `address` of the witness")
	dir := fs.String("dir", "", "append-only `directory` of the witnessed checkpoints (default <data>/witness)")
	var logKeys witnessList
	fs.Var(&logKeys, "log-key", "verifier key of a log to witness (`name+hash+key`, as `gateway audit key` prints, or a file holding it); repeatable")
	if err := parse(fs, args); err != nil {
		return err
	}
	if len(logKeys) == 0 {
		return usagef("witness serve needs at least one --log-key (the output of `gateway audit key`)")
	}
	var verifiers []note.Verifier
	for _, k := range logKeys {
		if b, err := os.ReadFile(k); err == nil {
			k = strings.TrimSpace(string(b))
		}
		v, err := audit.NewVerifier(k)
		if err != nil {
			return usagef("--log-key %q: %v", k, err)
		}
		verifiers = append(verifiers, v)
	}
	if *dir == "" {
		*dir = filepath.Join(cfg.DataDir, "witness")
	}
	store, err := witness.NewDir(*dir)
	if err != nil {
		return err
	}
	skey, vkey, err := witnessKey(filepath.Join(cfg.DataDir, "keys", "witness.key"))
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	srv, err := witness.NewServer(store, verifiers, skey, log)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", *listen, err)
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(stdout, "witness listening on http://%s, keeping checkpoints in %s\nwitness key %s\n", ln.Addr(), *dir, vkey)
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return hs.Shutdown(sctx)
	case err := <-errc:
		return err
	}
}

// witnessKey reads the witness's cosigning key at path, or creates it
// (mode 0600) with its verifier key beside it (path + ".pub").
func witnessKey(path string) (skey, vkey string, err error) {
	skey, err = noteKeyFile(path, func() (string, string, error) {
		name, _ := os.Hostname()
		if name == "" || strings.ContainsAny(name, "+ ") {
			name = "witness"
		}
		return audit.GenerateSigningKey(name + "-witness")
	})
	if err != nil {
		return "", "", err
	}
	vkey, err = audit.VerifierKeyOf(skey)
	return skey, vkey, err
}
