package smtpin

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"
)

func TestSessionGoesOnAfterOversizedMessage(t *testing.T) {
	f := start(t, func(c *Config) { c.MaxMessageBytes = 1024 })
	c := dialLines(t, f.addr)
	c.cmd("EHLO client.example", "250")
	c.cmd("MAIL FROM:<a@direct.sender.example>", "250")
	c.cmd("RCPT TO:<intake@direct.receiver.example>", "250")
	c.cmd("DATA", "354")
	c.write("Subject: big\r\n\r\n" + strings.Repeat("0123456789abcdef\r\n", 256) + ".\r\n")
	if reply := c.expect("552"); !strings.HasPrefix(reply, "552 5.3.4 ") {
		t.Fatalf("oversized message: %q, want 552 5.3.4", reply)
	}
	// The rest of the message was read and dropped: the session is in
	// step and takes the next message.
	c.cmd("MAIL FROM:<a@direct.sender.example>", "250")
	c.cmd("RCPT TO:<intake@direct.receiver.example>", "250")
	c.cmd("DATA", "354")
	c.write("Subject: small\r\n\r\nfits\r\n.\r\n")
	c.expect("250")
	if ids := f.stored(t); len(ids) != 1 {
		t.Fatalf("spool holds %d messages, want the small one", len(ids))
	}
}

func TestBareLFDoesNotEndMessage(t *testing.T) {
	f := start(t, nil)
	c := dialLines(t, f.addr)
	c.cmd("EHLO client.example", "250")
	c.cmd("MAIL FROM:<a@direct.sender.example>", "250")
	c.cmd("RCPT TO:<intake@direct.receiver.example>", "250")
	c.cmd("DATA", "354")
	// Only CRLF.CRLF ends a message (RFC 5321 4.1.1.4): a dot between bare
	// LFs, or a CR-less one, is content, so no second transaction can be
	// smuggled inside the first.
	smuggled := "Subject: one\r\n\r\nfirst\n.\nMAIL FROM:<evil@elsewhere.example>\r\nRCPT TO:<ortho@direct.receiver.example>\r\n" +
		"DATA\r\nsecond\r\n.\n"
	c.write(smuggled + "\r\n.\r\n")
	c.expect("250")
	c.cmd("QUIT", "221")
	ids := f.stored(t)
	if len(ids) != 1 {
		t.Fatalf("spool holds %d messages, want 1", len(ids))
	}
	env, raw, err := f.spool.Load(ids[0])
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), "MAIL FROM:<evil@elsewhere.example>") || len(env.RcptTo) != 1 {
		t.Fatalf("the smuggled commands were not kept as content: rcpts %v, body %q", env.RcptTo, raw)
	}
}

func TestAUTHNeverOffered(t *testing.T) {
	f := start(t, nil)
	c := dialLines(t, f.addr)
	if ehlo := c.cmd("EHLO client.example", "250"); strings.Contains(ehlo, "AUTH") {
		t.Fatalf("AUTH offered in clear: %q", ehlo)
	}
	if reply := c.cmd("AUTH PLAIN AGFsaWNlAHNlY3JldA==", "5"); strings.HasPrefix(reply, "235") {
		t.Fatalf("AUTH in clear: %q", reply)
	}
	c.starttls(f.clientTLS)
	if ehlo := c.cmd("EHLO client.example", "250"); strings.Contains(ehlo, "AUTH") {
		t.Fatalf("AUTH offered after STARTTLS, though nothing here signs in: %q", ehlo)
	}
}

// hungSpool never finishes on its own, as a store whose database stopped
// answering; it gives up when its context does.
type hungSpool struct{}

func (hungSpool) Store(ctx context.Context, _ Envelope, _ *io.SectionReader) (string, error) {
	<-ctx.Done()
	return "", ctx.Err()
}

func TestHungSpoolIs451(t *testing.T) {
	f := start(t, func(c *Config) { c.Spool = hungSpool{}; c.StoreTimeout = 200 * time.Millisecond })
	c := dialLines(t, f.addr)
	c.cmd("EHLO client.example", "250")
	c.cmd("MAIL FROM:<a@direct.sender.example>", "250")
	c.cmd("RCPT TO:<intake@direct.receiver.example>", "250")
	c.cmd("DATA", "354")
	c.write(rawMsg + "\r\n.\r\n")
	if reply := c.expect("4"); !strings.HasPrefix(reply, "451 4.3.0 ") {
		t.Fatalf("end of DATA with a hung store: %q, want 451 4.3.0", reply)
	}
	c.cmd("NOOP", "250") // the session goes on
}
