package smtpout

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"testing"
	"time"
)

func TestMXOnNonPublicAddressIsRefused(t *testing.T) {
	ts := startServer(t, true)
	_, port, _ := net.SplitHostPort(ts.addr)
	// A hostile DNS answer for the recipient's domain names mail hosts on
	// internal addresses. "localhost" stands for an answer that is a name
	// again: the dialer resolves it, and the check must run on the address
	// it then dials, not on what the MX lookup returned.
	for _, addrs := range [][]string{
		{"127.0.0.1"}, {"::ffff:127.0.0.1"}, {"localhost"}, {"0.0.0.0"},
		{"10.0.0.1"}, {"169.254.169.254"}, {"fe80::1"}, {"224.0.0.1"},
	} {
		t.Run(addrs[0], func(t *testing.T) {
			res := stubResolver{
				mx:    map[string][]*net.MX{"direct.receiver.example": {{Host: "mx.test.", Pref: 10}}},
				hosts: map[string][]string{"mx.test": addrs},
			}
			s := newSender(t, Config{Resolver: res, Port: port, TLSConfig: &tls.Config{RootCAs: ts.roots}, DialTimeout: 5 * time.Second})
			_, err := s.Send(context.Background(), "a@direct.sender.example", []string{"b@direct.receiver.example"}, []byte(testMsg))
			if !errors.Is(err, ErrNotPublic) {
				t.Fatalf("Send error = %v, want ErrNotPublic", err)
			}
			if IsTemporary(err) {
				t.Errorf("a mail host on a non-public address classified as temporary: %v", err)
			}
		})
	}
	if n := ts.accepts.Load(); n != 0 {
		t.Fatalf("the loopback server was reached %d times", n)
	}

	// Development and tests allow it explicitly, and a smarthost is the
	// operator's own choice, dialled whatever its address.
	res := stubResolver{hosts: map[string][]string{"mx.test": {"localhost"}}}
	dev := newSender(t, Config{Resolver: res, Port: port, TLSConfig: &tls.Config{RootCAs: ts.roots, ServerName: "mx.test"}, AllowPrivate: true})
	if _, err := dev.Send(context.Background(), "a@direct.sender.example", []string{"b@mx.test"}, []byte(testMsg)); err != nil {
		t.Fatalf("Send with AllowPrivate: %v", err)
	}
	relay := smarthostSender(t, ts, nil)
	if _, err := relay.Send(context.Background(), "a@direct.sender.example", []string{"b@direct.receiver.example"}, []byte(testMsg)); err != nil {
		t.Fatalf("Send to a loopback smarthost: %v", err)
	}
	if n := len(ts.messages()); n != 2 {
		t.Fatalf("server stored %d messages, want 2", n)
	}
}
