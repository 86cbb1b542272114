package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/referralgw/gateway/direct/certs"
	"github.com/referralgw/gateway/direct/dirtest"
	"github.com/referralgw/gateway/gateway"
)

// TestCertsCheckLDAPAndAIA: `certs check` for a partner that publishes no
// DNS CERT record but an LDAP directory (a real slapd found through SRV
// records of a real DNS server), whose certificate comes from an
// intermediate our anchors lack, served at its caIssuers URL. The output
// names the LDAP server the certificate came from and the intermediate
// fetched via AIA. With the outbound address guard in force the loopback
// directory is refused, saying why; a certificate pinned in the directory
// is shown as such.
func TestCertsCheckLDAPAndAIA(t *testing.T) {
	const (
		domain = "direct.ortho-q.example"
		addr   = "intake@" + domain
	)
	dir := t.TempDir()
	certDir := filepath.Join(dir, "certs")
	if _, errOut, code := gw(t, dir, "certs", "dev", "--domain", "direct.clinic-a.example", "--out", certDir); code != 0 {
		t.Fatalf("certs dev: %s", errOut)
	}
	root, err := certs.NewDevCA(domain, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	inter, err := root.NewIntermediate("Synthetic Ortho Q Issuing CA")
	if err != nil {
		t.Fatal(err)
	}
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/issuing.cer" {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write(inter.Cert.Raw)
	}))
	defer web.Close()
	inter.IssuerURL = web.URL + "/issuing.cer"
	leaf, err := inter.IssueAddress(addr)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(certDir, "anchors"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(certDir, "anchors", "ortho-q.pem"), certs.EncodeCertPEM(root.Cert), 0o600); err != nil {
		t.Fatal(err)
	}
	slapd := dirtest.StartSlapd(t, "dc=ortho-q,dc=example", []dirtest.Entry{{CN: "intake", Mail: addr, Certs: [][]byte{leaf.Cert.Raw}}})
	srv, host := "_ldap._tcp."+domain+".", "ldap."+domain+"."
	zone := dirtest.StartDNS(t, map[string][]dns.RR{
		srv:  {dirtest.SRV(srv, 10, 0, slapd.Port, host)},
		host: {dirtest.A(host, "127.0.0.1")},
	}, false)
	t.Setenv("GATEWAY_DIRECT_DOMAIN", "direct.clinic-a.example")
	t.Setenv("GATEWAY_DIRECT_CERTS", certDir)
	t.Setenv("GATEWAY_DNS", zone.Addr)

	// The guard: a directory server on loopback is not asked.
	out, errOut, code := gw(t, dir, "certs", "check", addr)
	if code != exitRefused || !strings.Contains(out, "discovery: LDAP: failed") || !strings.Contains(out, "not public") {
		t.Fatalf("guarded: %d\n%s\n%s", code, out, errOut)
	}

	t.Setenv("GATEWAY_ALLOW_PRIVATE_NETWORKS", "true")
	out, errOut, code = gw(t, dir, "certs", "check", addr)
	from := fmt.Sprintf("from: LDAP ldap.%s:%d", domain, slapd.Port)
	for _, want := range []string{
		"discovery: DNS CERT: no certificate published",
		from,
		"intermediate Synthetic Ortho Q Issuing CA (fetched via AIA " + web.URL + "/issuing.cer)",
		"anchor       Development Direct CA for " + domain,
		"verdict: usable",
		"result: Direct messages to " + addr + ` would be encrypted for "` + addr + `" (from LDAP ldap.`,
	} {
		if code != 0 || !strings.Contains(out, want) {
			t.Fatalf("LDAP and AIA: %d, output lacks %q:\n%s\n%s", code, want, out, errOut)
		}
	}

	// LDAP discovery turned off: DNS CERT alone finds nothing.
	out, errOut, code = gw(t, dir, "certs", "check", "--direct-no-ldap", addr)
	if code != exitRefused || strings.Contains(out, "LDAP") || !strings.Contains(errOut, "no certificate published") {
		t.Fatalf("--direct-no-ldap: %d\n%s\n%s", code, out, errOut)
	}

	// Pinned in the directory: shown first, and it is what sends use.
	if _, errOut, code := gw(t, dir, "migrate"); code != 0 {
		t.Fatalf("migrate: %s", errOut)
	}
	cfg, _, err := loadConfig("")
	if err != nil {
		t.Fatal(err)
	}
	a, err := openApp(context.Background(), cfg, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.svc.PutEntry(context.Background(), gateway.Actor{ID: "user:seed"}, &gateway.Entry{ID: "ortho-q",
		Kind: gateway.KindOrganization, Name: "Synthetic Orthopedics Q",
		Direct: &gateway.DirectEndpoint{Address: addr, CertPEM: string(certs.EncodeCertPEM(leaf.Cert))}}); err != nil {
		t.Fatal(err)
	}
	a.Close()
	out, errOut, code = gw(t, dir, "certs", "check", addr)
	if code != 0 || !strings.Contains(out, "directory: entry ortho-q pins a certificate") ||
		!strings.Contains(out, "from: pinned in directory entry ortho-q") ||
		!strings.Contains(out, `would be encrypted for "`+addr+`" (from pinned in directory entry ortho-q)`) {
		t.Fatalf("pinned: %d\n%s\n%s", code, out, errOut)
	}
}
