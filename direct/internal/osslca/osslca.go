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
	"strings"
	"testing"

	"github.com/referralgw/gateway/direct/certs"
)

// CA is a certificate authority run by the openssl command line.
type CA struct {
	Run    func(t *testing.T, args ...string) []byte
	dir    string
	crlURL string
	// AIA, when set, is the caIssuers URL (RFC 5280 4.2.2.1) written into
	// the certificates this CA issues: where its own certificate is served.
	AIA string
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
	p := newDB(t, crlURL)
	p.Run(t, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", p.Path("ca-key.pem"), "-out", p.Path("ca.pem"),
		"-subj", "/CN=OpenSSL Test HISP CA", "-days", "60", "-sha256",
		"-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
		"-addext", "subjectKeyIdentifier=hash")
	return p
}

// NewIntermediate makes a CA whose certificate p issues (an intermediate,
// named cn), with its own database, CRL point crlURL and, when p.AIA is
// set, a caIssuers link to p's certificate.
func (p *CA) NewIntermediate(t *testing.T, cn, crlURL string) *CA {
	t.Helper()
	sub := newDB(t, crlURL)
	ext := "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n" +
		"subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n"
	if p.AIA != "" {
		ext += "authorityInfoAccess=caIssuers;URI:" + p.AIA + "\n"
	}
	sub.Write(t, "ca.ext", ext)
	p.Run(t, "req", "-newkey", "rsa:2048", "-nodes", "-keyout", sub.Path("ca-key.pem"), "-out", sub.Path("ca.csr"), "-subj", "/CN="+cn)
	p.Run(t, "ca", "-batch", "-config", p.Path("ca.cnf"), "-in", sub.Path("ca.csr"), "-out", sub.Path("ca.pem"),
		"-extfile", sub.Path("ca.ext"), "-notext")
	return sub
}

// newDB makes the directory and `openssl ca` database of a CA.
func newDB(t *testing.T, crlURL string) *CA {
	t.Helper()
	p := &CA{Run: OpenSSL(t), dir: t.TempDir(), crlURL: crlURL}
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
	p.IssueLeaf(t, name, Leaf{Email: addr, Key: keySpec})
}

// Leaf says what an end-entity certificate binds and how long it is valid.
type Leaf struct {
	// Email is the rfc822Name (an address-bound certificate); DNS the
	// dNSName (a domain-bound one). The subject CN is Email, else DNS.
	Email, DNS string
	// Key is the key spec ("rsa:2048" when empty).
	Key string
	// Start and End, as openssl's YYYYMMDDHHMMSSZ, replace the default
	// validity (now to 30 days on): a past End makes an expired one.
	Start, End string
}

// IssueLeaf makes an end-entity certificate (name.pem, name-key.pem) with
// the CA's CRL point and caIssuers link, and returns it in DER.
func (p *CA) IssueLeaf(t *testing.T, name string, l Leaf) []byte {
	t.Helper()
	var san []string
	if l.Email != "" {
		san = append(san, "email:"+l.Email)
	}
	if l.DNS != "" {
		san = append(san, "DNS:"+l.DNS)
	}
	cn := l.Email
	if cn == "" {
		cn = l.DNS
	}
	key := l.Key
	if key == "" {
		key = "rsa:2048"
	}
	ext := fmt.Sprintf("subjectAltName=%s\nkeyUsage=critical,digitalSignature,keyEncipherment\n"+
		"subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\nbasicConstraints=CA:FALSE\n", strings.Join(san, ","))
	if p.crlURL != "" {
		ext += "crlDistributionPoints=URI:" + p.crlURL + "\n"
	}
	if p.AIA != "" {
		ext += "authorityInfoAccess=caIssuers;URI:" + p.AIA + "\n"
	}
	p.Write(t, name+".ext", ext)
	p.Run(t, "req", "-newkey", key, "-nodes", "-keyout", p.Path(name+"-key.pem"), "-out", p.Path(name+".csr"), "-subj", "/CN="+cn)
	args := []string{"ca", "-batch", "-config", p.Path("ca.cnf"), "-in", p.Path(name + ".csr"), "-out", p.Path(name + ".pem"),
		"-extfile", p.Path(name + ".ext"), "-notext"}
	if l.Start != "" {
		args = append(args, "-startdate", l.Start)
	}
	if l.End != "" {
		args = append(args, "-enddate", l.End)
	}
	p.Run(t, args...)
	return p.Run(t, "x509", "-in", p.Path(name+".pem"), "-outform", "DER")
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
