package smtpout

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

const testMsg = "From: a@direct.sender.example\r\nTo: b@direct.receiver.example\r\nSubject: t\r\n\r\n.leading dot line\r\nbody\r\n"

func newSender(t *testing.T, cfg Config) *Sender {
	t.Helper()
	if cfg.HELO == "" {
		cfg.HELO = "gw.sender.example"
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func smarthostSender(t *testing.T, ts *testServer, modify func(*Config)) *Sender {
	t.Helper()
	cfg := Config{Smarthost: ts.addr, TLSConfig: &tls.Config{RootCAs: ts.roots}}
	if modify != nil {
		modify(&cfg)
	}
	return newSender(t, cfg)
}

func TestSendOutcomes(t *testing.T) {
	ts := startServer(t, true)
	s := smarthostSender(t, ts, nil)
	tests := []struct {
		name      string
		to        []string
		wantCode  int
		wantEnh   string
		temporary bool
	}{
		{"accepted", []string{"b@direct.receiver.example"}, 250, "2.0.0", false},
		{"temporary refusal", []string{"temp@direct.receiver.example"}, 451, "4.3.0", true},
		{"permanent refusal", []string{"perm@direct.receiver.example"}, 550, "5.1.1", false},
		{"one of two refused", []string{"b@direct.receiver.example", "perm@direct.receiver.example"}, 550, "5.1.1", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := s.Send(context.Background(), "a@direct.sender.example", tt.to, []byte(testMsg))
			if tt.wantCode == 250 {
				if err != nil {
					t.Fatalf("Send: %v", err)
				}
				if res.Code != 250 || res.EnhancedCode != tt.wantEnh || res.Message != "queued as Q1" || !res.TLS || res.Host != "127.0.0.1" {
					t.Errorf("Result = %+v", res)
				}
				return
			}
			var re *ReplyError
			if !errors.As(err, &re) {
				t.Fatalf("Send error = %v, want *ReplyError", err)
			}
			if re.Code != tt.wantCode || re.EnhancedCode != tt.wantEnh || re.Command != "RCPT" {
				t.Errorf("ReplyError = %+v", re)
			}
			if IsTemporary(err) != tt.temporary {
				t.Errorf("IsTemporary = %v, want %v", IsTemporary(err), tt.temporary)
			}
		})
	}
	msgs := ts.messages()
	if len(msgs) != 1 {
		t.Fatalf("server stored %d messages, want 1", len(msgs))
	}
	if got := msgs[0]; !bytes.Equal(got.data, []byte(testMsg)) || got.from != "a@direct.sender.example" || !got.tls {
		t.Errorf("server received %+v", got)
	}
	if n := ts.accepts.Load(); n != 1 {
		t.Errorf("server accepted %d connections for 4 sends, want 1 (reuse after refusals)", n)
	}
}

func TestSendReusesConnection(t *testing.T) {
	ts := startServer(t, true)
	s := smarthostSender(t, ts, nil)
	for i := range 2 {
		if _, err := s.Send(context.Background(), "a@direct.sender.example", []string{"b@direct.receiver.example"}, []byte(testMsg)); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	if n := ts.accepts.Load(); n != 1 {
		t.Fatalf("server accepted %d connections, want 1", n)
	}
	if n := len(ts.messages()); n != 2 {
		t.Fatalf("server stored %d messages, want 2", n)
	}
}

func TestSendNoPooling(t *testing.T) {
	ts := startServer(t, true)
	s := smarthostSender(t, ts, func(c *Config) { c.IdleTimeout = -1 })
	for range 2 {
		if _, err := s.Send(context.Background(), "a@direct.sender.example", []string{"b@direct.receiver.example"}, []byte(testMsg)); err != nil {
			t.Fatal(err)
		}
	}
	if n := ts.accepts.Load(); n != 2 {
		t.Fatalf("server accepted %d connections with pooling off, want 2", n)
	}
	waitFor(t, "connections closed", func() bool { return ts.open.Load() == 0 })
}

func TestIdleConnectionClosed(t *testing.T) {
	ts := startServer(t, true)
	s := smarthostSender(t, ts, func(c *Config) { c.IdleTimeout = 20 * time.Millisecond })
	if _, err := s.Send(context.Background(), "a@direct.sender.example", []string{"b@direct.receiver.example"}, []byte(testMsg)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "idle connection closed", func() bool { return ts.open.Load() == 0 })
	if _, err := s.Send(context.Background(), "a@direct.sender.example", []string{"b@direct.receiver.example"}, []byte(testMsg)); err != nil {
		t.Fatal(err)
	}
	if n := ts.accepts.Load(); n != 2 {
		t.Fatalf("accepts = %d, want 2 (a new connection after idle close)", n)
	}
}

func TestSendRequiresSTARTTLS(t *testing.T) {
	ts := startServer(t, false)
	s := smarthostSender(t, ts, nil)
	_, err := s.Send(context.Background(), "a@direct.sender.example", []string{"b@direct.receiver.example"}, []byte(testMsg))
	if !errors.Is(err, ErrTLSRequired) || !strings.Contains(err.Error(), "STARTTLS") {
		t.Fatalf("Send error = %v, want ErrTLSRequired naming STARTTLS", err)
	}
	if IsTemporary(err) {
		t.Error("missing STARTTLS classified as temporary")
	}
	if n := len(ts.messages()); n != 0 {
		t.Fatalf("server stored %d messages without TLS", n)
	}

	plain := smarthostSender(t, ts, func(c *Config) { c.AllowPlaintext = true })
	res, err := plain.Send(context.Background(), "a@direct.sender.example", []string{"b@direct.receiver.example"}, []byte(testMsg))
	if err != nil {
		t.Fatalf("Send with AllowPlaintext: %v", err)
	}
	if res.TLS {
		t.Error("Result.TLS = true on a plaintext session")
	}
}

func TestSendUntrustedCertificate(t *testing.T) {
	ts := startServer(t, true)
	s := smarthostSender(t, ts, func(c *Config) { c.TLSConfig = &tls.Config{RootCAs: nil} })
	_, err := s.Send(context.Background(), "a@direct.sender.example", []string{"b@direct.receiver.example"}, []byte(testMsg))
	if err == nil || !strings.Contains(err.Error(), "TLS handshake") {
		t.Fatalf("Send error = %v, want a TLS handshake failure", err)
	}
	if n := len(ts.messages()); n != 0 {
		t.Fatalf("message delivered to an untrusted server")
	}
}

func TestSendDialFailureIsTemporary(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	s := newSender(t, Config{Smarthost: addr})
	_, err = s.Send(context.Background(), "a@x.example", []string{"b@y.example"}, []byte(testMsg))
	if err == nil || !IsTemporary(err) {
		t.Fatalf("Send to a closed port: err = %v, IsTemporary = %v", err, IsTemporary(err))
	}
}

func TestSendContextCancel(t *testing.T) {
	ts := startServer(t, true)
	s := smarthostSender(t, ts, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-ts.inData
		cancel()
	}()
	_, err := s.Send(ctx, "a@direct.sender.example", []string{"stall@direct.receiver.example"}, []byte(testMsg))
	if !errors.Is(err, context.Canceled) || !IsTemporary(err) {
		t.Fatalf("Send error = %v, want context.Canceled (temporary)", err)
	}
}

func TestSendConcurrent(t *testing.T) {
	ts := startServer(t, true)
	s := smarthostSender(t, ts, nil)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			msg := fmt.Sprintf("Subject: %d\r\n\r\nbody\r\n", i)
			if _, err := s.Send(context.Background(), "a@direct.sender.example", []string{"b@direct.receiver.example"}, []byte(msg)); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := len(ts.messages()); n != 8 {
		t.Fatalf("server stored %d messages, want 8", n)
	}
}

// stubResolver answers from maps; missing names are NXDOMAIN.
type stubResolver struct {
	mx        map[string][]*net.MX
	hosts     map[string][]string
	temporary map[string]bool // host names whose lookup fails for now (SERVFAIL)
}

func (r stubResolver) LookupMX(_ context.Context, name string) ([]*net.MX, error) {
	if mx, ok := r.mx[name]; ok {
		return mx, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

func (r stubResolver) LookupHost(_ context.Context, host string) ([]string, error) {
	if r.temporary[host] {
		return nil, &net.DNSError{Err: "server misbehaving", Name: host, IsTemporary: true}
	}
	if h, ok := r.hosts[host]; ok {
		return h, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

func TestSendByMX(t *testing.T) {
	ts := startServer(t, true)
	_, port, _ := net.SplitHostPort(ts.addr)
	res := stubResolver{
		mx: map[string][]*net.MX{
			"direct.receiver.example": {{Host: "backup.test.", Pref: 10}, {Host: "mx.test.", Pref: 20}},
			"nullmx.example":          {{Host: ".", Pref: 0}},
		},
		hosts: map[string][]string{
			"backup.test":      {"127.0.0.2"}, // nothing listens on 127.0.0.2:port: dial fails, next MX
			"mx.test":          {"127.0.0.1"},
			"implicit.example": {"127.0.0.1"},
		},
	}
	// The mail hosts are on loopback: allowed explicitly, as in development.
	s := newSender(t, Config{Resolver: res, Port: port, TLSConfig: &tls.Config{RootCAs: ts.roots}, DialTimeout: 5 * time.Second, AllowPrivate: true})

	r, err := s.Send(context.Background(), "a@direct.sender.example", []string{"b@direct.receiver.example"}, []byte(testMsg))
	if err != nil {
		t.Fatalf("Send by MX: %v", err)
	}
	if r.Host != "mx.test" || !r.TLS {
		t.Errorf("Result = %+v, want delivery to mx.test over TLS", r)
	}

	tests := []struct {
		name string
		to   []string
		want string
	}{
		{"null MX", []string{"b@nullmx.example"}, "null MX"},
		{"two domains", []string{"b@direct.receiver.example", "c@other.example"}, "more than one domain"},
		{"no domain", []string{"nodomain"}, "no domain"},
		{"unresolvable", []string{"b@nowhere.example"}, "resolve mail hosts"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.Send(context.Background(), "a@direct.sender.example", tt.to, []byte(testMsg))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Send error = %v, want one containing %q", err, tt.want)
			}
			if IsTemporary(err) {
				t.Errorf("IsTemporary(%v) = true", err)
			}
		})
	}
}

// TestSendSeveralMXTemporaryWins: the first mail host is down (may come
// back), the second refuses for good (no STARTTLS). The attempt is to be
// retried, whichever host was tried last; and the same when the host names
// fail to resolve, one for now (SERVFAIL) and one for good (NXDOMAIN).
func TestSendSeveralMXTemporaryWins(t *testing.T) {
	ts := startServer(t, false) // no STARTTLS
	_, port, _ := net.SplitHostPort(ts.addr)
	res := stubResolver{
		mx: map[string][]*net.MX{
			"direct.receiver.example": {{Host: "down.test.", Pref: 10}, {Host: "plain.test.", Pref: 20}},
			"dns.receiver.example":    {{Host: "servfail.test.", Pref: 10}, {Host: "gone.test.", Pref: 20}},
		},
		hosts: map[string][]string{
			"down.test":  {"127.0.0.2"}, // nothing listens on 127.0.0.2:port
			"plain.test": {"127.0.0.1"},
		},
		temporary: map[string]bool{"servfail.test": true},
	}
	s := newSender(t, Config{Resolver: res, Port: port, TLSConfig: &tls.Config{RootCAs: ts.roots}, DialTimeout: 5 * time.Second, AllowPrivate: true})
	_, err := s.Send(context.Background(), "a@direct.sender.example", []string{"b@direct.receiver.example"}, []byte(testMsg))
	if err == nil || !IsTemporary(err) {
		t.Fatalf("first MX down, second without STARTTLS: err = %v, IsTemporary = %v; want temporary", err, IsTemporary(err))
	}
	if !strings.Contains(err.Error(), "STARTTLS") {
		t.Errorf("error %q does not name the last host's refusal", err)
	}
	_, err = s.Send(context.Background(), "a@direct.sender.example", []string{"b@dns.receiver.example"}, []byte(testMsg))
	if err == nil || !IsTemporary(err) {
		t.Fatalf("one MX name SERVFAIL, one NXDOMAIN: err = %v, IsTemporary = %v; want temporary", err, IsTemporary(err))
	}
	if n := len(ts.messages()); n != 0 {
		t.Fatalf("server stored %d messages without TLS", n)
	}
}

func TestSendImplicitMX(t *testing.T) {
	ts := startServer(t, true)
	_, port, _ := net.SplitHostPort(ts.addr)
	res := stubResolver{hosts: map[string][]string{"mx.test": {"127.0.0.1"}}}
	s := newSender(t, Config{Resolver: res, Port: port, TLSConfig: &tls.Config{RootCAs: ts.roots}, AllowPrivate: true})
	r, err := s.Send(context.Background(), "a@direct.sender.example", []string{"b@MX.test"}, []byte(testMsg))
	if err != nil {
		t.Fatalf("Send to a domain without MX: %v", err)
	}
	if r.Host != "mx.test" {
		t.Errorf("Host = %q, want the domain itself", r.Host)
	}
}

func TestNewRejectsMissingHELO(t *testing.T) {
	if _, err := New(Config{}); err == nil {
		t.Fatal("New without HELO succeeded")
	}
}

func TestSendRejectsInjection(t *testing.T) {
	s := newSender(t, Config{Smarthost: "127.0.0.1:1"})
	_, err := s.Send(context.Background(), "a@x.example>\r\nRCPT TO:<evil@x.example", []string{"b@y.example"}, nil)
	if err == nil || !strings.Contains(err.Error(), "malformed address") {
		t.Fatalf("Send error = %v", err)
	}
}
