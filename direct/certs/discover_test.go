package certs

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// dnsZone is an in-process authoritative server on 127.0.0.1 (UDP and TCP,
// same port) answering CERT queries from a map of owner name to records.
type dnsZone struct {
	addr string
	mu   sync.Mutex
	// queries records "net name" for every question, to assert TCP fallback.
	queries []string
}

func startDNS(t *testing.T, records map[string][]dns.RR, truncateUDP bool) *dnsZone {
	t.Helper()
	z := &dnsZone{}
	handler := dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		m.Authoritative = true
		q := r.Question[0]
		network := w.LocalAddr().Network()
		z.mu.Lock()
		z.queries = append(z.queries, network+" "+strings.ToLower(q.Name))
		z.mu.Unlock()
		rrs, ok := records[strings.ToLower(q.Name)]
		switch {
		case !ok:
			m.Rcode = dns.RcodeNameError
		case rrs == nil:
			m.Rcode = dns.RcodeServerFailure
		case truncateUDP && network == "udp":
			m.Truncated = true
		default:
			m.Answer = rrs
		}
		_ = w.WriteMsg(m)
	})
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", pc.LocalAddr().String())
	if err != nil {
		pc.Close()
		t.Skipf("TCP port matching the UDP port is taken: %v", err)
	}
	z.addr = pc.LocalAddr().String()
	udp := &dns.Server{PacketConn: pc, Handler: handler}
	tcp := &dns.Server{Listener: ln, Handler: handler}
	started := make(chan struct{}, 2)
	udp.NotifyStartedFunc = func() { started <- struct{}{} }
	tcp.NotifyStartedFunc = func() { started <- struct{}{} }
	go func() { _ = udp.ActivateAndServe() }()
	go func() { _ = tcp.ActivateAndServe() }()
	<-started
	<-started
	t.Cleanup(func() {
		_ = udp.Shutdown()
		_ = tcp.Shutdown()
	})
	return z
}

func certRR(t *testing.T, name string, certType uint16, der []byte) dns.RR {
	t.Helper()
	return &dns.CERT{
		Hdr:         dns.RR_Header{Name: name, Rrtype: dns.TypeCERT, Class: dns.ClassINET, Ttl: 300},
		Type:        certType,
		Certificate: base64.StdEncoding.EncodeToString(der),
	}
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
			d := &Discoverer{Server: z.addr, Timeout: 5 * time.Second}
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
				z.mu.Lock()
				defer z.mu.Unlock()
				if !strings.HasPrefix(z.queries[len(z.queries)-1], "tcp ") {
					t.Errorf("last query %q was not over TCP", z.queries[len(z.queries)-1])
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
