package smtpin

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// The load test is opt-in: it moves 3 GB through the loopback and the disk.
//
//	GATEWAY_SMTP_LOAD=1 go test -count=1 -run TestConcurrentLargeSessionsMemory -v ./direct/smtpin/
const (
	loadEnv       = "GATEWAY_SMTP_LOAD"
	loadClientEnv = "GATEWAY_SMTP_LOAD_CLIENT" // set in the child process that plays the senders
	loadSessions  = 100
	loadMsgBytes  = 30 << 20
	loadMaxRSS    = 300 << 20
)

// TestConcurrentLargeSessionsMemory receives 100 concurrent 30 MB messages
// from a separate client process and checks that this process, the server,
// stays under 300 MB resident throughout: DATA streams to disk through a
// bounded buffer instead of being held in memory.
func TestConcurrentLargeSessionsMemory(t *testing.T) {
	if os.Getenv(loadEnv) == "" {
		t.Skipf("set %s=1 to run the 100 x 30 MB SMTP load test", loadEnv)
	}
	f := start(t, func(c *Config) {
		c.TempDir = t.TempDir()
		c.MaxMessageBytes = 64 << 20
		c.ReceiveBudget = loadSessions * loadMsgBytes // all at once: this test is about memory, not transit disk
		c.StoreTimeout = 10 * time.Minute
		c.Mailboxes = nil
	})
	var peak int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			if rss := procStatusBytes(t, "VmRSS"); rss > peak {
				peak = rss
			}
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	})
	started := time.Now()
	cmd := exec.Command(os.Args[0], "-test.run=^TestLoadClientProcess$", "-test.v")
	cmd.Env = append(os.Environ(), loadClientEnv+"="+f.addr)
	out, err := cmd.CombinedOutput()
	close(stop)
	wg.Wait()
	elapsed := time.Since(started)
	if err != nil {
		t.Fatalf("client process: %v\n%s", err, out)
	}
	ids := f.stored(t)
	if len(ids) != loadSessions {
		t.Fatalf("spooled %d messages, want %d\n%s", len(ids), loadSessions, out)
	}
	hwm := procStatusBytes(t, "VmHWM")
	t.Logf("%d sessions x %d MiB in %v: server peak RSS sampled %.1f MiB, VmHWM %.1f MiB",
		loadSessions, loadMsgBytes>>20, elapsed.Round(time.Millisecond), float64(peak)/(1<<20), float64(hwm)/(1<<20))
	if hwm > loadMaxRSS {
		t.Fatalf("server resident memory peaked at %d MiB, limit %d MiB", hwm>>20, loadMaxRSS>>20)
	}
}

// TestLoadClientProcess is the sending side of the load test, run in a
// child process so its memory is not counted against the server.
func TestLoadClientProcess(t *testing.T) {
	addr := os.Getenv(loadClientEnv)
	if addr == "" {
		t.Skip("runs only as the load test's client process")
	}
	var wg sync.WaitGroup
	errs := make(chan error, loadSessions)
	for i := range loadSessions {
		wg.Go(func() {
			// Ten client addresses, so the default per-address cap admits all.
			errs <- sendLarge(addr, fmt.Sprintf("127.0.0.%d", 1+i%10), i)
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

func sendLarge(addr, local string, n int) error {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		return err
	}
	c := smtp.NewClient(conn)
	defer c.Close()
	if err := c.Mail("sender@direct.sender.example", nil); err != nil {
		return fmt.Errorf("session %d MAIL: %w", n, err)
	}
	if err := c.Rcpt("intake@direct.receiver.example", nil); err != nil {
		return fmt.Errorf("session %d RCPT: %w", n, err)
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("session %d DATA: %w", n, err)
	}
	if _, err := io.Copy(w, &syntheticMessage{left: loadMsgBytes}); err != nil {
		return fmt.Errorf("session %d body: %w", n, err)
	}
	if _, err := w.CloseWithResponse(); err != nil {
		return fmt.Errorf("session %d end of DATA: %w", n, err)
	}
	return c.Quit()
}

// syntheticMessage produces a message of base64-like 76-column lines.
type syntheticMessage struct {
	left   int
	header bool
}

var syntheticLine = strings.Repeat("QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo", 3)[:76] + "\r\n"

func (m *syntheticMessage) Read(p []byte) (int, error) {
	if !m.header {
		m.header = true
		return copy(p, "Subject: synthetic load\r\nContent-Type: application/pkcs7-mime\r\n\r\n"), nil
	}
	if m.left <= 0 {
		return 0, io.EOF
	}
	n := 0
	for n+len(syntheticLine) <= len(p) && m.left > 0 {
		n += copy(p[n:], syntheticLine)
		m.left -= len(syntheticLine)
	}
	if n == 0 {
		return copy(p, syntheticLine[:min(len(p), len(syntheticLine))]), nil
	}
	return n, nil
}

// procStatusBytes reads a memory figure of this process from /proc.
func procStatusBytes(t *testing.T, field string) int64 {
	t.Helper()
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		name, rest, ok := strings.Cut(s.Text(), ":")
		if !ok || name != field {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		if err != nil {
			t.Fatalf("/proc/self/status %s: %v", field, err)
		}
		return kb << 10
	}
	t.Fatalf("/proc/self/status has no %s", field)
	return 0
}
