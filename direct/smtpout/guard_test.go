package smtpout

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"
)

func TestPublic(t *testing.T) {
	// The table of outbound.Public's test: both guards must agree.
	for addr, want := range map[string]bool{
		"93.184.216.34": true, "2606:2800:220:1:248:1893:25c8:1946": true, "8.8.8.8": true,
		"127.0.0.1": false, "127.1.2.3": false, "10.1.2.3": false, "192.168.1.1": false, "172.16.0.1": false,
		"169.254.169.254": false, "100.64.0.1": false, "0.0.0.0": false, "255.255.255.255": false,
		"192.0.2.10": false, "198.51.100.7": false, "203.0.113.9": false, "240.0.0.1": false, "224.0.0.1": false,
		"::1": false, "::": false, "fe80::1": false, "fd00::1": false, "::ffff:10.0.0.1": false,
		"::ffff:127.0.0.1": false, "::ffff:169.254.169.254": false, "64:ff9b::a9fe:a9fe": false, "2001:db8::1": false, "ff02::1": false,
	} {
		if got := public(netip.MustParseAddr(addr)); got != want {
			t.Errorf("public(%s) = %v, want %v", addr, got, want)
		}
	}
}

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
