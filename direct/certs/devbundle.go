package certs

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// WriteDevBundle creates a development CA for domain and writes into dir
// (created if missing, mode 0700):
//
//	ca.pem, ca-key.pem   the CA certificate (the trust anchor) and its key
//	ca.crl               an empty DER CRL signed by the CA
//	<addr>.pem, <addr>-key.pem   for each address: its certificate and key
//	<domain>.pem, <domain>-key.pem   a domain-bound certificate when addresses is empty
//
// Keys are written with mode 0600. It backs `gateway certs dev --domain D`.
func WriteDevBundle(dir, domain string, addresses []string, now time.Time) error {
	ca, err := NewDevCA(domain, now)
	if err != nil {
		return fmt.Errorf("certs: write dev bundle: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("certs: write dev bundle: %w", err)
	}
	caKey, err := EncodeKeyPEM(ca.Key)
	if err != nil {
		return fmt.Errorf("certs: write dev bundle: %w", err)
	}
	crl, err := ca.CRL()
	if err != nil {
		return fmt.Errorf("certs: write dev bundle: %w", err)
	}
	files := []bundleFile{
		{"ca.pem", EncodeCertPEM(ca.Cert), 0o644},
		{"ca-key.pem", caKey, 0o600},
		{"ca.crl", crl, 0o644},
	}
	names := addresses
	if len(names) == 0 {
		names = []string{domain}
	}
	for _, name := range names {
		if strings.ContainsAny(name, `/\`) || name == "." || name == ".." {
			return fmt.Errorf("certs: write dev bundle: %q is not usable as a file name", name)
		}
		var id *Identity
		if len(addresses) == 0 {
			id, err = ca.IssueDomain(domain)
		} else {
			id, err = ca.IssueAddress(name)
		}
		if err != nil {
			return fmt.Errorf("certs: write dev bundle: %w", err)
		}
		key, err := EncodeKeyPEM(id.Key)
		if err != nil {
			return fmt.Errorf("certs: write dev bundle: %w", err)
		}
		files = append(files,
			bundleFile{name + ".pem", EncodeCertPEM(id.Cert), 0o644},
			bundleFile{name + "-key.pem", key, 0o600})
	}
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(dir, f.name), f.data, f.mode); err != nil {
			return fmt.Errorf("certs: write dev bundle: %w", err)
		}
	}
	return nil
}

type bundleFile struct {
	name string
	data []byte
	mode os.FileMode
}
