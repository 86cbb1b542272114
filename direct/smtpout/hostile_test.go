package smtpout

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// floodBytes is how much a hostile server sends in one endless reply: far
// more than any reply, well below what would hurt the test process.
const floodBytes = 64 << 20

// hostileServer answers like an MX until the reply named by floodAt
// ("greeting", "EHLO" or "MAIL"), which it makes endless: an unterminated
// line, or continuation lines without end. With tlsCert it offers and
// runs STARTTLS first.
func hostileServer(t *testing.T, floodAt string, lines bool, tlsCert *tls.Certificate) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { close(done); _ = l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				hostileSession(c, floodAt, lines, tlsCert)
				<-done // hold the connection open, silent, until the test ends
			}()
		}
	}()
	return l.Addr().String()
}

func hostileSession(c net.Conn, floodAt string, lines bool, tlsCert *tls.Certificate) {
	flood := func(code string) {
		w := bufio.NewWriter(c)
		if lines {
			for n := 0; n < floodBytes; n += 64 {
				w.WriteString(code + "-" + strings.Repeat("x", 58) + "\r\n")
			}
		} else {
			w.WriteString(code + " ")
			chunk := strings.Repeat("x", 4096)
			for n := 0; n < floodBytes; n += len(chunk) {
				w.WriteString(chunk)
			}
		}
		_ = w.Flush()
	}
	if floodAt == "greeting" {
		flood("220")
		return
	}
	_, _ = c.Write([]byte("220 mx.test ESMTP\r\n"))
	r := bufio.NewReader(c)
	secured := false
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		verb := strings.ToUpper(strings.Fields(line + " x")[0])
		switch {
		case verb == "EHLO" && floodAt == "EHLO" && (secured || tlsCert == nil):
			flood("250")
			return
		case verb == "EHLO" && tlsCert != nil && !secured:
			_, _ = c.Write([]byte("250-mx.test\r\n250 STARTTLS\r\n"))
		case verb == "EHLO":
			_, _ = c.Write([]byte("250-mx.test\r\n250 8BITMIME\r\n"))
		case verb == "STARTTLS":
			_, _ = c.Write([]byte("220 go ahead\r\n"))
			tc := tls.Server(c, &tls.Config{Certificates: []tls.Certificate{*tlsCert}})
			if tc.Handshake() != nil {
				return
			}
			c, r, secured = tc, bufio.NewReader(tc), true
		case verb == "MAIL" && floodAt == "MAIL":
			flood("250")
			return
		default:
			_, _ = c.Write([]byte("250 ok\r\n"))
		}
	}
}

func TestEndlessReplyIsRefused(t *testing.T) {
	cert, roots := testCert(t)
	for _, tt := range []struct {
		name    string
		floodAt string
		lines   bool
		tls     bool
	}{
		{"greeting without end of line", "greeting", false, false},
		{"EHLO continuation lines without end", "EHLO", true, false},
		{"MAIL reply without end of line", "MAIL", false, false},
		{"EHLO after STARTTLS without end of line", "EHLO", false, true},
		{"MAIL after STARTTLS continuation lines without end", "MAIL", true, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var tc *tls.Certificate
			if tt.tls {
				tc = &cert
			}
			addr := hostileServer(t, tt.floodAt, tt.lines, tc)
			// The command timeout only keeps a failing run from hanging; the
			// reply must be refused by its size, long before.
			s := newSender(t, Config{Smarthost: addr, AllowPlaintext: !tt.tls, CommandTimeout: 2 * time.Minute,
				TLSConfig: &tls.Config{RootCAs: roots, ServerName: "mx.test"}})
			_, err := s.Send(context.Background(), "a@direct.sender.example", []string{"b@direct.receiver.example"}, []byte(testMsg))
			// go-smtp bounds a single line itself; a reply of many lines, and
			// anything read before go-smtp takes over, is bounded here.
			if !errors.Is(err, ErrReplyTooLong) && !errors.Is(err, smtp.ErrTooLongLine) {
				t.Fatalf("Send error = %v, want ErrReplyTooLong (or go-smtp's ErrTooLongLine)", err)
			}
			if IsTemporary(err) {
				t.Error("an endless reply classified as temporary")
			}
		})
	}
}
