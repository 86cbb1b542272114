package smime_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"fmt"
	"testing"

	"github.com/referralgw/gateway/direct/smime"
)

// benchEntity returns a canonical entity of about size bytes.
func benchEntity(size int) []byte {
	line := []byte("Synthetic referral note line for benchmark purposes, no PHI at all.\r\n")
	body := bytes.Repeat(line, size/len(line)+1)[:size]
	body = append(body[:len(body)-2], '\r', '\n')
	return entity(string(body))
}

var benchSizes = []int{10 << 10, 1 << 20}

// BenchmarkSignEncrypt measures the outbound path per message: Sign then
// Encrypt (AES-256-CBC, one recipient).
func BenchmarkSignEncrypt(b *testing.B) {
	for _, size := range benchSizes {
		ent := benchEntity(size)
		b.Run(fmt.Sprintf("%dKB", size>>10), func(b *testing.B) {
			b.SetBytes(int64(len(ent)))
			for b.Loop() {
				signed, err := smime.Sign(ent, fx.sender.Cert, fx.sender.Key, nil)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := smime.Encrypt(signed, []*x509.Certificate{fx.rcpt.Cert}, smime.AES256CBC); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDecryptVerify measures the inbound path per message: Decrypt
// then Verify with chain, key usage, an in-memory CRL and address binding.
func BenchmarkDecryptVerify(b *testing.B) {
	crl, err := x509.ParseRevocationList(fx.crlDER)
	if err != nil {
		b.Fatal(err)
	}
	opts := fx.verifyOpts()
	opts.CRLs = smime.CRLFetcherFunc(func(context.Context, string) (*x509.RevocationList, error) { return crl, nil })
	for _, size := range benchSizes {
		ent := benchEntity(size)
		wire, err := smime.Encrypt(mustSign(b, fx.sender, ent), []*x509.Certificate{fx.rcpt.Cert}, smime.AES256CBC)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("%dKB", size>>10), func(b *testing.B) {
			b.SetBytes(int64(len(ent)))
			for b.Loop() {
				signed, err := smime.Decrypt(wire, fx.keyring)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := smime.Verify(context.Background(), signed, opts); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
