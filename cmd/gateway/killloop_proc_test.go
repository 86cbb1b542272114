package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// klProc is one `gateway serve` process of the kill loop: the built
// binary, started again on the same database and data directory after
// each SIGKILL.
type klProc struct {
	name string
	bin  string
	args []string
	env  []string
	base string // http://host:port of its HTTP face
	log  *os.File

	cmd    *exec.Cmd
	exited chan error
	starts int
}

// buildGateway builds this package's binary into dir, or returns the one
// -killloop.bin names.
func buildGateway(ctx context.Context, t *testing.T, dir string) string {
	t.Helper()
	if *klBin != "" {
		return *klBin
	}
	bin := filepath.Join(dir, "gateway")
	start := time.Now()
	out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	t.Logf("built %s in %s", bin, time.Since(start).Round(time.Millisecond))
	return bin
}

// childEnv is this process's environment without the gateway's own
// settings (a GATEWAY_DB of the caller must not leak into the nodes), plus
// extra.
func childEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GATEWAY_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// start runs the process and waits until its HTTP face answers /healthz.
func (p *klProc) start(ctx context.Context) error {
	p.starts++
	fmt.Fprintf(p.log, "=== killloop: start #%d of %s\n", p.starts, p.name)
	cmd := exec.Command(p.bin, p.args...)
	cmd.Env, cmd.Stdout, cmd.Stderr = p.env, p.log, p.log
	dieWithTest(cmd)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	p.cmd, p.exited = cmd, exited
	return p.waitHealthy(ctx)
}

// waitHealthy polls /healthz until it answers 200, the process exits or
// ctx ends.
func (p *klProc) waitHealthy(ctx context.Context) error {
	hc := &http.Client{Timeout: time.Second}
	t := time.NewTicker(25 * time.Millisecond)
	defer t.Stop()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.base+"/healthz", nil)
		if resp, err := hc.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case err := <-p.exited:
			p.exited <- err
			return fmt.Errorf("%s exited while starting: %v (log %s)", p.name, err, p.log.Name())
		case <-ctx.Done():
			return fmt.Errorf("%s not healthy: %w", p.name, ctx.Err())
		case <-t.C:
		}
	}
}

// kill sends SIGKILL and waits for the process to be gone; it returns the
// pid that died.
func (p *klProc) kill() (int, error) {
	pid := p.cmd.Process.Pid
	if err := p.cmd.Process.Kill(); err != nil {
		return pid, fmt.Errorf("kill %s: %w", p.name, err)
	}
	<-p.exited
	fmt.Fprintf(p.log, "=== killloop: SIGKILL %s pid %d\n", p.name, pid)
	return pid, nil
}

// stop asks the process to shut down (SIGTERM) and kills it when it has
// not exited within grace. A clean shutdown is an error-free exit.
func (p *klProc) stop(grace time.Duration) error {
	if p.cmd == nil {
		return nil
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.exited:
		p.cmd = nil
		if err != nil {
			return fmt.Errorf("%s exited with %v after SIGTERM (log %s)", p.name, err, p.log.Name())
		}
		return nil
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.exited
		p.cmd = nil
		return fmt.Errorf("%s did not stop within %s of SIGTERM", p.name, grace)
	}
}

// running reports whether the process is up (started and not exited).
func (p *klProc) running() bool {
	if p.cmd == nil {
		return false
	}
	select {
	case err := <-p.exited:
		p.exited <- err
		return false
	default:
		return true
	}
}

// logTail is the end of the process's log, for a failure message.
func (p *klProc) logTail(n int) string {
	b, err := os.ReadFile(p.log.Name())
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// errExited is returned when a node died on its own during the loop.
var errExited = errors.New("node exited on its own")

// logProblems is the last n WARN and ERROR lines of a node's log.
func logProblems(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, "level=WARN") || strings.Contains(l, "level=ERROR") || strings.HasPrefix(l, "=== ") {
			out = append(out, l)
		}
	}
	return strings.Join(out[max(0, len(out)-n):], "\n")
}
