package dirtest

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Entry is a person or role in the test directory: its mail value (an
// address, or a bare domain for a domain-bound entry) and DER certificates.
type Entry struct {
	CN    string
	Mail  string
	Certs [][]byte
}

// Slapd is a running OpenLDAP server.
type Slapd struct {
	// Port is its TCP port on 127.0.0.1.
	Port uint16
}

// slapdBins finds slapd and slapadd; a missing package fails the test
// under CI=true and skips it elsewhere.
func slapdBins(t *testing.T) (slapd, slapadd string) {
	t.Helper()
	for _, dir := range []string{"/usr/sbin", "/usr/local/sbin", "/usr/libexec"} {
		s, a := filepath.Join(dir, "slapd"), filepath.Join(dir, "slapadd")
		if _, err := os.Stat(s); err == nil {
			if _, err := os.Stat(a); err == nil {
				return s, a
			}
		}
	}
	if p, err := exec.LookPath("slapd"); err == nil {
		if a, err := exec.LookPath("slapadd"); err == nil {
			return p, a
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("slapd not found, required in CI (Debian package slapd)")
	}
	t.Skip("slapd not found (apt-get install slapd)")
	return "", ""
}

// StartSlapd runs slapd on a free loopback port with a fresh MDB database
// under suffix (such as "dc=direct,dc=example") holding entries, readable
// anonymously. It is stopped when the test ends.
func StartSlapd(t *testing.T, suffix string, entries []Entry) *Slapd {
	t.Helper()
	slapd, slapadd := slapdBins(t)
	dir := t.TempDir()
	db := filepath.Join(dir, "db")
	if err := os.Mkdir(db, 0o700); err != nil {
		t.Fatal(err)
	}
	modules := "/usr/lib/ldap"
	if _, err := os.Stat(filepath.Join(modules, "back_mdb.so")); err != nil {
		modules = "" // built in
	}
	var conf strings.Builder
	for _, s := range []string{"core", "cosine", "inetorgperson"} {
		fmt.Fprintf(&conf, "include /etc/ldap/schema/%s.schema\n", s)
	}
	if modules != "" {
		fmt.Fprintf(&conf, "modulepath %s\nmoduleload back_mdb\n", modules)
	}
	fmt.Fprintf(&conf, "pidfile %s\ndatabase mdb\nmaxsize 10485760\nsuffix \"%s\"\nrootdn \"cn=admin,%s\"\ndirectory %s\naccess to * by * read\n",
		filepath.Join(dir, "slapd.pid"), suffix, suffix, db)
	confPath := filepath.Join(dir, "slapd.conf")
	if err := os.WriteFile(confPath, []byte(conf.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	first, _, _ := strings.Cut(strings.TrimPrefix(suffix, "dc="), ",")
	var ldif strings.Builder
	fmt.Fprintf(&ldif, "dn: %s\nobjectClass: dcObject\nobjectClass: organization\no: Test HISP\ndc: %s\n\n", suffix, first)
	for _, e := range entries {
		fmt.Fprintf(&ldif, "dn: cn=%s,%s\nobjectClass: inetOrgPerson\ncn: %s\nsn: %s\nmail: %s\n", e.CN, suffix, e.CN, e.CN, e.Mail)
		for _, der := range e.Certs {
			fmt.Fprintf(&ldif, "userCertificate;binary:: %s\n", base64.StdEncoding.EncodeToString(der))
		}
		ldif.WriteString("\n")
	}
	ldifPath := filepath.Join(dir, "data.ldif")
	if err := os.WriteFile(ldifPath, []byte(ldif.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(slapadd, "-f", confPath, "-l", ldifPath).CombinedOutput(); err != nil {
		t.Fatalf("slapadd: %v\n%s", err, out)
	}
	for attempt := 0; ; attempt++ {
		port := freePort(t)
		var logs bytes.Buffer
		cmd := exec.Command(slapd, "-f", confPath, "-h", "ldap://127.0.0.1:"+strconv.Itoa(int(port))+"/", "-d", "0")
		cmd.Stdout, cmd.Stderr = &logs, &logs
		if err := cmd.Start(); err != nil {
			t.Fatalf("start slapd: %v", err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		if waitListening(port, exited) {
			t.Cleanup(func() {
				_ = cmd.Process.Kill()
				<-exited
			})
			return &Slapd{Port: port}
		}
		_ = cmd.Process.Kill()
		if attempt == 2 {
			t.Fatalf("slapd did not start:\n%s", logs.String())
		}
	}
}

// waitListening polls until the port accepts connections (true) or the
// server exits or ten seconds pass (false).
func waitListening(port uint16, exited <-chan error) bool {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return false
		default:
		}
		c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(int(port))), time.Second)
		if err == nil {
			_ = c.Close()
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(t *testing.T) uint16 {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return uint16(ln.Addr().(*net.TCPAddr).Port)
}

// ClosedPort returns a loopback port nothing listens on (connections are
// refused).
func ClosedPort(t *testing.T) uint16 { return freePort(t) }

// SilentListener accepts TCP connections on loopback and never answers:
// a server that is up but does not speak. It returns the port and a
// channel signalled on each connection accepted.
func SilentListener(t *testing.T) (uint16, <-chan struct{}) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan struct{}, 16)
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
			select {
			case accepted <- struct{}{}:
			default:
			}
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		<-done
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return uint16(ln.Addr().(*net.TCPAddr).Port), accepted
}
