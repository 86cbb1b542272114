package smtpin

import (
	"strings"
	"testing"
	"time"
)

func TestReceiveBudgetDefersWith452(t *testing.T) {
	const budget = 100 << 10
	f := start(t, func(c *Config) { c.MaxMessageBytes = budget; c.ReceiveBudget = budget })
	lines := func(n int) string { return strings.Repeat("0123456789abcdef\r\n", n) }

	// A message in flight holds what has arrived of it (taken in steps of
	// the 32 KiB copy buffer).
	held := dialLines(t, f.addr)
	held.cmd("EHLO client.example", "250")
	held.cmd("MAIL FROM:<a@direct.sender.example>", "250")
	held.cmd("RCPT TO:<intake@direct.receiver.example>", "250")
	held.cmd("DATA", "354")
	held.write("Subject: held\r\n\r\n" + lines(4000)) // 72 KB
	deadline := time.Now().Add(30 * time.Second)
	for f.srv.received.Load() < 64<<10 {
		if time.Now().After(deadline) {
			t.Fatalf("%d bytes of the budget taken, want the 64 KiB received", f.srv.received.Load())
		}
		time.Sleep(5 * time.Millisecond) // polling interval
	}

	c := dialLines(t, f.addr)
	c.cmd("EHLO client.example", "250")
	// A declared size that does not fit now is deferred before it is sent.
	if reply := c.cmd("MAIL FROM:<a@direct.sender.example> SIZE=62000", "452"); !strings.HasPrefix(reply, "452 4.3.1 ") {
		t.Fatalf("MAIL with a size over the budget: %q, want 452 4.3.1", reply)
	}
	// An undeclared one is deferred when it runs out of budget.
	c.cmd("MAIL FROM:<a@direct.sender.example>", "250")
	c.cmd("RCPT TO:<intake@direct.receiver.example>", "250")
	c.cmd("DATA", "354")
	c.write("Subject: no room\r\n\r\n" + lines(3400) + ".\r\n") // 61 KB
	if reply := c.expect("452"); !strings.HasPrefix(reply, "452 4.3.1 ") {
		t.Fatalf("end of a message over the budget: %q, want 452 4.3.1", reply)
	}
	c.cmd("NOOP", "250") // the session goes on

	// Once the message in flight is stored, its share is free again and
	// the deferred message goes through.
	held.write("held body\r\n.\r\n")
	held.expect("250")
	c.cmd("MAIL FROM:<a@direct.sender.example> SIZE=62000", "250")
	c.cmd("RCPT TO:<intake@direct.receiver.example>", "250")
	c.cmd("DATA", "354")
	c.write("Subject: room now\r\n\r\n" + lines(3400) + ".\r\n")
	c.expect("250")
	if ids := f.stored(t); len(ids) != 2 {
		t.Fatalf("spool holds %d messages, want 2", len(ids))
	}
	if n := f.srv.received.Load(); n != 0 {
		t.Fatalf("%d bytes of the budget still taken after every message was answered", n)
	}
}
