package certs

import (
	"crypto/x509"
	"slices"
	"testing"
	"time"
)

func TestIssue(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	ca, err := NewDevCA("direct.example-clinic.test", now)
	if err != nil {
		t.Fatal(err)
	}
	ca.CRLURL = "http://crl.example-clinic.test/ca.crl"
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)

	addr, err := ca.IssueAddress("dr.rivera@direct.example-clinic.test")
	if err != nil {
		t.Fatal(err)
	}
	dom, err := ca.IssueDomain("direct.example-clinic.test", WithCRLURL(""))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		id        *Identity
		wantEmail []string
		wantDNS   []string
		wantCRL   []string
	}{
		{"address", addr, []string{"dr.rivera@direct.example-clinic.test"}, nil, []string{"http://crl.example-clinic.test/ca.crl"}},
		{"domain", dom, nil, []string{"direct.example-clinic.test"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.id.Cert
			if !slices.Equal(c.EmailAddresses, tt.wantEmail) || !slices.Equal(c.DNSNames, tt.wantDNS) {
				t.Errorf("SANs = %v %v, want %v %v", c.EmailAddresses, c.DNSNames, tt.wantEmail, tt.wantDNS)
			}
			if !slices.Equal(c.CRLDistributionPoints, tt.wantCRL) {
				t.Errorf("CRL DP = %v, want %v", c.CRLDistributionPoints, tt.wantCRL)
			}
			want := x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment
			if c.KeyUsage != want {
				t.Errorf("key usage = %v, want %v", c.KeyUsage, want)
			}
			if n := tt.id.Key.N.BitLen(); n != RSAKeyBits {
				t.Errorf("key bits = %d", n)
			}
			if _, err := c.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection}}); err != nil {
				t.Errorf("does not chain to CA: %v", err)
			}
		})
	}
}

func TestIssueRejectsBadNames(t *testing.T) {
	t.Parallel()
	ca, err := NewDevCA("example.test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, addr := range []string{"", "no-at-sign", "Dr Who <who@example.test>"} {
		if _, err := ca.IssueAddress(addr); err == nil {
			t.Errorf("IssueAddress(%q) succeeded", addr)
		}
	}
	for _, d := range []string{"", "a@b.test", "a/b"} {
		if _, err := ca.IssueDomain(d); err == nil {
			t.Errorf("IssueDomain(%q) succeeded", d)
		}
	}
}

func TestCRL(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	ca, err := NewDevCA("example.test", now)
	if err != nil {
		t.Fatal(err)
	}
	id, err := ca.IssueAddress("a@example.test")
	if err != nil {
		t.Fatal(err)
	}
	der, err := ca.CRL(id.Cert)
	if err != nil {
		t.Fatal(err)
	}
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		t.Fatal(err)
	}
	if err := crl.CheckSignatureFrom(ca.Cert); err != nil {
		t.Fatalf("CRL signature: %v", err)
	}
	if len(crl.RevokedCertificateEntries) != 1 || crl.RevokedCertificateEntries[0].SerialNumber.Cmp(id.Cert.SerialNumber) != 0 {
		t.Errorf("revoked entries = %v", crl.RevokedCertificateEntries)
	}
	if !crl.NextUpdate.Equal(now.Add(24 * time.Hour)) {
		t.Errorf("NextUpdate = %v", crl.NextUpdate)
	}
	der2, err := ca.CRL()
	if err != nil {
		t.Fatal(err)
	}
	crl2, err := x509.ParseRevocationList(der2)
	if err != nil {
		t.Fatal(err)
	}
	if crl2.Number.Cmp(crl.Number) <= 0 {
		t.Errorf("CRL number did not increase: %v then %v", crl.Number, crl2.Number)
	}
}
