package smtpin

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// dialLinesFrom is dialLines from the loopback address local.
func dialLinesFrom(t *testing.T, local, addr string) *lineConn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	lc := &lineConn{t: t, conn: c, r: bufio.NewReader(c)}
	lc.expect("220")
	return lc
}

// harvest tries recipients that do not exist until the session is ended,
// and returns how many were refused one by one first.
func harvest(t *testing.T, c *lineConn) int {
	t.Helper()
	c.cmd("EHLO client.example", "250")
	c.cmd("MAIL FROM:<a@direct.sender.example>", "250")
	for i := range 1000 {
		// Unknown users and foreign domains alike count as refused.
		rcpt := fmt.Sprintf("guess%d@direct.receiver.example", i)
		if i%3 == 2 {
			rcpt = fmt.Sprintf("guess%d@elsewhere.example", i)
		}
		c.write("RCPT TO:<" + rcpt + ">\r\n")
		reply := c.expect("")
		if strings.HasPrefix(reply, "421 4.7.0 ") {
			if last := c.closed(); last != "" {
				t.Fatalf("a reply after the 421: %q", last)
			}
			return i
		}
		if !strings.HasPrefix(reply, "550 ") {
			t.Fatalf("RCPT %s: %q, want 550 or 421 4.7.0", rcpt, reply)
		}
	}
	t.Fatal("1000 refused recipients and the session goes on")
	return 0
}

func TestRefusedRecipientsEndTheSession(t *testing.T) {
	f := start(t, nil)
	if n := harvest(t, dialLinesFrom(t, "127.0.0.1", f.addr)); n != maxRefusedRecipients {
		t.Fatalf("%d recipients refused before the 421, want %d", n, maxRefusedRecipients)
	}
	// The same under STARTTLS, as production requires it: the 421 is
	// written inside TLS.
	c := dialLinesFrom(t, "127.0.0.2", f.addr)
	c.cmd("EHLO client.example", "250")
	c.starttls(f.clientTLS)
	if n := harvest(t, c); n != maxRefusedRecipients {
		t.Fatalf("under TLS: %d recipients refused before the 421, want %d", n, maxRefusedRecipients)
	}

	// A recipient that exists, tried past the bound, ends the session
	// too: the reply to it says nothing of whether it exists.
	f = start(t, nil)
	c = dialLinesFrom(t, "127.0.0.1", f.addr)
	c.cmd("EHLO client.example", "250")
	c.cmd("MAIL FROM:<a@direct.sender.example>", "250")
	for i := range maxRefusedRecipients {
		c.cmd(fmt.Sprintf("RCPT TO:<guess%d@direct.receiver.example>", i), "550")
	}
	c.write("RCPT TO:<intake@direct.receiver.example>\r\nDATA\r\n")
	if reply := c.expect("421"); !strings.HasPrefix(reply, "421 4.7.0 ") {
		t.Fatalf("reply %q, want 421 4.7.0", reply)
	}
	c.closed()
	if ids := f.stored(t); len(ids) != 0 {
		t.Fatalf("spooled %v from a session ended for harvesting", ids)
	}
}

func TestRefusedRecipientAllowanceHoldsAcrossSessions(t *testing.T) {
	now := fixedNow
	var clock atomic.Pointer[time.Time]
	clock.Store(&now)
	f := start(t, func(c *Config) { c.Now = func() time.Time { return *clock.Load() } })

	// Half the allowance in one session, the rest in another, after it.
	c := dialLinesFrom(t, "127.0.0.1", f.addr)
	c.cmd("EHLO client.example", "250")
	c.cmd("MAIL FROM:<a@direct.sender.example>", "250")
	for i := range maxRefusedRecipients / 2 {
		c.cmd(fmt.Sprintf("RCPT TO:<first%d@direct.receiver.example>", i), "550")
	}
	c.cmd("QUIT", "221")
	if n := harvest(t, dialLinesFrom(t, "127.0.0.1", f.addr)); n != maxRefusedRecipients-maxRefusedRecipients/2 {
		t.Fatalf("second session: %d refused before the 421, want %d", n, maxRefusedRecipients-maxRefusedRecipients/2)
	}

	// With the allowance spent, a new session from the address learns
	// nothing: its first recipient, one that exists, ends it.
	c = dialLinesFrom(t, "127.0.0.1", f.addr)
	c.cmd("EHLO client.example", "250")
	c.cmd("MAIL FROM:<a@direct.sender.example>", "250")
	c.write("RCPT TO:<intake@direct.receiver.example>\r\n")
	if reply := c.expect("421"); !strings.HasPrefix(reply, "421 4.7.0 ") {
		t.Fatalf("reply %q, want 421 4.7.0", reply)
	}

	// Another client is not held to it.
	other := dialLinesFrom(t, "127.0.0.2", f.addr)
	other.cmd("EHLO client.example", "250")
	other.cmd("MAIL FROM:<a@direct.sender.example>", "250")
	other.cmd("RCPT TO:<nobody@direct.receiver.example>", "550")
	other.cmd("RCPT TO:<intake@direct.receiver.example>", "250")

	// The allowance comes back one recipient at a time.
	later := now.Add(refusedRecipientRefill)
	clock.Store(&later)
	if n := harvest(t, dialLinesFrom(t, "127.0.0.1", f.addr)); n != 1 {
		t.Fatalf("after one refill period: %d refused before the 421, want 1", n)
	}
}

// failingMailboxes cannot answer: its directory is down.
type failingMailboxes struct{}

func (failingMailboxes) Accepts(context.Context, string) (bool, error) {
	return false, errors.New("directory unavailable")
}

// TestRecipientLookupFailureIsTemporary: when the recipient lookup fails
// the recipient gets 451 4.3.0 (try again), never 550 5.1.1 (which would
// bounce mail for an address that exists), and the failure is ours, not
// the client's: it spends none of the refused-recipient allowance.
func TestRecipientLookupFailureIsTemporary(t *testing.T) {
	f := start(t, func(c *Config) { c.Mailboxes = failingMailboxes{} })
	c := dialLinesFrom(t, "127.0.0.1", f.addr)
	c.cmd("EHLO client.example", "250")
	c.cmd("MAIL FROM:<a@direct.sender.example>", "250")
	for i := range 3 * maxRefusedRecipients {
		if reply := c.cmd(fmt.Sprintf("RCPT TO:<intake%d@direct.receiver.example>", i), "451"); !strings.HasPrefix(reply, "451 4.3.0 ") {
			t.Fatalf("RCPT %d: %q, want 451 4.3.0", i, reply)
		}
	}
}
