package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/mod/sumdb/note"

	"github.com/referralgw/gateway/audit"
	"github.com/referralgw/gateway/audit/witness"
)

// auditLogName names the gateway's audit log in checkpoints (the origin
// "<name>/audit/<tenant>") and its signing key.
const auditLogName = "referral-gateway"

// witnessList is the repeatable --audit-witness flag.
type witnessList []string

func (w *witnessList) String() string { return strings.Join(*w, ",") }

func (w *witnessList) Set(v string) error {
	if v == "" {
		return errors.New("empty witness")
	}
	*w = append(*w, v)
	return nil
}

// auditSigningKey returns the audit log's Ed25519 signing key (signed-note
// form) from GATEWAY_AUDIT_SIGNING_KEY or <data>/keys/audit-log.key,
// generated with mode 0600 on first use, and never stored in the database.
func auditSigningKey(cfg Config) (note.Signer, note.Verifier, string, error) {
	skey := os.Getenv("GATEWAY_AUDIT_SIGNING_KEY")
	if skey == "" {
		var err error
		path := filepath.Join(cfg.DataDir, "keys", "audit-log.key")
		if skey, err = noteKeyFile(path, func() (string, string, error) { return audit.GenerateSigningKey(auditLogName) }); err != nil {
			return nil, nil, "", fmt.Errorf("audit signing key: %w", err)
		}
	}
	signer, err := audit.NewSigner(skey)
	if err != nil {
		return nil, nil, "", err
	}
	vkey, err := audit.VerifierKeyOf(skey)
	if err != nil {
		return nil, nil, "", err
	}
	v, err := audit.NewVerifier(vkey)
	if err != nil {
		return nil, nil, "", err
	}
	return signer, v, vkey, nil
}

// auditWitnesses opens the configured witnesses: a directory path or an
// http(s) URL of a tlog-witness each; none configured means the
// append-only directory <data>/audit-witness.
func auditWitnesses(cfg Config) ([]audit.Witness, error) {
	list := cfg.AuditWitnesses
	if len(list) == 0 {
		list = []string{filepath.Join(cfg.DataDir, "audit-witness")}
	}
	var out []audit.Witness
	for _, w := range list {
		if strings.HasPrefix(w, "http://") || strings.HasPrefix(w, "https://") {
			out = append(out, &witness.Client{URL: w})
			continue
		}
		d, err := witness.NewDir(w)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}
