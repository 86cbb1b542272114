// Package quietlog writes warnings that clients can cause at will (a
// refused connection, a malformed request, a session cut off) without
// letting a client flood the log: a few lines at once, then about one a
// second, and the next line written after a quiet spell says how many
// were left out. The SMTP listener and the HTTP edge share it.
package quietlog

import (
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Burst is how many lines are written at once before the limit applies;
// afterwards one more line may be written each second.
const Burst = 5

// Logger rate-limits warnings to an slog.Logger. Create one with New.
type Logger struct {
	l   *slog.Logger
	now func() time.Time
	lim *rate.Limiter

	mu         sync.Mutex
	seen       int // warnings, written or not
	suppressed int // warnings left out since the last line written
}

// New returns a Logger writing to l; now is its clock (nil: time.Now).
func New(l *slog.Logger, now func() time.Time) *Logger {
	if now == nil {
		now = time.Now
	}
	return &Logger{l: l, now: now, lim: rate.NewLimiter(rate.Every(time.Second), Burst)}
}

// Warn writes msg with args at warning level, unless the limit has been
// reached; a line written after some were left out carries their number
// as "suppressed".
func (q *Logger) Warn(msg string, args ...any) {
	q.mu.Lock()
	q.seen++
	if !q.lim.AllowN(q.now(), 1) {
		q.suppressed++
		q.mu.Unlock()
		return
	}
	n := q.suppressed
	q.suppressed = 0
	q.mu.Unlock()
	if n > 0 {
		args = append(args, "suppressed", n)
	}
	q.l.Warn(msg, args...)
}

// Events counts the warnings given to q, written or left out.
func (q *Logger) Events() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.seen
}

// Writer returns an io.Writer for a library's error log (a *log.Logger
// such as http.Server.ErrorLog): each write becomes one warning msg with
// the written text, trimmed, as "detail".
func (q *Logger) Writer(msg string) io.Writer { return writer{q, msg} }

type writer struct {
	q   *Logger
	msg string
}

func (w writer) Write(p []byte) (int, error) {
	w.q.Warn(w.msg, "detail", strings.TrimSpace(string(p)))
	return len(p), nil
}
