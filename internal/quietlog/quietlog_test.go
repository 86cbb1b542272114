package quietlog

import (
	"bytes"
	"log"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// TestBurstThenOneASecond floods a Logger on a fixed clock: Burst lines are
// written, the rest counted; a second later one line is written again and
// carries the number left out; a library's log writes through Writer.
func TestBurstThenOneASecond(t *testing.T) {
	var buf bytes.Buffer
	now := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	q := New(slog.New(slog.NewTextHandler(&buf, nil)), func() time.Time { return now })
	lib := log.New(q.Writer("http server"), "", 0)
	for i := range 100 {
		if i%2 == 0 {
			q.Warn("refused", "remote_ip", "192.0.2.7")
		} else {
			lib.Printf("http: TLS handshake error from 192.0.2.7:%d: EOF\n", 40000+i)
		}
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != Burst {
		t.Fatalf("100 warnings at once wrote %d lines, want %d:\n%s", len(lines), Burst, buf.String())
	}
	if !strings.Contains(lines[1], `msg="http server"`) || !strings.Contains(lines[1], `detail="http: TLS handshake error from 192.0.2.7:40001: EOF"`) {
		t.Errorf("a library's line: %s", lines[1])
	}
	if q.Events() != 100 {
		t.Errorf("Events = %d, want 100", q.Events())
	}
	buf.Reset()
	now = now.Add(time.Second)
	q.Warn("refused", "remote_ip", "192.0.2.7")
	q.Warn("refused", "remote_ip", "192.0.2.7")
	out := strings.TrimSpace(buf.String())
	if strings.Count(out, "\n") != 0 || !strings.Contains(out, "suppressed=95") {
		t.Errorf("a second later: %q, want one line saying 95 were left out", out)
	}
}
