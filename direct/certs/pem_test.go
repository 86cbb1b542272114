package certs

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"testing"
	"time"
)

func TestPEMRoundTrip(t *testing.T) {
	t.Parallel()
	ca, err := NewDevCA("example.test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	id, err := ca.IssueAddress("a@example.test")
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := EncodeKeyPEM(id.Key)
	if err != nil {
		t.Fatal(err)
	}
	pkcs1 := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(id.Key)})
	otherKey, err := EncodeKeyPEM(ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		cert    []byte
		key     []byte
		wantErr bool
	}{
		{"pkcs8", EncodeCertPEM(id.Cert, ca.Cert), keyPEM, false},
		{"pkcs1", EncodeCertPEM(id.Cert), pkcs1, false},
		{"key of another cert", EncodeCertPEM(id.Cert), otherKey, true},
		{"no cert", keyPEM, keyPEM, true},
		{"no key", EncodeCertPEM(id.Cert), EncodeCertPEM(id.Cert), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := LoadIdentityPEM(tt.cert, tt.key)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if !got.Cert.Equal(id.Cert) || !got.Key.Equal(id.Key) {
				t.Error("loaded identity differs")
			}
		})
	}
}

func TestPKCS12RoundTrip(t *testing.T) {
	t.Parallel()
	ca, err := NewDevCA("example.test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	id, err := ca.IssueDomain("example.test")
	if err != nil {
		t.Fatal(err)
	}
	id.Chain = []*x509.Certificate{ca.Cert}
	p12, err := EncodePKCS12(id, "synthetic-pass")
	if err != nil {
		t.Fatal(err)
	}
	got, err := LoadPKCS12(p12, "synthetic-pass")
	if err != nil {
		t.Fatal(err)
	}
	if !got.Cert.Equal(id.Cert) || !got.Key.Equal(id.Key) || len(got.Chain) != 1 || !got.Chain[0].Equal(ca.Cert) {
		t.Error("PKCS#12 round trip changed the identity")
	}
	if _, err := LoadPKCS12(p12, "wrong"); err == nil {
		t.Error("wrong password accepted")
	}
}

func TestCRLPEM(t *testing.T) {
	t.Parallel()
	ca, err := NewDevCA("example.test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	der, err := ca.CRL()
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(EncodeCRLPEM(der))
	if block == nil || block.Type != "X509 CRL" || !bytes.Equal(block.Bytes, der) {
		t.Errorf("EncodeCRLPEM block = %+v", block)
	}
}

func FuzzDecodeCertsPEM(f *testing.F) {
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"))
	f.Add([]byte("not pem"))
	f.Fuzz(func(t *testing.T, data []byte) {
		certs, err := DecodeCertsPEM(data)
		if err == nil && len(certs) == 0 {
			t.Error("no error and no certificates")
		}
		_, _ = DecodeKeyPEM(data)
	})
}

// FuzzLoadPKCS12 starts from testdata/fuzz/FuzzLoadPKCS12/synthetic-identity,
// a PKCS#12 file of a synthetic dev-CA identity (password
// "synthetic-pass"), so that workers do not generate RSA keys.
func FuzzLoadPKCS12(f *testing.F) {
	f.Add([]byte{0x30, 0x03, 0x02, 0x01, 0x03}, "")
	f.Fuzz(func(t *testing.T, data []byte, password string) {
		got, err := LoadPKCS12(data, password)
		if err == nil && (got.Cert == nil || got.Key == nil) {
			t.Error("incomplete identity without error")
		}
	})
}
