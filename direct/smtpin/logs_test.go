package smtpin

import (
	"bytes"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// logLines is a log sink safe for the server's goroutines.
type logLines struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logLines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logLines) lines(substr string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, line := range strings.Split(l.b.String(), "\n") {
		if strings.Contains(line, substr) {
			out = append(out, line)
		}
	}
	return out
}

// resetAfterEHLO greets and then aborts the connection with a TCP reset,
// a network error on the server's next read.
func resetAfterEHLO(t *testing.T, addr string) {
	t.Helper()
	c := dialLines(t, addr)
	c.cmd("EHLO client.example", "250")
	tc := c.conn.(*net.TCPConn)
	_ = tc.SetLinger(0)
	_ = tc.Close()
}

func TestConnectionErrorsAreLoggedAFewLinesASecond(t *testing.T) {
	var sink logLines
	var now atomic.Pointer[time.Time]
	start := fixedNow
	now.Store(&start)
	spool, err := NewDirSpool(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(Config{Hostname: "mx.direct.receiver.example", Domains: []string{"direct.receiver.example"},
		Spool: spool, TempDir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(&sink, nil)),
		Now: func() time.Time { return *now.Load() }})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })

	// A script that aborts its connections causes a network error per
	// connection; the clock stands still, so the log's allowance does not
	// refill while they come.
	for range 60 {
		resetAfterEHLO(t, l.Addr().String())
	}
	deadline := time.Now().Add(30 * time.Second)
	for srv.connErrors.Events() < 20 {
		if time.Now().After(deadline) {
			t.Fatalf("only %d connection errors reported by the SMTP engine", srv.connErrors.Events())
		}
		time.Sleep(5 * time.Millisecond) // polling interval
	}
	if lines := sink.lines("smtpin: smtp server"); len(lines) == 0 || len(lines) > 5 {
		t.Fatalf("%d log lines for %d connection errors, want 1 to 5:\n%s", len(lines), srv.connErrors.Events(), strings.Join(lines, "\n"))
	}
	// Once the allowance refills, the next line says how many were left out.
	later := start.Add(time.Minute)
	now.Store(&later)
	before := srv.connErrors.Events()
	resetAfterEHLO(t, l.Addr().String())
	for srv.connErrors.Events() == before {
		if time.Now().After(deadline) {
			t.Fatal("the last connection error was not reported")
		}
		time.Sleep(5 * time.Millisecond) // polling interval
	}
	for len(sink.lines("suppressed=")) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no line after the quiet spell counts what was left out:\n%s", strings.Join(sink.lines("smtpin:"), "\n"))
		}
		time.Sleep(5 * time.Millisecond) // polling interval
	}
}

func TestAbortedMessagesAreLoggedAFewLinesASecond(t *testing.T) {
	var sink logLines
	spool, err := NewDirSpool(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(Config{Hostname: "mx.direct.receiver.example", Domains: []string{"direct.receiver.example"},
		Spool: spool, TempDir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(&sink, nil)),
		Now: func() time.Time { return fixedNow }}) // a clock that stands still: no allowance refills
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	const sessions = 30
	for range sessions {
		c := dialLines(t, l.Addr().String())
		c.cmd("EHLO client.example", "250")
		c.cmd("MAIL FROM:<a@direct.sender.example>", "250")
		c.cmd("RCPT TO:<intake@direct.receiver.example>", "250")
		c.cmd("DATA", "354")
		c.write("Subject: half\r\n\r\nhalf a message")
		_ = c.conn.Close()
	}
	deadline := time.Now().Add(30 * time.Second)
	for srv.connErrors.Events() < sessions {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d aborted messages reported", srv.connErrors.Events(), sessions)
		}
		time.Sleep(5 * time.Millisecond) // polling interval
	}
	if n := len(sink.lines("smtpin: message not received")); n > 5 {
		t.Fatalf("%d log lines for %d aborted messages, want at most 5", n, sessions)
	}
}
