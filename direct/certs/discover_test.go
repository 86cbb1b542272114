package certs

import (
	"context"
	"crypto/x509"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/referralgw/gateway/direct/dirtest"
)

func startDNS(t *testing.T, records map[string][]dns.RR, truncateUDP bool) *dirtest.Zone {
	t.Helper()
	return dirtest.StartDNS(t, records, truncateUDP)
}

func certRR(t *testing.T, name string, certType uint16, der []byte) dns.RR {
	t.Helper()
	return dirtest.CERT(name, certType, der)
}

// errServFail stands for "an error that is not ErrNotDiscovered".
var errServFail = errors.New("SERVFAIL")

func TestDiscover(t *testing.T) {
	t.Parallel()
	ca, err := NewDevCA("direct.example-clinic.test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	addrID, err := ca.IssueAddress("dr.rivera@direct.example-clinic.test")
	if err != nil {
		t.Fatal(err)
	}
	domID, err := ca.IssueDomain("direct.example-clinic.test")
	if err != nil {
		t.Fatal(err)
	}
	records := map[string][]dns.RR{
		"dr.rivera.direct.example-clinic.test.": {
			certRR(t, "dr.rivera.direct.example-clinic.test.", 1, addrID.Cert.Raw),
			certRR(t, "dr.rivera.direct.example-clinic.test.", 4, []byte("https://example.test/cert")), // IPKIX: skipped
		},
		"direct.example-clinic.test.": {certRR(t, "direct.example-clinic.test.", 1, domID.Cert.Raw)},
		// A broken zone: the server fails for both names.
		"a.broken.test.": nil,
		"broken.test.":   nil,
	}
	tests := []struct {
		name     string
		address  string
		truncate bool
		want     *x509.Certificate
		wantErr  error
	}{
		{"address record over UDP", "dr.rivera@direct.example-clinic.test", false, addrID.Cert, nil},
		{"domain fallback", "dr.okafor@direct.example-clinic.test", false, domID.Cert, nil},
		{"TCP after truncation", "dr.rivera@direct.example-clinic.test", true, addrID.Cert, nil},
		{"nothing published", "someone@nowhere.test", false, nil, ErrNotDiscovered},
		{"resolver failure", "a@broken.test", false, nil, errServFail},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			z := startDNS(t, records, tt.truncate)
			d := &Discoverer{Server: z.Addr, Timeout: 5 * time.Second}
			got, err := d.Discover(context.Background(), tt.address)
			if tt.wantErr == errServFail {
				if err == nil || errors.Is(err, ErrNotDiscovered) || !strings.Contains(err.Error(), "SERVFAIL") {
					t.Fatalf("err = %v, want a resolver failure", err)
				}
				return
			}
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || !got[0].Equal(tt.want) {
				t.Fatalf("got %d certificates, want exactly %q", len(got), tt.want.Subject.CommonName)
			}
			if tt.truncate {
				queries := z.Queries()
				if !strings.HasPrefix(queries[len(queries)-1], "tcp ") {
					t.Errorf("last query %q was not over TCP", queries[len(queries)-1])
				}
			}
		})
	}
}

func TestDiscoverRejectsNonAddress(t *testing.T) {
	t.Parallel()
	d := &Discoverer{Server: "127.0.0.1:1"}
	for _, a := range []string{"", "nobody", "@example.test", "a@"} {
		if _, err := d.Discover(context.Background(), a); err == nil {
			t.Errorf("Discover(%q) succeeded", a)
		}
	}
}

// FuzzParseCERTRecord also starts from testdata/fuzz/FuzzParseCERTRecord,
// a synthetic dev-CA certificate as a PKIX record.
func FuzzParseCERTRecord(f *testing.F) {
	f.Add(uint16(4), "aHR0cHM6Ly9leGFtcGxlLnRlc3Q=")
	f.Add(uint16(1), "!!!")
	f.Fuzz(func(t *testing.T, typ uint16, b64 string) {
		c, err := ParseCERTRecord(typ, b64)
		if err == nil && (c == nil || typ != certTypePKIX) {
			t.Errorf("accepted type %d with cert %v", typ, c)
		}
	})
}
