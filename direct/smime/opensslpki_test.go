package smime_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/referralgw/gateway/direct/certs"
)

// osslPKI is a certificate authority run entirely by the openssl command
// line (an independent implementation): its certificates, keys, CRLs and
// messages are what a remote HISP would send us.
type osslPKI struct {
	run    func(t *testing.T, args ...string) []byte
	dir    string
	crlURL string
}

func (p *osslPKI) path(name string) string { return filepath.Join(p.dir, name) }

func (p *osslPKI) write(t *testing.T, name, data string) {
	t.Helper()
	if err := os.WriteFile(p.path(name), []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

func (p *osslPKI) read(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(p.path(name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// newOsslPKI makes a CA (RSA-2048, SHA-256) with an `openssl ca` database,
// so it can issue certificates and v1 or v2 CRLs.
func newOsslPKI(t *testing.T, crlURL string) *osslPKI {
	t.Helper()
	p := &osslPKI{run: openssl(t), dir: t.TempDir()}
	p.write(t, "index.txt", "")
	p.write(t, "serial", "1000\n")
	p.write(t, "ca.cnf", fmt.Sprintf(`[ ca ]
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
	p.run(t, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", p.path("ca-key.pem"), "-out", p.path("ca.pem"),
		"-subj", "/CN=OpenSSL Test HISP CA", "-days", "60", "-sha256",
		"-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
		"-addext", "subjectKeyIdentifier=hash")
	p.crlURL = crlURL
	return p
}

// issue makes an end-entity certificate for addr with a key of keySpec
// ("rsa:2048", "rsa:1024", "ec:P-256" via -newkey ec), bound by an
// rfc822Name, with a subject key identifier and the CA's CRL point.
func (p *osslPKI) issue(t *testing.T, name, addr, keySpec string) *certs.Identity {
	t.Helper()
	p.issueCert(t, name, addr, keySpec)
	id, err := certs.LoadIdentityPEM(p.read(t, name+".pem"), p.read(t, name+"-key.pem"))
	if err != nil {
		t.Fatalf("load %s: %v", name, err)
	}
	return id
}

// issueCert is issue without loading the result as one of our identities
// (which must be RSA); it leaves name.pem and name-key.pem.
func (p *osslPKI) issueCert(t *testing.T, name, addr, keySpec string) {
	t.Helper()
	ext := fmt.Sprintf("subjectAltName=email:%s\nkeyUsage=critical,digitalSignature,keyEncipherment\n"+
		"subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\nbasicConstraints=CA:FALSE\n", addr)
	if p.crlURL != "" {
		ext += "crlDistributionPoints=URI:" + p.crlURL + "\n"
	}
	p.write(t, name+".ext", ext)
	p.run(t, "req", "-newkey", keySpec, "-nodes", "-keyout", p.path(name+"-key.pem"), "-out", p.path(name+".csr"), "-subj", "/CN="+addr)
	p.run(t, "ca", "-batch", "-config", p.path("ca.cnf"), "-in", p.path(name+".csr"), "-out", p.path(name+".pem"),
		"-extfile", p.path(name+".ext"), "-notext")
}

// revoke marks a certificate issued as name revoked in the CA database.
func (p *osslPKI) revoke(t *testing.T, name string) {
	t.Helper()
	p.run(t, "ca", "-config", p.path("ca.cnf"), "-revoke", p.path(name+".pem"))
}

// crl writes the CA's CRL (DER): version 1 without extensions, else v2.
func (p *osslPKI) crl(t *testing.T, v1 bool) []byte {
	t.Helper()
	args := []string{"ca", "-gencrl", "-config", p.path("ca.cnf"), "-out", p.path("crl.pem")}
	if !v1 {
		args = append(args, "-crlexts", "crl_v2")
	}
	p.run(t, args...)
	return p.run(t, "crl", "-in", p.path("crl.pem"), "-outform", "DER")
}

// caCert is the CA certificate.
func (p *osslPKI) caCert(t *testing.T) []byte { return p.read(t, "ca.pem") }
