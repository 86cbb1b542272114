package inbound_test

import (
	"bufio"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/referralgw/gateway/direct/inbound"
	"github.com/referralgw/gateway/direct/smtpin"
	"github.com/referralgw/gateway/gateway"
	"github.com/referralgw/gateway/gateway/litestore"
	"github.com/referralgw/gateway/gateway/storetest"
)

// The load test is opt-in: it moves 3 GB through the loopback, the sealer
// and the embedded database.
//
//	GATEWAY_SMTP_LOAD=1 go test -count=1 -run TestReceiverUnderLargeSessionLoad -v -timeout 20m ./direct/inbound/
const (
	loadEnv       = "GATEWAY_SMTP_LOAD"
	loadClientEnv = "GATEWAY_SMTP_LOAD_CLIENT"
	loadSessions  = 100
	loadMsgBytes  = 30 << 20
	loadMaxRSS    = 300 << 20
)

// TestReceiverUnderLargeSessionLoad receives 100 concurrent 30 MB messages
// from a separate client process through the production receive path (the
// SMTP listener streaming DATA to disk, then the Receiver committing each
// sealed message and its job to the database before 250), and checks that
// this process stays under 300 MB resident.
func TestReceiverUnderLargeSessionLoad(t *testing.T) {
	if os.Getenv(loadEnv) == "" {
		t.Skipf("set %s=1 to run the 100 x 30 MB receive load test", loadEnv)
	}
	dir := t.TempDir()
	store, err := litestore.Open(t.Context(), filepath.Join(dir, "gateway.db"), storetest.FastQueue())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	sealer, err := gateway.NewSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	svc := gateway.NewService(store, sealer, gateway.SystemClock{}, gateway.DefaultConfig(), nil)
	srv, err := smtpin.New(smtpin.Config{Hostname: "mx.direct.receiver.example", Domains: []string{"direct.receiver.example"},
		Spool: inbound.NewReceiver(svc), TempDir: dir, StoreTimeout: 10 * time.Minute,
		ReceiveBudget: loadSessions * loadMsgBytes}) // all at once: this test is about memory, not transit disk
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })

	var peak int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			peak = max(peak, procStatusBytes(t, "VmRSS"))
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	})
	started := time.Now()
	cmd := exec.Command(os.Args[0], "-test.run=^TestLoadClientProcess$", "-test.v")
	cmd.Env = append(os.Environ(), loadClientEnv+"="+l.Addr().String())
	out, err := cmd.CombinedOutput()
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatalf("client process: %v\n%s", err, out)
	}
	hwm := procStatusBytes(t, "VmHWM")
	t.Logf("%d sessions x %d MiB committed in %v: peak RSS sampled %.1f MiB, VmHWM %.1f MiB",
		loadSessions, loadMsgBytes>>20, time.Since(started).Round(time.Millisecond), float64(peak)/(1<<20), float64(hwm)/(1<<20))
	if hwm > loadMaxRSS {
		t.Fatalf("resident memory peaked at %d MiB, limit %d MiB", hwm>>20, loadMaxRSS>>20)
	}
}

// TestLoadClientProcess is the sending side of the load test, run in a
// child process so that its memory is not counted.
func TestLoadClientProcess(t *testing.T) {
	addr := os.Getenv(loadClientEnv)
	if addr == "" {
		t.Skip("runs only as the load test's client process")
	}
	var wg sync.WaitGroup
	errs := make(chan error, loadSessions)
	for i := range loadSessions {
		wg.Go(func() { errs <- sendLarge(addr, fmt.Sprintf("127.0.0.%d", 1+i%10), i) })
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
	hdr := fmt.Sprintf("Message-ID: <load-%d@direct.sender.example>\r\nSubject: synthetic load\r\nContent-Type: application/pkcs7-mime\r\n\r\n", n)
	line := strings.Repeat("QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo", 3)[:76] + "\r\n"
	if _, err := io.Copy(w, io.MultiReader(strings.NewReader(hdr), &repeater{line: line, left: loadMsgBytes})); err != nil {
		return fmt.Errorf("session %d body: %w", n, err)
	}
	if _, err := w.CloseWithResponse(); err != nil {
		return fmt.Errorf("session %d end of DATA: %w", n, err)
	}
	return c.Quit()
}

// repeater yields line until left bytes have been produced.
type repeater struct {
	line string
	left int
	off  int
}

func (r *repeater) Read(p []byte) (int, error) {
	if r.left <= 0 {
		return 0, io.EOF
	}
	n := 0
	for n < len(p) && r.left > 0 {
		k := copy(p[n:], r.line[r.off:])
		n, r.left, r.off = n+k, r.left-k, (r.off+k)%len(r.line)
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
		if ok && name == field {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatalf("/proc/self/status has no %s", field)
	return 0
}
