package smtpin

import (
	"strings"
	"testing"
	"time"
)

func TestOversizedMessageThenQUIT(t *testing.T) {
	f := start(t, func(c *Config) { c.MaxMessageBytes = 1024 })
	c := dialLines(t, f.addr)
	c.cmd("EHLO client.example", "250")
	c.cmd("MAIL FROM:<a@direct.sender.example>", "250")
	c.cmd("RCPT TO:<intake@direct.receiver.example>", "250")
	c.cmd("DATA", "354")
	// An honest client that did not declare SIZE and ran past the limit
	// gets its 552 at the end of the message, as RFC 5321 has it, and
	// leaves politely.
	c.write("Subject: big\r\n\r\n" + strings.Repeat("0123456789abcdef\r\n", 4096) + ".\r\n")
	if reply := c.expect("552"); !strings.HasPrefix(reply, "552 5.3.4 ") {
		t.Fatalf("oversized message: %q, want 552 5.3.4", reply)
	}
	c.cmd("QUIT", "221")
}

func TestEndlessMessageAfterSizeRefusalIsCutOff(t *testing.T) {
	for _, withTLS := range []bool{false, true} {
		t.Run(map[bool]string{false: "plain", true: "STARTTLS"}[withTLS], func(t *testing.T) {
			endlessMessage(t, withTLS)
		})
	}
}

func endlessMessage(t *testing.T, withTLS bool) {
	f := start(t, func(c *Config) { c.MaxMessageBytes = 1024 })
	c := dialLines(t, f.addr)
	c.cmd("EHLO client.example", "250")
	if withTLS {
		c.starttls(f.clientTLS) // the 421 is then written inside TLS, from within a read
	}
	c.cmd("MAIL FROM:<a@direct.sender.example>", "250")
	c.cmd("RCPT TO:<intake@direct.receiver.example>", "250")
	c.cmd("DATA", "354")
	// A client that never ends the message it was refused would be read
	// and dropped until the session's time ran out; it is cut off once it
	// has sent maxUnansweredBytes past the refusal.
	go func() {
		line := []byte(strings.Repeat("x", 1022) + "\r\n")
		for n := 0; n < maxUnansweredBytes+(2<<20); n += len(line) {
			if _, err := c.conn.Write(line); err != nil {
				return // the server closed the connection
			}
		}
	}()
	if last := c.closed(); !strings.HasPrefix(last, "421 4.7.0 ") {
		t.Fatalf("last reply %q, want 421 4.7.0", last)
	}
}

func TestEndlessChunkAfterSizeRefusalIsCutOff(t *testing.T) {
	f := start(t, func(c *Config) { c.MaxMessageBytes = 1024 })
	c := dialLines(t, f.addr)
	c.cmd("EHLO client.example", "250")
	c.cmd("MAIL FROM:<a@direct.sender.example>", "250")
	c.cmd("RCPT TO:<intake@direct.receiver.example>", "250")
	// A BDAT chunk larger than the limit is refused at once, but the
	// chunk still follows and is read and dropped: a chunk of 4 GB would
	// hold the session until its end.
	c.write("BDAT 4000000000 LAST\r\n")
	if reply := c.expect("552"); !strings.HasPrefix(reply, "552 5.3.4 ") {
		t.Fatalf("oversized chunk: %q, want 552 5.3.4", reply)
	}
	go func() {
		// Lines, since go-smtp reads a refused chunk with its line limit on.
		chunk := []byte(strings.Repeat(strings.Repeat("x", 1022)+"\r\n", 64))
		for n := 0; n < maxUnansweredBytes+(2<<20); n += len(chunk) {
			if _, err := c.conn.Write(chunk); err != nil {
				return
			}
		}
	}()
	if last := c.closed(); !strings.HasPrefix(last, "421 4.7.0 ") {
		t.Fatalf("last reply %q, want 421 4.7.0", last)
	}
}

func TestTrickledMessageAfterSizeRefusalIsCutOff(t *testing.T) {
	f := start(t, func(c *Config) { c.MaxMessageBytes = 1024; c.IdleTimeout = 300 * time.Millisecond })
	c := dialLines(t, f.addr)
	c.cmd("EHLO client.example", "250")
	c.cmd("MAIL FROM:<a@direct.sender.example>", "250")
	c.cmd("RCPT TO:<intake@direct.receiver.example>", "250")
	c.cmd("DATA", "354")
	c.write("Subject: big\r\n\r\n" + strings.Repeat("0123456789abcdef\r\n", 128))
	// Each line comes well within the idle timeout, so only a bound on
	// the whole of what is dropped ends the session before its 30 min.
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond): // the client's pace
			}
			if _, err := c.conn.Write([]byte("x\r\n")); err != nil {
				return
			}
		}
	}()
	if last := c.closed(); !strings.HasPrefix(last, "421 4.7.0 ") {
		t.Fatalf("last reply %q, want 421 4.7.0", last)
	}
}
