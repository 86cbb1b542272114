package smtpin

import (
	"bufio"
	"context"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// dialFrom connects to addr from the loopback address local.
func dialFrom(t *testing.T, local, addr string) *smtp.Client {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c := smtp.NewClient(conn)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestPerAddressCapLeavesRoomForOthers(t *testing.T) {
	f := start(t, func(c *Config) { c.MaxConnections = 10; c.MaxConnectionsPerAddr = 2 })
	for i := range 2 {
		if err := dialFrom(t, "127.0.0.1", f.addr).Noop(); err != nil {
			t.Fatalf("connection %d from the greedy client: %v", i+1, err)
		}
	}
	err := dialFrom(t, "127.0.0.1", f.addr).Noop()
	wantCode(t, err, 421, smtp.EnhancedCode{4, 7, 0})
	if se := err.(*smtp.SMTPError); !strings.Contains(se.Message, "from your address") {
		t.Errorf("421 text %q does not name the per-address limit", se.Message)
	}
	if err := dialFrom(t, "127.0.0.2", f.addr).Noop(); err != nil {
		t.Fatalf("another client was refused while one address held its share: %v", err)
	}
}

// waitClosed reads from conn until the server closes it and returns what
// the server said last.
func waitClosed(t *testing.T, conn net.Conn) string {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	r := bufio.NewReader(conn)
	var last string
	for {
		line, err := r.ReadString('\n')
		if line != "" {
			last = line
		}
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatalf("server kept the connection open; last reply %q", last)
			}
			return last
		}
	}
}

func TestIdleClientIsDisconnected(t *testing.T) {
	f := start(t, func(c *Config) { c.IdleTimeout = 100 * time.Millisecond })
	conn, err := net.Dial("tcp", f.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if last := waitClosed(t, conn); !strings.HasPrefix(last, "421 4.4.2") {
		t.Errorf("last reply %q, want 421 4.4.2", last)
	}
}

func TestStalledMessageBodyIsDisconnected(t *testing.T) {
	f := start(t, func(c *Config) { c.IdleTimeout = 200 * time.Millisecond })
	conn, err := net.Dial("tcp", f.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	r := bufio.NewReader(conn)
	for _, cmd := range []string{"", "EHLO client.example", "MAIL FROM:<a@direct.sender.example>",
		"RCPT TO:<intake@direct.receiver.example>", "DATA"} {
		if cmd != "" {
			if _, err := conn.Write([]byte(cmd + "\r\n")); err != nil {
				t.Fatal(err)
			}
		}
		for { // skip multi-line continuations
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("after %q: %v", cmd, err)
			}
			if len(line) < 4 || line[3] != '-' {
				break
			}
		}
	}
	if _, err := conn.Write([]byte("Subject: half a message\r\n")); err != nil {
		t.Fatal(err)
	}
	waitClosed(t, conn)
	if ids := f.stored(t); len(ids) != 0 {
		t.Fatalf("a stalled message was spooled: %v", ids)
	}
}

func TestBusyClientCannotHoldSlotPastSessionLimit(t *testing.T) {
	f := start(t, func(c *Config) { c.MaxSessionDuration = 300 * time.Millisecond })
	c := dialFrom(t, "127.0.0.1", f.addr)
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := c.Noop()
		if err != nil {
			break // the session ended under a client that never went quiet
		}
		if time.Now().After(deadline) {
			t.Fatal("session outlived its limit while the client kept sending NOOP")
		}
	}
}

// budgetSpool stores into a DirSpool and records the most bytes it was
// storing at once.
type budgetSpool struct {
	*DirSpool
	mu        sync.Mutex
	now, most int64
}

func (b *budgetSpool) Store(ctx context.Context, env Envelope, msg *io.SectionReader) (string, error) {
	b.mu.Lock()
	b.now += msg.Size()
	b.most = max(b.most, b.now)
	b.mu.Unlock()
	defer func() { b.mu.Lock(); b.now -= msg.Size(); b.mu.Unlock() }()
	return b.DirSpool.Store(ctx, env, msg)
}

func TestStoreBudgetSerialisesLargeMessages(t *testing.T) {
	dir, err := NewDirSpool(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	spool := &budgetSpool{DirSpool: dir}
	const budget = 6000
	f := start(t, func(c *Config) { c.Spool = spool; c.StoreBudget = budget })
	body := "Subject: large\r\n\r\n" + strings.Repeat("0123456789abcdef0123456789abcdef\r\n", 120) // ~4 KB
	var wg sync.WaitGroup
	for range 6 {
		wg.Go(func() {
			c, err := smtp.DialStartTLS(f.addr, f.clientTLS)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			if err := c.SendMail("a@direct.sender.example", []string{"intake@direct.receiver.example"}, strings.NewReader(body)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if ids, err := dir.List(); err != nil || len(ids) != 6 {
		t.Fatalf("stored %d messages (%v), want 6", len(ids), err)
	}
	if spool.most > budget {
		t.Fatalf("%d bytes were being stored at once, budget %d", spool.most, budget)
	}
}

// addrConn is a connection that claims to come from remote.
type addrConn struct {
	net.Conn
	remote net.Addr
}

func (c addrConn) RemoteAddr() net.Addr { return c.remote }

func TestPerAddressCapCountsAnIPv6SubnetAsOneClient(t *testing.T) {
	spool, err := NewDirSpool(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(Config{Hostname: "mx.direct.receiver.example", Domains: []string{"direct.receiver.example"},
		Spool: spool, MaxConnections: 10, MaxConnectionsPerAddr: 2, TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	l := newPipeListener()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	t.Cleanup(func() {
		_ = srv.Close()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	from := func(ip string) *smtp.Client {
		t.Helper()
		client, server := net.Pipe()
		l.conns <- addrConn{Conn: server, remote: &net.TCPAddr{IP: net.ParseIP(ip), Port: 40000}}
		c := smtp.NewClient(client)
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	// One host on an IPv6 network has its whole /64 to connect from.
	for _, ip := range []string{"2001:db8:0:7::1", "2001:db8:0:7::2"} {
		if err := from(ip).Noop(); err != nil {
			t.Fatalf("connection from %s: %v", ip, err)
		}
	}
	wantCode(t, from("2001:db8:0:7:ffff::3").Noop(), 421, smtp.EnhancedCode{4, 7, 0})
	for _, ip := range []string{"2001:db8:0:8::1", "192.0.2.1", "::ffff:192.0.2.2"} {
		if err := from(ip).Noop(); err != nil {
			t.Fatalf("connection from %s, another client: %v", ip, err)
		}
	}
}
