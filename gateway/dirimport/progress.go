package dirimport

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// barWidth is the number of cells in the progress bar.
const barWidth = 30

// redrawEvery is the shortest interval between two redraws on a terminal.
const redrawEvery = 100 * time.Millisecond

// Progress draws an import's progress for the command line. On a terminal
// it redraws one line in place ("\r[=====>    ] 1200/5000 24% 3.1k/s");
// elsewhere (a log file, a pipe) it writes only the final line. With an
// unknown total it shows the count and the rate. Its Update method has the
// shape Apply's progress callback takes. It is not safe for concurrent use.
type Progress struct {
	w        io.Writer
	total    int
	label    string
	terminal bool
	now      func() time.Time
	start    time.Time
	lastDraw time.Time
	done     int
	finished bool
}

// NewProgress starts a progress display of total items (0 when unknown)
// on w. w is a terminal when it is an *os.File on a character device, or
// when it has a method Terminal() bool that returns true.
func NewProgress(w io.Writer, total int, label string) *Progress {
	return NewProgressClock(w, total, label, time.Now)
}

// NewProgressClock is NewProgress with the clock the rate is measured by.
func NewProgressClock(w io.Writer, total int, label string, now func() time.Time) *Progress {
	return &Progress{w: w, total: total, label: label, terminal: isTerminal(w), now: now, start: now()}
}

// isTerminal reports whether w should get in-place redraws.
func isTerminal(w io.Writer) bool {
	if t, ok := w.(interface{ Terminal() bool }); ok {
		return t.Terminal()
	}
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// Update records that done items are finished; a total above 0 replaces
// the one given to NewProgress. On a terminal the line is redrawn at most
// every 100ms, and always when the total is reached.
func (p *Progress) Update(done, total int) {
	p.done = done
	if total > 0 {
		p.total = total
	}
	if !p.terminal || p.finished {
		return
	}
	now := p.now()
	if now.Sub(p.lastDraw) < redrawEvery && (p.total == 0 || done < p.total) {
		return
	}
	p.lastDraw = now
	fmt.Fprint(p.w, "\r"+p.line(now))
}

// Finish writes the final line, ending it with a newline. Further calls
// do nothing.
func (p *Progress) Finish() {
	if p.finished {
		return
	}
	p.finished = true
	prefix := ""
	if p.terminal {
		prefix = "\r"
	}
	fmt.Fprint(p.w, prefix+p.line(p.now())+"\n")
}

// line renders the current state.
func (p *Progress) line(now time.Time) string {
	var b strings.Builder
	if p.label != "" {
		b.WriteString(p.label)
		b.WriteByte(' ')
	}
	if p.total > 0 {
		done := min(p.done, p.total)
		filled := done * barWidth / p.total
		b.WriteByte('[')
		b.WriteString(strings.Repeat("=", filled))
		if filled < barWidth {
			b.WriteByte('>')
			b.WriteString(strings.Repeat(" ", barWidth-filled-1))
		}
		fmt.Fprintf(&b, "] %d/%d %d%%", p.done, p.total, done*100/p.total)
	} else {
		fmt.Fprintf(&b, "%d", p.done)
	}
	b.WriteByte(' ')
	b.WriteString(rate(p.done, now.Sub(p.start)))
	return b.String()
}

// rate formats items per second: "0.4/s", "850/s", "3.1k/s", "1.2M/s".
func rate(n int, d time.Duration) string {
	if d <= 0 {
		return "-/s"
	}
	r := float64(n) / d.Seconds()
	switch {
	case r >= 1e6:
		return fmt.Sprintf("%.1fM/s", r/1e6)
	case r >= 1e3:
		return fmt.Sprintf("%.1fk/s", r/1e3)
	case r >= 10:
		return fmt.Sprintf("%.0f/s", r)
	default:
		return fmt.Sprintf("%.1f/s", r)
	}
}
