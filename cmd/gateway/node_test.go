package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/referralgw/gateway/fhir/smart"
)

// lockedBuffer is a bytes.Buffer safe for a writer and a poller.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *lockedBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *lockedBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// pollUntil polls cond until it returns true or ten seconds pass.
func pollUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond) // polling interval, not a wait for work
	}
}

// TestServeWiresEveryEdge starts `serve` with Direct configured from a
// `certs dev` directory and a client registered with `client add`, then
// talks to each edge over its real listener: health, FHIR metadata and
// discovery, the SMART token endpoint with the registered client, an
// authorised FHIR search, and the SMTP listener offering STARTTLS. It then
// shuts the node down and checks that serve returns cleanly.
func TestServeWiresEveryEdge(t *testing.T) {
	dir := t.TempDir()
	certDir := filepath.Join(dir, "certs")
	out, errs, code := gw(t, dir, "certs", "dev", "--domain", "direct.clinic-a.example", "--address", "referrals@direct.clinic-a.example", "--out", certDir)
	if code != 0 || !strings.Contains(out, "DEVELOPMENT CA") {
		t.Fatalf("certs dev: %d %q %q", code, out, errs)
	}
	for _, f := range []string{"ca.pem", "referrals@direct.clinic-a.example.pem", "referrals@direct.clinic-a.example-key.pem"} {
		if _, err := os.Stat(filepath.Join(certDir, f)); err != nil {
			t.Fatalf("certs dev did not write %s: %v", f, err)
		}
	}
	if _, errs, code := gw(t, dir, "directory", "import", repoFile("directory.json")); code != 0 {
		t.Fatalf("import: %s", errs)
	}
	key, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jwks, err := smart.PublicJWKS(smart.PublicKeyWithKID{KID: "ehr-1", Key: &key.PublicKey})
	if err != nil {
		t.Fatal(err)
	}
	jwksFile := filepath.Join(dir, "jwks.json")
	if err := os.WriteFile(jwksFile, jwks, 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"registered", []string{"client", "add", "--org", "clinic-a", "--jwks", jwksFile, "--scope", "system/Task.rs system/Task.u", "--id", "ehr-a"}, 0, "client id: ehr-a"},
		{"unknown org", []string{"client", "add", "--org", "nobody", "--jwks", jwksFile, "--scope", "system/Task.rs"}, 1, "not found"},
		{"bad scope", []string{"client", "add", "--org", "clinic-a", "--jwks", jwksFile, "--scope", "patient/Task.read"}, 1, "scope"},
		{"missing flags", []string{"client", "add", "--org", "clinic-a"}, 2, "required"},
		{"certs without domain", []string{"certs", "dev"}, 2, "--domain"},
	}
	for _, tc := range cases {
		out, errs, code := gw(t, dir, tc.args...)
		if code != tc.code || !strings.Contains(out+errs, tc.want) {
			t.Fatalf("%s: %d %q %q; want %d and %q", tc.name, code, out, errs, tc.code, tc.want)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr lockedBuffer
	done := make(chan error, 1)
	t.Setenv("GATEWAY_DATA_DIR", dir)
	t.Setenv("GATEWAY_FAX_KEY", "synthetic-key")
	t.Setenv("GATEWAY_FAX_SECRET", "synthetic-secret")
	t.Setenv("GATEWAY_FAX_CALLBACK_TOKEN", "synthetic-token")
	go func() {
		done <- run(ctx, []string{"serve", "--http", "127.0.0.1:0", "--smtp", "127.0.0.1:0",
			"--direct-domain", "direct.clinic-a.example", "--direct-certs", certDir,
			"--fax-api", "http://127.0.0.1:9", "--fax-allow-http", "--fax-vendor", "faxvendor"}, &stdout, &stderr)
	}()
	httpRe := regexp.MustCompile(`listening on (http://[0-9.:]+)`)
	smtpRe := regexp.MustCompile(`SMTP on ([0-9.:]+)`)
	pollUntil(t, "serve to listen", func() bool { return smtpRe.MatchString(stdout.String()) })
	base := httpRe.FindStringSubmatch(stdout.String())[1]
	smtpAddr := smtpRe.FindStringSubmatch(stdout.String())[1]
	if !strings.Contains(stdout.String(), "callback "+base+"/fax/callback") {
		t.Errorf("serve output does not name the fax callback:\n%s", stdout.String())
	}
	resp, err := http.Post(base+"/fax/callback", "application/x-www-form-urlencoded", strings.NewReader("success=true"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("unsigned fax callback: %d, want 401", resp.StatusCode)
	}

	get := func(path, token string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, base+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		return resp.StatusCode, b.String()
	}
	ts := &smart.TokenSource{TokenURL: base + smart.TokenPath, ClientID: "ehr-a", Key: key, KeyID: "ehr-1", Scopes: []string{"system/Task.rs"}}
	token, err := ts.Token(ctx)
	if err != nil {
		t.Fatalf("token for the registered client: %v", err)
	}
	checks := []struct {
		path, token string
		code        int
		want        string
	}{
		{"/healthz", "", 200, "ok"},
		{"/readyz", "", 200, "ready"},
		{"/fhir/metadata", "", 200, "CapabilityStatement"},
		{smart.ConfigurationPath, "", 200, "client_credentials"},
		{"/fhir" + smart.ConfigurationPath, "", 200, base + smart.TokenPath},
		{"/.well-known/jwks.json", "", 200, `"P-384"`},
		{"/fhir/Task", "", 401, ""},
		{"/fhir/Task", token, 200, `"searchset"`},
		{"/metrics", "", 200, "gateway_http_requests_total"},
	}
	for _, c := range checks {
		code, body := get(c.path, c.token)
		if code != c.code || !strings.Contains(body, c.want) {
			t.Errorf("GET %s: %d, want %d with %q; body %.200s", c.path, code, c.code, c.want, body)
		}
	}

	conn, err := net.DialTimeout("tcp", smtpAddr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	r := bufio.NewReader(conn)
	greet, _ := r.ReadString('\n')
	if _, err := conn.Write([]byte("EHLO test.example\r\n")); err != nil {
		t.Fatal(err)
	}
	var ehlo strings.Builder
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("EHLO reply: %v", err)
		}
		ehlo.WriteString(line)
		if len(line) > 3 && line[3] == ' ' {
			break
		}
	}
	conn.Close()
	if !strings.HasPrefix(greet, "220") || !strings.Contains(ehlo.String(), "STARTTLS") {
		t.Fatalf("smtp greeting %q, EHLO %q", greet, ehlo.String())
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not shut down")
	}
	// The keys were generated once and are reused.
	for _, f := range []string{"fhir-client.pem", "token.pem"} {
		if _, err := os.Stat(filepath.Join(dir, "keys", f)); err != nil {
			t.Errorf("key %s: %v", f, err)
		}
	}
	if out, _, code := gw(t, dir, "audit", "verify"); code != 0 || !strings.Contains(out, "intact") {
		t.Errorf("audit verify after serve: %d %s", code, out)
	}
}
