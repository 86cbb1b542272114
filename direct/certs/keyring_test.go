package certs

import (
	"errors"
	"math/big"
	"testing"
	"time"
)

func TestKeyring(t *testing.T) {
	t.Parallel()
	ca, err := NewDevCA("direct.example-clinic.test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	addr, err := ca.IssueAddress("intake@direct.example-clinic.test")
	if err != nil {
		t.Fatal(err)
	}
	dom, err := ca.IssueDomain("direct.example-clinic.test")
	if err != nil {
		t.Fatal(err)
	}
	kr := NewKeyring()
	for _, id := range []*Identity{addr, dom} {
		if err := kr.Add(id); err != nil {
			t.Fatal(err)
		}
	}
	if err := kr.Add(&Identity{}); err == nil {
		t.Error("Add accepted an incomplete identity")
	}

	lookups := []struct {
		addr string
		want *Identity
	}{
		{"intake@direct.example-clinic.test", addr},
		{"INTAKE@Direct.Example-Clinic.test", addr},
		{"dr.okafor@direct.example-clinic.test", dom},
		{"someone@elsewhere.test", nil},
	}
	for _, tt := range lookups {
		got, err := kr.ForAddress(tt.addr)
		if tt.want == nil {
			if !errors.Is(err, ErrNoIdentity) {
				t.Errorf("ForAddress(%q) err = %v, want ErrNoIdentity", tt.addr, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ForAddress(%q) = %v, %v", tt.addr, got, err)
		}
	}

	cert, key, err := kr.DecryptionKey(dom.Cert.RawIssuer, dom.Cert.SerialNumber)
	if err != nil || cert != dom.Cert || key != dom.Key {
		t.Errorf("DecryptionKey(domain cert) = %v, %v, %v", cert, key, err)
	}
	if _, _, err := kr.DecryptionKey(dom.Cert.RawIssuer, big.NewInt(12345)); !errors.Is(err, ErrNoIdentity) {
		t.Errorf("DecryptionKey(unknown serial) err = %v", err)
	}
	if _, _, err := kr.DecryptionKey(dom.Cert.RawSubject, dom.Cert.SerialNumber); !errors.Is(err, ErrNoIdentity) {
		t.Errorf("DecryptionKey(wrong issuer) err = %v", err)
	}
}

func TestTrustStore(t *testing.T) {
	t.Parallel()
	ca, err := NewDevCA("example.test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	other, err := NewDevCA("other.test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.IssueAddress("a@example.test")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		bundle  []byte
		want    int
		wantErr bool
	}{
		{"two anchors", EncodeCertPEM(ca.Cert, other.Cert), 2, false},
		{"leaf is not an anchor", EncodeCertPEM(ca.Cert, leaf.Cert), 0, true},
		{"empty", nil, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts, err := LoadTrustStore(tt.bundle)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if got := len(ts.Anchors()); got != tt.want {
				t.Errorf("anchors = %d, want %d", got, tt.want)
			}
			if _, err := leaf.Cert.Verify(x509VerifyOpts(ts)); err != nil {
				t.Errorf("leaf does not verify against the store's pool: %v", err)
			}
		})
	}
}
