// Package osslca is a certificate authority run by the openssl command
// line, for tests: an independent implementation makes the PKI, keys, CRLs
// and messages a remote HISP would send. It is test support only.
package osslca

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/referralgw/gateway/direct/certs"
)

// CA is a certificate authority run by the openssl command line.
type CA struct {
	Run    func(t *testing.T, args ...string) []byte
	dir    string
	crlURL string
}

// Path is the path of a file in the CA directory.
func (p *CA) Path(name string) string { return filepath.Join(p.dir, name) }

// Write writes a file into the CA directory.
func (p *CA) Write(t *testing.T, name, data string) {
	t.Helper()
	if err := os.WriteFile(p.Path(name), []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

// Read reads a file of the CA directory.
func (p *CA) Read(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(p.Path(name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// New makes a CA (RSA-2048, SHA-256) with an `openssl ca` database,
// so it can issue certificates and v1 or v2 CRLs.
func New(t *testing.T, crlURL string) *CA {
	t.Helper()
	p := &CA{Run: OpenSSL(t), dir: t.TempDir()}
	p.Write(t, "index.txt", "")
	p.Write(t, "serial", "1000\n")
	p.Write(t, "ca.cnf", fmt.Sprintf(`[ ca ]
default_ca = testca
[ testca ]
dir = %s
database = $dir/index.txt
serial = $dir/serial
new_certs_dir = $dir
certificate = $dir/ca.pem
private_key = $dir/ca-key.pem
default_md = sha256
default_days = 30
default_crl_days = 7
policy = anything
unique_subject = no
copy_extensions = none
[ anything ]
commonName = supplied
[ crl_v2 ]
authorityKeyIdentifier = keyid
`, p.dir))
	p.Run(t, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", p.Path("ca-key.pem"), "-out", p.Path("ca.pem"),
		"-subj", "/CN=OpenSSL Test HISP CA", "-days", "60", "-sha256",
		"-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
		"-addext", "subjectKeyIdentifier=hash")
	p.crlURL = crlURL
	return p
}

// Issue makes an end-entity certificate for addr with a key of keySpec
// ("rsa:2048", "rsa:1024", "ec:P-256" via -newkey ec), bound by an
// rfc822Name, with a subject key identifier and the CA's CRL point.
func (p *CA) Issue(t *testing.T, name, addr, keySpec string) *certs.Identity {
	t.Helper()
	p.IssueCert(t, name, addr, keySpec)
	id, err := certs.LoadIdentityPEM(p.Read(t, name+".pem"), p.Read(t, name+"-key.pem"))
	if err != nil {
		t.Fatalf("load %s: %v", name, err)
	}
	return id
}

// IssueCert is Issue without loading the result as one of our identities
// (which must be RSA); it leaves name.pem and name-key.pem.
func (p *CA) IssueCert(t *testing.T, name, addr, keySpec string) {
	t.Helper()
	ext := fmt.Sprintf("subjectAltName=email:%s\nkeyUsage=critical,digitalSignature,keyEncipherment\n"+
		"subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\nbasicConstraints=CA:FALSE\n", addr)
	if p.crlURL != "" {
		ext += "crlDistributionPoints=URI:" + p.crlURL + "\n"
	}
	p.Write(t, name+".ext", ext)
	p.Run(t, "req", "-newkey", keySpec, "-nodes", "-keyout", p.Path(name+"-key.pem"), "-out", p.Path(name+".csr"), "-subj", "/CN="+addr)
	p.Run(t, "ca", "-batch", "-config", p.Path("ca.cnf"), "-in", p.Path(name+".csr"), "-out", p.Path(name+".pem"),
		"-extfile", p.Path(name+".ext"), "-notext")
}

// Revoke marks a certificate issued as name revoked in the CA database.
func (p *CA) Revoke(t *testing.T, name string) {
	t.Helper()
	p.Run(t, "ca", "-config", p.Path("ca.cnf"), "-revoke", p.Path(name+".pem"))
}

// CRL returns the CA's CRL (DER): version 1 without extensions, else v2.
func (p *CA) CRL(t *testing.T, v1 bool) []byte {
	t.Helper()
	args := []string{"ca", "-gencrl", "-config", p.Path("ca.cnf"), "-out", p.Path("crl.pem")}
	if !v1 {
		args = append(args, "-crlexts", "crl_v2")
	}
	p.Run(t, args...)
	return p.Run(t, "crl", "-in", p.Path("crl.pem"), "-outform", "DER")
}

// CACert is the CA certificate.
func (p *CA) CACert(t *testing.T) []byte { return p.Read(t, "ca.pem") }

// OpenSSL returns a runner for the openssl binary; a missing binary fails
// the test under CI=true and skips it elsewhere.
func OpenSSL(t *testing.T) func(t *testing.T, args ...string) []byte {
	t.Helper()
	bin, err := exec.LookPath("openssl")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("openssl not found, required in CI: %v", err)
		}
		t.Skipf("openssl not found: %v", err)
	}
	return func(t *testing.T, args ...string) []byte {
		t.Helper()
		cmd := exec.Command(bin, args...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("openssl %v: %v\n%s", args, err, stderr.Bytes())
		}
		return out
	}
}
