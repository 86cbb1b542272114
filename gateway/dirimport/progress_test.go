package dirimport_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/referralgw/gateway/gateway/dirimport"
)

// terminal is a buffer that claims to be a terminal.
type terminal struct{ bytes.Buffer }

func (*terminal) Terminal() bool { return true }

// stepClock advances by step on every reading.
type stepClock struct {
	t    time.Time
	step time.Duration
}

func (c *stepClock) now() time.Time {
	c.t = c.t.Add(c.step)
	return c.t
}

func TestProgress(t *testing.T) {
	tests := []struct {
		name     string
		terminal bool
		total    int
		updates  []int
		want     string
	}{
		{name: "terminal with total", terminal: true, total: 5000, updates: []int{1200, 5000},
			// the clock reads t+100s at the start, then 100s later at each draw
			want: "\rimport [=======>                      ] 1200/5000 24% 12/s" +
				"\rimport [==============================] 5000/5000 100% 25/s" +
				"\rimport [==============================] 5000/5000 100% 17/s\n"},
		{name: "terminal without total", terminal: true, updates: []int{3100},
			want: "\rimport 3100 31/s\rimport 3100 16/s\n"},
		{name: "file gets the final line only", total: 10, updates: []int{1, 2, 10},
			want: "import [==============================] 10/10 100% 0.1/s\n"},
		{name: "fast rate in thousands", total: 0, updates: []int{400000},
			want: "import 400000 4.0k/s\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := &stepClock{t: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC), step: 100 * time.Second}
			var out interface {
				String() string
				Write([]byte) (int, error)
			} = &bytes.Buffer{}
			if tt.terminal {
				out = &terminal{}
			}
			p := dirimport.NewProgressClock(out, tt.total, "import", clock.now)
			for _, n := range tt.updates {
				p.Update(n, tt.total)
			}
			p.Finish()
			p.Finish() // a second Finish writes nothing
			if got := out.String(); got != tt.want {
				t.Errorf("output\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestProgressThrottlesRedraws(t *testing.T) {
	clock := &stepClock{t: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC), step: time.Millisecond}
	var out terminal
	p := dirimport.NewProgressClock(&out, 1000, "", clock.now)
	for i := 1; i <= 1000; i++ {
		p.Update(i, 0)
	}
	// 1000 updates 1ms apart: a redraw every 100ms, plus the last one.
	if n := strings.Count(out.String(), "\r"); n < 9 || n > 11 {
		t.Errorf("%d redraws for 1000 updates over 1s, want about 10", n)
	}
	if !strings.HasSuffix(out.String(), "1000/1000 100% 1.0k/s") {
		t.Errorf("last redraw = %q", out.String()[strings.LastIndex(out.String(), "\r"):])
	}
}

func TestProgressRegularFileIsNotATerminal(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p := dirimport.NewProgress(f, 2, "x")
	p.Update(1, 2)
	p.Finish()
	b, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Count(b, []byte("\r")) != 0 || !bytes.HasPrefix(b, []byte("x [")) {
		t.Errorf("file got %q, want one plain final line", b)
	}
}
