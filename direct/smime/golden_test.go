package smime_test

import (
	"bytes"
	"crypto/x509"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/referralgw/gateway/direct/smime"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

var (
	boundaryRE = regexp.MustCompile(`smime-[0-9a-f]{36}`)
	base64RE   = regexp.MustCompile(`(?m)(^[A-Za-z0-9+/=]{1,76}\r\n)+`)
)

// mask replaces the parts of a rendered entity that are random on every run
// (boundary, base64 CMS) with placeholders, leaving the MIME structure.
func mask(b []byte) []byte {
	b = boundaryRE.ReplaceAll(b, []byte("BOUNDARY"))
	return base64RE.ReplaceAll(b, []byte("<base64 CMS>\r\n"))
}

func TestGoldenRendering(t *testing.T) {
	ent := entity("Synthetic referral body.\r\n")
	signed := mustSign(t, fx.sender, ent)
	enc, err := smime.Encrypt(ent, []*x509.Certificate{fx.rcpt.Cert}, smime.AES256CBC)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		file string
		got  []byte
	}{
		{"signed.golden", mask(signed)},
		{"encrypted.golden", mask(enc)},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			path := filepath.Join("testdata", tt.file)
			if *update {
				if err := os.WriteFile(path, tt.got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create)", err)
			}
			if !bytes.Equal(tt.got, want) {
				t.Errorf("%s differs; got:\n%s", path, tt.got)
			}
		})
	}
}
