package smtpin_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/referralgw/gateway/direct/certs"

	"github.com/referralgw/gateway/direct/message"
	"github.com/referralgw/gateway/direct/smtpin"
	"github.com/referralgw/gateway/direct/smtpout"
)

// TestSenderToServer sends composed Direct messages with smtpout to an
// smtpin server over real TCP and STARTTLS and checks what lands in the
// spool, including connection reuse and a relay refusal.
func TestSenderToServer(t *testing.T) {
	serverTLS, roots := selfSigned(t)
	spool, err := smtpin.NewDirSpool(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	srv, err := smtpin.New(smtpin.Config{
		Hostname: "mx.direct.receiver.example", Domains: []string{"direct.receiver.example"},
		Spool: spool, TLSConfig: serverTLS, RequireTLS: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })

	snd, err := smtpout.New(smtpout.Config{
		Smarthost: l.Addr().String(), HELO: "gw.direct.sender.example",
		TLSConfig: &tls.Config{RootCAs: roots},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = snd.Close() })

	var sent [][]byte
	for i := range 2 {
		raw, err := message.Compose(message.Outbound{
			From: "alice@direct.sender.example", To: []string{"intake@direct.receiver.example"},
			Subject: "Referral", MessageID: message.NewMessageID("direct.sender.example"),
			Date: time.Date(2026, 11, 23, 9, i, 0, 0, time.UTC), SummaryText: "Synthetic summary.\n.dot line",
		})
		if err != nil {
			t.Fatal(err)
		}
		res, err := snd.Send(context.Background(), "alice@direct.sender.example", []string{"intake@direct.receiver.example"}, raw)
		if err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
		if !res.TLS || res.Code != 250 || !strings.HasPrefix(res.Message, "OK queued as ") {
			t.Fatalf("send %d: result %+v", i, res)
		}
		sent = append(sent, raw)
	}

	_, err = snd.Send(context.Background(), "alice@direct.sender.example", []string{"x@elsewhere.example"}, sent[0])
	var re *smtpout.ReplyError
	if !errors.As(err, &re) || re.Code != 550 || re.EnhancedCode != "5.7.1" || smtpout.IsTemporary(err) {
		t.Fatalf("relay attempt: %v", err)
	}

	ids, err := spool.List()
	if err != nil || len(ids) != 2 {
		t.Fatalf("spool List = %v, %v; want 2 messages", ids, err)
	}
	for _, id := range ids {
		env, raw, err := spool.Load(id)
		if err != nil {
			t.Fatal(err)
		}
		if !env.TLS || env.HELO != "gw.direct.sender.example" {
			t.Errorf("envelope %+v", env)
		}
		if !bytes.Equal(raw, sent[0]) && !bytes.Equal(raw, sent[1]) {
			t.Errorf("spooled message %s is not byte-identical to a sent one", id)
		}
	}
}

func selfSigned(t *testing.T) (*tls.Config, *x509.CertPool) {
	t.Helper()
	cert, err := certs.SelfSignedTLS(time.Now(), "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(cert.Leaf)
	return &tls.Config{Certificates: []tls.Certificate{cert}}, roots
}
