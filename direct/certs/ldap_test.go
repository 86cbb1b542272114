package certs_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/referralgw/gateway/direct/certs"
	"github.com/referralgw/gateway/direct/dirtest"
	"github.com/referralgw/gateway/direct/internal/osslca"
)

const (
	ldapDomain = "direct.cardio-l.example"
	ldapAddr   = "intake@" + ldapDomain
	srvName    = "_ldap._tcp." + ldapDomain + "."
)

// ldapPKI is an OpenSSL CA with an address-bound and a domain-bound
// certificate for ldapDomain.
type ldapPKI struct {
	addrDER, domDER []byte
}

func newLDAPPKI(t *testing.T) ldapPKI {
	t.Helper()
	p := osslca.New(t, "")
	return ldapPKI{
		addrDER: p.IssueLeaf(t, "addr", osslca.Leaf{Email: ldapAddr}),
		domDER:  p.IssueLeaf(t, "dom", osslca.Leaf{DNS: ldapDomain}),
	}
}

// zoneFor serves the SRV records given and an A record 127.0.0.1 for each
// ldapN.<domain> target they name.
func zoneFor(t *testing.T, srvs ...dns.RR) *dirtest.Zone {
	t.Helper()
	records := map[string][]dns.RR{}
	if len(srvs) > 0 {
		records[srvName] = srvs
	}
	for _, rr := range srvs {
		target := rr.(*dns.SRV).Target
		records[target] = []dns.RR{dirtest.A(target, "127.0.0.1")}
	}
	return dirtest.StartDNS(t, records, false)
}

func ldapFinder(z *dirtest.Zone) *certs.LDAPDiscoverer {
	return &certs.LDAPDiscoverer{DNS: &certs.Discoverer{Server: z.Addr, Timeout: 2 * time.Second},
		ConnectTimeout: time.Second, Timeout: time.Second}
}

func target(n int) string { return fmt.Sprintf("ldap%d.%s.", n, ldapDomain) }

// TestLDAPFind runs discovery against a real slapd reached through SRV
// records served by a real DNS server: address-bound entries come before
// domain-bound ones, a directory with only a domain-bound entry yields it,
// and a domain without an SRV record has nothing to discover.
func TestLDAPFind(t *testing.T) {
	t.Parallel()
	pki := newLDAPPKI(t)
	both := dirtest.StartSlapd(t, "dc=cardio-l,dc=example", []dirtest.Entry{
		{CN: "hisp", Mail: ldapDomain, Certs: [][]byte{pki.domDER}},
		{CN: "intake", Mail: ldapAddr, Certs: [][]byte{pki.addrDER}},
		{CN: "other", Mail: "other@" + ldapDomain, Certs: [][]byte{pki.addrDER}},
	})
	domainOnly := dirtest.StartSlapd(t, "dc=cardio-l,dc=example", []dirtest.Entry{
		{CN: "hisp", Mail: ldapDomain, Certs: [][]byte{pki.domDER}},
	})

	t.Run("address-bound first", func(t *testing.T) {
		z := zoneFor(t, dirtest.SRV(srvName, 10, 0, both.Port, target(1)))
		found, err := ldapFinder(z).Find(t.Context(), ldapAddr)
		if err != nil {
			t.Fatal(err)
		}
		if len(found) != 2 || !bytesEq(found[0].Cert.Raw, pki.addrDER) || !bytesEq(found[1].Cert.Raw, pki.domDER) {
			t.Fatalf("found %d certificates, want the address-bound then the domain-bound one: %v", len(found), subjects(found))
		}
		want := fmt.Sprintf("LDAP %s:%d", strings.TrimSuffix(target(1), "."), both.Port)
		if found[0].Origin != want {
			t.Fatalf("origin %q, want %q", found[0].Origin, want)
		}
	})
	t.Run("domain-bound fallback", func(t *testing.T) {
		z := zoneFor(t, dirtest.SRV(srvName, 10, 0, domainOnly.Port, target(1)))
		found, err := ldapFinder(z).Find(t.Context(), ldapAddr)
		if err != nil {
			t.Fatal(err)
		}
		if len(found) != 1 || !bytesEq(found[0].Cert.Raw, pki.domDER) {
			t.Fatalf("found %v, want the domain-bound certificate", subjects(found))
		}
	})
	t.Run("nothing for the address or domain", func(t *testing.T) {
		z := zoneFor(t, dirtest.SRV(srvName, 10, 0, both.Port, target(1)))
		_, err := ldapFinder(z).Find(t.Context(), "intake@direct.elsewhere.example")
		if !errors.Is(err, certs.ErrNotDiscovered) {
			t.Fatalf("err = %v, want ErrNotDiscovered", err)
		}
	})
	t.Run("no SRV record", func(t *testing.T) {
		z := zoneFor(t)
		_, err := ldapFinder(z).Find(t.Context(), ldapAddr)
		if !errors.Is(err, certs.ErrNotDiscovered) || !strings.Contains(err.Error(), "no SRV record") {
			t.Fatalf("err = %v, want ErrNotDiscovered naming the missing SRV record", err)
		}
	})
	t.Run("dead servers are skipped", func(t *testing.T) {
		// Priority 1: a closed port; priority 2: a listener that never
		// answers; priority 3: the real directory.
		z := zoneFor(t,
			dirtest.SRV(srvName, 3, 0, domainOnly.Port, target(3)),
			dirtest.SRV(srvName, 1, 0, dirtest.ClosedPort(t), target(1)),
			dirtest.SRV(srvName, 2, 0, silent(t), target(2)))
		found, err := ldapFinder(z).Find(t.Context(), ldapAddr)
		if err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf("LDAP %s:%d", strings.TrimSuffix(target(3), "."), domainOnly.Port)
		if len(found) != 1 || found[0].Origin != want {
			t.Fatalf("found %v, want one certificate from %s", subjects(found), want)
		}
	})
	t.Run("priority decides", func(t *testing.T) {
		// Both servers answer; the lower priority value is asked first, and
		// the first server that answers decides.
		z := zoneFor(t,
			dirtest.SRV(srvName, 20, 100, both.Port, target(2)),
			dirtest.SRV(srvName, 10, 1, domainOnly.Port, target(1)))
		found, err := ldapFinder(z).Find(t.Context(), ldapAddr)
		if err != nil {
			t.Fatal(err)
		}
		if len(found) != 1 || !strings.Contains(found[0].Origin, strings.TrimSuffix(target(1), ".")) {
			t.Fatalf("found %v, want the priority-10 server's answer only", subjects(found))
		}
	})
	t.Run("every server dead", func(t *testing.T) {
		z := zoneFor(t, dirtest.SRV(srvName, 1, 0, dirtest.ClosedPort(t), target(1)),
			dirtest.SRV(srvName, 2, 0, silent(t), target(2)))
		_, err := ldapFinder(z).Find(t.Context(), ldapAddr)
		if err == nil || errors.Is(err, certs.ErrNotDiscovered) || !strings.Contains(err.Error(), "no LDAP server answered") ||
			!strings.Contains(err.Error(), strings.TrimSuffix(target(2), ".")) {
			t.Fatalf("err = %v, want a failure naming both servers", err)
		}
	})
}

// TestOrderSRV checks RFC 2782 ordering with a chosen random source:
// priorities in order, and within one the running sum of weights selects.
func TestOrderSRV(t *testing.T) {
	t.Parallel()
	srv := func(prio, weight uint16, name string) *dns.SRV {
		return &dns.SRV{Priority: prio, Weight: weight, Target: name}
	}
	records := []*dns.SRV{srv(20, 0, "late"), srv(10, 10, "a"), srv(10, 30, "b"), srv(10, 0, "zero")}
	cases := []struct {
		name  string
		draws []int
		want  string
	}{
		// Group 10 is arranged zero, a(10), b(30): a draw of 0 picks zero.
		{"zero weight drawn", []int{0, 0, 0, 0}, "zero a b late"},
		// A draw of 5 passes zero (sum 0) and stops at a (sum 10).
		{"lighter first", []int{5, 0, 0, 0}, "a zero b late"},
		// 11 runs past a: b; then sum 10 left: 1 picks a.
		{"heavier first", []int{11, 1, 0, 0}, "b a zero late"},
	}
	for _, tc := range cases {
		i := 0
		got := certs.OrderSRV(records, func(n int) int {
			d := tc.draws[i]
			i++
			if d >= n {
				t.Fatalf("%s: draw %d out of [0,%d)", tc.name, d, n)
			}
			return d
		})
		var names []string
		for _, s := range got {
			names = append(names, s.Target)
		}
		if strings.Join(names, " ") != tc.want {
			t.Errorf("%s: order %v, want %s", tc.name, names, tc.want)
		}
	}
	// With the real random source, every record comes out once, priorities in order.
	got := certs.OrderSRV(records, nil)
	if len(got) != 4 || got[3].Target != "late" {
		t.Fatalf("order %v", got)
	}
}

func silent(t *testing.T) uint16 {
	port, _ := dirtest.SilentListener(t)
	return port
}

func bytesEq(a, b []byte) bool { return string(a) == string(b) }

func subjects(found []certs.Found) []string {
	var out []string
	for _, f := range found {
		out = append(out, f.Cert.Subject.CommonName+" from "+f.Origin)
	}
	return out
}
