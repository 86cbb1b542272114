package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/referralgw/gateway/fhir/smart"
)

// hammerNode is a running `serve` for the hammering test.
type hammerNode struct {
	base, smtp string
	cancel     context.CancelFunc
	done       chan error
}

func startHammerNode(t *testing.T, dir, certDir string, args ...string) *hammerNode {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr lockedBuffer
	n := &hammerNode{cancel: cancel, done: make(chan error, 1)}
	go func() {
		n.done <- run(ctx, append([]string{"serve", "--http", "127.0.0.1:0", "--smtp", "127.0.0.1:0",
			"--direct-domain", "direct.clinic-a.example", "--direct-certs", certDir,
			"--fax-api", "http://127.0.0.1:9", "--fax-allow-http", "--fax-vendor", "faxvendor"}, args...), &stdout, &stderr)
	}()
	httpRe := regexp.MustCompile(`listening on (http://[0-9.:]+)`)
	smtpRe := regexp.MustCompile(`SMTP on ([0-9.:]+)`)
	pollUntil(t, "serve to listen", func() bool { return smtpRe.MatchString(stdout.String()) })
	n.base = httpRe.FindStringSubmatch(stdout.String())[1]
	n.smtp = smtpRe.FindStringSubmatch(stdout.String())[1]
	return n
}

func (n *hammerNode) stop(t *testing.T) {
	t.Helper()
	n.cancel()
	select {
	case err := <-n.done:
		if err != nil {
			t.Fatalf("serve: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("serve did not shut down")
	}
}

// TestHammeredEdgesHoldAndLeakNothing runs `serve` with Direct and fax and
// short limits, hammers the HTTP and SMTP listeners the way a hostile
// script would (an oversized FHIR body, oversized headers, slow bodies
// past the per-address cap, forged fax callbacks; a connection flood past
// the SMTP caps, STARTTLS answered with garbage, recipients pipelined past
// the limit, oversized, relayed and abandoned messages, DATA and BDAT
// alike), checks each
// answer, then shuts down with an idle SMTP session and an idle keep-alive
// open and checks that both are closed and no goroutine is left behind.
func TestHammeredEdgesHoldAndLeakNothing(t *testing.T) {
	dir := t.TempDir()
	certDir := filepath.Join(dir, "certs")
	if _, errs, code := gw(t, dir, "certs", "dev", "--domain", "direct.clinic-a.example", "--address", "referrals@direct.clinic-a.example", "--out", certDir); code != 0 {
		t.Fatalf("certs dev: %s", errs)
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
	if _, errs, code := gw(t, dir, "client", "add", "--org", "clinic-a", "--jwks", jwksFile, "--scope", "system/Task.c system/ServiceRequest.c", "--id", "ehr-a"); code != 0 {
		t.Fatalf("client add: %s", errs)
	}
	t.Setenv("GATEWAY_DATA_DIR", dir)
	t.Setenv("GATEWAY_FAX_KEY", "synthetic-key")
	t.Setenv("GATEWAY_FAX_SECRET", "synthetic-secret")
	t.Setenv("GATEWAY_FAX_CALLBACK_TOKEN", "synthetic-token")

	// A first run starts whatever the process keeps once started (pools,
	// tracing globals); what a second run leaves beyond that is a leak.
	startHammerNode(t, dir, certDir).stop(t)
	before := runtime.NumGoroutine()

	n := startHammerNode(t, dir, certDir, "--http-body-timeout", "1s", "--http-max-conns-per-addr", "16",
		"--smtp-max-sessions", "8", "--smtp-max-sessions-per-addr", "4", "--smtp-max-message-mb", "1", "--smtp-receive-budget-mb", "64")
	tr := &http.Transport{}
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	defer tr.CloseIdleConnections()

	ts := &smart.TokenSource{TokenURL: n.base + smart.TokenPath, ClientID: "ehr-a", Key: key, KeyID: "ehr-1", Scopes: []string{"system/Task.c", "system/ServiceRequest.c"}, HTTPClient: client}
	token, err := ts.Token(context.Background())
	if err != nil {
		t.Fatalf("token: %v", err)
	}
	hammerHTTP(t, n, client, token)
	hammerToken(t, n, ts)
	hammerSMTP(t, n)

	// Shutdown does not wait on clients that hold connections and say
	// nothing: the SMTP session is told 421, the keep-alive is closed.
	idleSMTP, err := net.Dial("tcp", n.smtp)
	if err != nil {
		t.Fatal(err)
	}
	defer idleSMTP.Close()
	smtpLines := bufio.NewReader(idleSMTP)
	if greet, _ := smtpLines.ReadString('\n'); !strings.HasPrefix(greet, "220 ") {
		t.Fatalf("idle SMTP session greeted %q", greet)
	}
	idleHTTP, err := net.Dial("tcp", strings.TrimPrefix(n.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer idleHTTP.Close()
	httpLines := bufio.NewReader(idleHTTP)
	if _, err := io.WriteString(idleHTTP, "GET /healthz HTTP/1.1\r\nHost: gw\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	if resp, err := http.ReadResponse(httpLines, nil); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("keep-alive request: %v", err)
	} else {
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	tr.CloseIdleConnections()
	n.stop(t)
	_ = idleSMTP.SetReadDeadline(time.Now().Add(30 * time.Second))
	if rest, err := io.ReadAll(smtpLines); err != nil || !strings.HasPrefix(string(rest), "421 ") {
		t.Errorf("idle SMTP session at shutdown: %q, %v; want 421 and the connection closed", rest, err)
	}
	_ = idleHTTP.SetReadDeadline(time.Now().Add(30 * time.Second))
	if rest, err := io.ReadAll(httpLines); err != nil || len(rest) != 0 {
		t.Errorf("idle keep-alive at shutdown: %q, %v; want it closed", rest, err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			var dump bytes.Buffer
			_ = pprof.Lookup("goroutine").WriteTo(&dump, 1)
			t.Fatalf("%d goroutines after the hammered run, %d before:\n%s", runtime.NumGoroutine(), before, dump.String())
		}
		time.Sleep(10 * time.Millisecond) // polling interval
	}
}

func hammerHTTP(t *testing.T, n *hammerNode, client *http.Client, token string) {
	t.Helper()
	// An oversized FHIR body is refused with an OperationOutcome.
	big := bytes.Repeat([]byte(" "), 21<<20)
	req, _ := http.NewRequest(http.MethodPost, n.base+"/fhir", bytes.NewReader(big))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/fhir+json")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(body), `"OperationOutcome"`) {
		t.Errorf("oversized FHIR body: %d %.300s, want 413 with an OperationOutcome", resp.StatusCode, body)
	}

	// Oversized headers.
	req, _ = http.NewRequest(http.MethodGet, n.base+"/fhir/metadata", nil)
	req.Header.Set("X-Filler", strings.Repeat("a", 80<<10))
	if resp, err := client.Do(req); err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("80 KiB of headers: %d, want 431", resp.StatusCode)
		}
	}

	// Past the per-address connection cap, a FHIR request is refused with
	// an OperationOutcome (code throttled), as every FHIR error is.
	var hold []net.Conn
	for range 16 {
		c, err := net.Dial("tcp", strings.TrimPrefix(n.base, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		hold = append(hold, c)
	}
	over, err := net.Dial("tcp", strings.TrimPrefix(n.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	_ = over.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(over, "GET /fhir/metadata HTTP/1.1\r\nHost: gw\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err = http.ReadResponse(bufio.NewReader(over), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" ||
		!strings.HasPrefix(resp.Header.Get("Content-Type"), "application/fhir+json") ||
		!strings.Contains(string(body), `"OperationOutcome"`) || !strings.Contains(string(body), `"throttled"`) {
		t.Errorf("FHIR request past the connection cap: %d %v %.300s, want 429 with an OperationOutcome", resp.StatusCode, resp.Header, body)
	}
	over.Close()
	for _, c := range append(hold, over) {
		_ = c.Close()
	}
	// Their slots are given back when the server sees them close.
	pollUntil(t, "the held connections to be released", func() bool {
		c, err := net.Dial("tcp", strings.TrimPrefix(n.base, "http://"))
		if err != nil {
			return false
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n"); err != nil {
			return false
		}
		r, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return false
		}
		r.Body.Close()
		return r.StatusCode == http.StatusOK
	})

	// Slow bodies, from more connections than one address may hold: each
	// is either refused or cut off at the body timeout, none read whole.
	var wg sync.WaitGroup
	for range 24 {
		wg.Go(func() {
			c, err := net.Dial("tcp", strings.TrimPrefix(n.base, "http://"))
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(30 * time.Second))
			if _, err := io.WriteString(c, "POST "+smart.TokenPath+" HTTP/1.1\r\nHost: gw\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 60000\r\n\r\n"); err != nil {
				return
			}
			done := make(chan struct{})
			go func() {
				defer close(done)
				_, err := io.Copy(io.Discard, c)
				if ne, ok := err.(net.Error); ok && ne.Timeout() {
					t.Error("a slow-body connection was kept open")
				}
			}()
			for {
				select {
				case <-done:
					return
				case <-time.After(50 * time.Millisecond): // the trickle's pace, not a wait for work
				}
				if _, err := c.Write([]byte("x")); err != nil {
					<-done
					return
				}
			}
		})
	}
	wg.Wait()

	// Forged fax callbacks: 401 until the address's allowance is spent,
	// then 429.
	var codes []int
	for range 30 {
		resp, err := client.Post(n.base+"/fax/callback", "application/x-www-form-urlencoded", strings.NewReader("success=true&fax=%7B%22id%22%3A1%7D"))
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		codes = append(codes, resp.StatusCode)
	}
	if codes[0] != http.StatusUnauthorized || codes[len(codes)-1] != http.StatusTooManyRequests {
		t.Errorf("forged callbacks answered %v, want 401s then 429s", codes)
	}
}

// hammerToken posts forged client assertions from another address: 400
// invalid_client until that address's allowance is spent, then 429 with Retry-After in the
// OAuth error form, while the registered client still gets its tokens.
func hammerToken(t *testing.T, n *hammerNode, ts *smart.TokenSource) {
	t.Helper()
	other, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}
	tr := &http.Transport{DialContext: d.DialContext}
	defer tr.CloseIdleConnections()
	forger := &smart.TokenSource{TokenURL: ts.TokenURL, ClientID: ts.ClientID, Key: other, KeyID: ts.KeyID, Scopes: ts.Scopes,
		HTTPClient: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
	var statuses []int
	var last *smart.TokenError
	for range smart.DefaultFailureBurst + 5 {
		forger.Invalidate()
		_, err := forger.Token(context.Background())
		if !errors.As(err, &last) {
			t.Fatalf("forged assertion: %v", err)
		}
		statuses = append(statuses, last.Status)
	}
	if statuses[0] != http.StatusBadRequest || last.Status != http.StatusTooManyRequests || last.Code != smart.CodeInvalidClient {
		t.Errorf("forged assertions answered %v, the last %+v; want 400s, then 429 invalid_client", statuses, last)
	}
	ts.Invalidate()
	if _, err := ts.Token(context.Background()); err != nil {
		t.Errorf("the registered client, from its own address, during the flood: %v", err)
	}
}

func hammerSMTP(t *testing.T, n *hammerNode) {
	t.Helper()
	tlsCfg := &tls.Config{InsecureSkipVerify: true} // the listener's self-signed development certificate
	// A flood of connections, all held open until each has heard its
	// first line: beyond the 4 one address may hold, they are told 421.
	const flood = 60
	var wg, greeted sync.WaitGroup
	var mu sync.Mutex
	refused := 0
	greeted.Add(flood)
	for range flood {
		wg.Go(func() {
			var line string
			defer func() {
				if strings.HasPrefix(line, "421 ") {
					mu.Lock()
					refused++
					mu.Unlock()
				}
			}()
			c, err := net.Dial("tcp", n.smtp)
			if err != nil {
				greeted.Done()
				t.Error(err)
				return
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(30 * time.Second))
			line, _ = bufio.NewReader(c).ReadString('\n')
			greeted.Done()
			greeted.Wait()
		})
	}
	wg.Wait()
	if refused < flood-4 {
		t.Errorf("%d simultaneous connections from one address, %d refused with 421; want all but 4", flood, refused)
	}
	// Sessions that misbehave, in parallel within the per-address cap.
	sessions := []func(c *smtp.Client) error{
		func(c *smtp.Client) error { // oversized
			if err := c.Mail("a@direct.sender.example", nil); err != nil {
				return err
			}
			if err := c.Rcpt("referrals@direct.clinic-a.example", nil); err != nil {
				return err
			}
			w, err := c.Data()
			if err != nil {
				return err
			}
			_, _ = w.Write(bytes.Repeat([]byte("0123456789abcdef\r\n"), 80000))
			if err := w.Close(); !smtpCode(err, 552) {
				return fmt.Errorf("oversized message: %v, want 552", err)
			}
			return nil
		},
		func(c *smtp.Client) error { // relay attempt
			if err := c.Mail("a@direct.sender.example", nil); err != nil {
				return err
			}
			if err := c.Rcpt("victim@elsewhere.example", nil); !smtpCode(err, 550) {
				return fmt.Errorf("relay: %v, want 550", err)
			}
			return nil
		},
		func(c *smtp.Client) error { // abandoned in the middle of DATA
			if err := c.Mail("a@direct.sender.example", nil); err != nil {
				return err
			}
			if err := c.Rcpt("referrals@direct.clinic-a.example", nil); err != nil {
				return err
			}
			w, err := c.Data()
			if err != nil {
				return err
			}
			_, _ = w.Write([]byte("Subject: half\r\n\r\nhalf a message"))
			return nil // closed without the final dot
		},
	}
	// Raw sessions: STARTTLS answered with garbage instead of a TLS
	// handshake, a BDAT transfer abandoned between chunks, and a client
	// that pipelines more recipients than allowed and leaves without a
	// word.
	raw := []string{
		"EHLO c.example\r\nSTARTTLS\r\n\x16\x03\x01\x00\x05hello not tls\r\n",
		"EHLO c.example\r\nSTARTTLS\r\n",
		"EHLO c.example\r\nMAIL FROM:<a@b.example>\r\n" + strings.Repeat("RCPT TO:<referrals@direct.clinic-a.example>\r\n", 60) + "DATA\r\n",
	}
	for i, script := range raw {
		wg.Go(func() {
			c, err := net.Dial("tcp", n.smtp)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(30 * time.Second))
			if _, err := io.WriteString(c, script); err != nil {
				t.Errorf("raw session %d: %v", i, err)
			}
		})
	}
	// A chunked (BDAT) transfer abandoned between chunks, under TLS.
	for range 3 {
		wg.Go(func() {
			if err := abandonedBDAT(n.smtp, tlsCfg); err != nil {
				t.Errorf("abandoned BDAT: %v", err)
			}
		})
	}
	wg.Wait()
	for round := range 3 {
		for i, s := range sessions {
			wg.Go(func() {
				c, err := smtp.DialStartTLS(n.smtp, tlsCfg)
				if err != nil {
					// The session cap may still be held by the flood's
					// sessions on their way out; a 421 is a right answer.
					if !smtpCode(err, 421) {
						t.Errorf("round %d session %d: dial: %v", round, i, err)
					}
					return
				}
				defer c.Close()
				if err := s(c); err != nil && !smtpCode(err, 421) {
					t.Errorf("round %d session %d: %v", round, i, err)
				}
			})
		}
		wg.Wait()
	}
}

// abandonedBDAT sends the first chunk of a message with BDAT and leaves.
func abandonedBDAT(addr string, cfg *tls.Config) error {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	var conn net.Conn = c
	r := bufio.NewReader(conn)
	reply := func(cmd, want string) error {
		if cmd != "" {
			if _, err := io.WriteString(conn, cmd); err != nil {
				return err
			}
		}
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return fmt.Errorf("after %q: %v", cmd, err)
			}
			if len(line) >= 4 && line[3] == '-' {
				continue
			}
			if !strings.HasPrefix(line, want) {
				return fmt.Errorf("after %q: %q, want %s", cmd, line, want)
			}
			return nil
		}
	}
	steps := []struct{ cmd, want string }{{"", "220"}, {"EHLO c.example\r\n", "250"}, {"STARTTLS\r\n", "220"}}
	for _, st := range steps {
		if err := reply(st.cmd, st.want); err != nil {
			if strings.Contains(err.Error(), "421") {
				return nil // turned away by a cap: a right answer
			}
			return err
		}
	}
	tc := tls.Client(c, cfg)
	if err := tc.Handshake(); err != nil {
		return err
	}
	conn, r = tc, bufio.NewReader(tc)
	for _, st := range []struct{ cmd, want string }{{"EHLO c.example\r\n", "250"}, {"MAIL FROM:<a@direct.sender.example>\r\n", "250"},
		{"RCPT TO:<referrals@direct.clinic-a.example>\r\n", "250"}, {"BDAT 5\r\nhello", "250"}} {
		if err := reply(st.cmd, st.want); err != nil {
			return err
		}
	}
	return nil // gone before the last chunk
}

// smtpCode reports whether err is an SMTP reply with code.
func smtpCode(err error, code int) bool {
	se, ok := err.(*smtp.SMTPError)
	return ok && se.Code == code
}

// TestShutdownDrainsSMTPBesideHTTP shuts serve down while an HTTP request
// holds the HTTP server's shutdown: the SMTP listener is drained at the
// same time (an idle session told 421 at once) rather than after HTTP and
// the workers have used up the grace period.
func TestShutdownDrainsSMTPBesideHTTP(t *testing.T) {
	dir := t.TempDir()
	certDir := filepath.Join(dir, "certs")
	if _, errs, code := gw(t, dir, "certs", "dev", "--domain", "direct.clinic-a.example", "--address", "referrals@direct.clinic-a.example", "--out", certDir); code != 0 {
		t.Fatalf("certs dev: %s", errs)
	}
	t.Setenv("GATEWAY_DATA_DIR", dir)
	t.Setenv("GATEWAY_FAX_KEY", "synthetic-key")
	t.Setenv("GATEWAY_FAX_SECRET", "synthetic-secret")
	t.Setenv("GATEWAY_FAX_CALLBACK_TOKEN", "synthetic-token")
	n := startHammerNode(t, dir, certDir, "--shutdown-grace", "2m", "--http-body-timeout", "2m")

	// A token request whose body never comes: its handler waits for it, and
	// the HTTP server's shutdown waits for the handler.
	held, err := net.Dial("tcp", strings.TrimPrefix(n.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	if _, err := io.WriteString(held, "POST "+smart.TokenPath+" HTTP/1.1\r\nHost: gw\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\ngrant_type="); err != nil {
		t.Fatal(err)
	}
	idle, err := net.Dial("tcp", n.smtp)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	lines := bufio.NewReader(idle)
	if greet, _ := lines.ReadString('\n'); !strings.HasPrefix(greet, "220 ") {
		t.Fatalf("greeting %q", greet)
	}

	n.cancel()
	// Well short of the 2 min the HTTP request can hold shutdown for.
	_ = idle.SetReadDeadline(time.Now().Add(30 * time.Second))
	if rest, err := io.ReadAll(lines); err != nil || !strings.HasPrefix(string(rest), "421 ") {
		t.Errorf("idle SMTP session while HTTP shuts down: %q, %v; want 421 and the connection closed", rest, err)
	}
	_ = held.Close() // lets the HTTP shutdown finish
	n.stop(t)
}
