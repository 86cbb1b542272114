// Package dirtest starts the directory services certificate discovery
// talks to, for tests: an authoritative DNS server (miekg/dns) and an
// OpenLDAP slapd run from the Debian package with a temporary database.
// Both are real servers on loopback sockets. It is test support only.
package dirtest

import (
	"encoding/base64"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/dns"
)

// Zone is an in-process authoritative DNS server on 127.0.0.1 (UDP and
// TCP on the same port).
type Zone struct {
	// Addr is the server's host:port.
	Addr    string
	mu      sync.Mutex
	queries []string
}

// Queries returns "network name" for every question asked so far.
func (z *Zone) Queries() []string {
	z.mu.Lock()
	defer z.mu.Unlock()
	return append([]string(nil), z.queries...)
}

// StartDNS serves records (lower-case owner name with trailing dot → its
// records): an unknown name is NXDOMAIN, a name mapped to nil SERVFAIL,
// and a known name answers its records of the type asked. With
// truncateUDP every UDP answer is truncated, so clients must ask over TCP.
func StartDNS(t *testing.T, records map[string][]dns.RR, truncateUDP bool) *Zone {
	t.Helper()
	z := &Zone{}
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
			for _, rr := range rrs {
				if rr.Header().Rrtype == q.Qtype {
					m.Answer = append(m.Answer, rr)
				}
			}
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
	z.Addr = pc.LocalAddr().String()
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

// CERT is a CERT record of type certType at name carrying der inline.
func CERT(name string, certType uint16, der []byte) dns.RR {
	return &dns.CERT{
		Hdr:         dns.RR_Header{Name: name, Rrtype: dns.TypeCERT, Class: dns.ClassINET, Ttl: 300},
		Type:        certType,
		Certificate: base64.StdEncoding.EncodeToString(der),
	}
}

// SRV is an SRV record at name pointing to target:port.
func SRV(name string, priority, weight, port uint16, target string) dns.RR {
	return &dns.SRV{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeSRV, Class: dns.ClassINET, Ttl: 300},
		Priority: priority, Weight: weight, Port: port, Target: dns.Fqdn(target)}
}

// A is an address record for name.
func A(name, ip string) dns.RR {
	return &dns.A{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 300}, A: net.ParseIP(ip)}
}
