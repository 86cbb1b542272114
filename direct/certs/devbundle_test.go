package certs

import (
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestWriteDevBundle(t *testing.T) {
	t.Parallel()
	now := time.Now()
	tests := []struct {
		name      string
		addresses []string
		leaves    []string
	}{
		{"addresses", []string{"intake@direct.example-clinic.test", "dr.rivera@direct.example-clinic.test"},
			[]string{"intake@direct.example-clinic.test", "dr.rivera@direct.example-clinic.test"}},
		{"domain only", nil, []string{"direct.example-clinic.test"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "bundle")
			if err := WriteDevBundle(dir, "direct.example-clinic.test", tt.addresses, now); err != nil {
				t.Fatal(err)
			}
			caPEM, err := os.ReadFile(filepath.Join(dir, "ca.pem"))
			if err != nil {
				t.Fatal(err)
			}
			ts, err := LoadTrustStore(caPEM)
			if err != nil {
				t.Fatal(err)
			}
			crlDER, err := os.ReadFile(filepath.Join(dir, "ca.crl"))
			if err != nil {
				t.Fatal(err)
			}
			crl, err := x509.ParseRevocationList(crlDER)
			if err != nil {
				t.Fatal(err)
			}
			if err := crl.CheckSignatureFrom(ts.Anchors()[0]); err != nil {
				t.Errorf("ca.crl not signed by ca.pem: %v", err)
			}
			for _, name := range tt.leaves {
				certPEM, err := os.ReadFile(filepath.Join(dir, name+".pem"))
				if err != nil {
					t.Fatal(err)
				}
				keyPath := filepath.Join(dir, name+"-key.pem")
				keyPEM, err := os.ReadFile(keyPath)
				if err != nil {
					t.Fatal(err)
				}
				id, err := LoadIdentityPEM(certPEM, keyPEM)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := id.Cert.Verify(x509VerifyOpts(ts)); err != nil {
					t.Errorf("%s does not chain to ca.pem: %v", name, err)
				}
				if fi, err := os.Stat(keyPath); err != nil || fi.Mode().Perm() != 0o600 {
					t.Errorf("%s mode = %v, %v; want 0600", keyPath, fi.Mode().Perm(), err)
				}
			}
		})
	}
	if err := WriteDevBundle(t.TempDir(), "example.test", []string{"../escape@example.test"}, now); err == nil {
		t.Error("address with a path separator accepted")
	}
}
