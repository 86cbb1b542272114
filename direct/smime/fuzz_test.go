package smime_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"testing"

	"github.com/referralgw/gateway/direct/smime"
)

// refusals lists every error class Verify and Decrypt may wrap.
var refusals = []error{
	smime.ErrUnsigned, smime.ErrMalformed, smime.ErrBadSignature, smime.ErrUntrustedAnchor,
	smime.ErrCertExpired, smime.ErrKeyUsage, smime.ErrCertRevoked, smime.ErrRevocationUnknown,
	smime.ErrAddressMismatch, smime.ErrNotEncrypted, smime.ErrNoKey, smime.ErrDecrypt,
	smime.ErrUnsupportedAlgorithm,
}

func classified(err error) bool {
	for _, r := range refusals {
		if errors.Is(err, r) {
			return true
		}
	}
	return false
}

func FuzzVerify(f *testing.F) {
	ent := entity(referralText)
	signed := mustSign(f, fx.sender, ent)
	f.Add(signed)
	f.Add(bytes.ReplaceAll(signed, []byte("\r\n"), []byte("\n")))
	f.Add(mustSign(f, fx.domain, entity("")))
	f.Add(ent)
	f.Add([]byte("Content-Type: application/pkcs7-mime; smime-type=signed-data\r\nContent-Transfer-Encoding: base64\r\n\r\nMIIB\r\n"))
	f.Add([]byte("Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; boundary=b\r\n\r\n--b\r\n\r\nx\r\n--b\r\nContent-Type: application/pkcs7-signature\r\n\r\n\x30\x80\x06\x09\r\n--b--\r\n"))
	crl, err := x509.ParseRevocationList(fx.crlDER)
	if err != nil {
		f.Fatal(err)
	}
	opts := fx.verifyOpts()
	opts.CRLs = smime.CRLFetcherFunc(func(context.Context, string) (*x509.RevocationList, error) { return crl, nil })
	f.Fuzz(func(t *testing.T, msg []byte) {
		v, err := smime.Verify(context.Background(), msg, opts)
		if err != nil {
			if v != nil {
				t.Error("result returned with an error")
			}
			if !classified(err) {
				t.Errorf("unclassified refusal: %v", err)
			}
			return
		}
		if v.Signer == nil || len(v.Chain) < 2 {
			t.Errorf("accepted without a signer chain: %+v", v)
		}
	})
}

func FuzzDecrypt(f *testing.F) {
	ent := entity(referralText)
	f.Add(mustEncrypt(f, ent))
	oaep, err := smime.EncryptWith(ent, []*x509.Certificate{fx.stranger.Cert, fx.rcpt.Cert}, smime.EncryptOptions{Content: smime.AES128CBC, KeyTransport: smime.RSAOAEP})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(oaep)
	gcm, err := smime.Encrypt(ent, []*x509.Certificate{fx.rcpt.Cert}, smime.AES256GCM)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(gcm)
	f.Add(ent)
	f.Add([]byte("Content-Type: application/pkcs7-mime\r\n\r\n\x30\x03\x06\x01\x00"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		plain, err := smime.Decrypt(msg, fx.keyring)
		if err != nil {
			if plain != nil {
				t.Error("content returned with an error")
			}
			if !classified(err) {
				t.Errorf("unclassified refusal: %v", err)
			}
		}
	})
}

// FuzzParseCRL feeds revocation lists of either version, as a distribution
// point may serve them, to ParseCRL: it must not panic.
func FuzzParseCRL(f *testing.F) {
	if der, err := fx.ca.CRL(fx.revoked.Cert); err == nil {
		f.Add(der)
	}
	f.Add([]byte{0x30, 0x03, 0x30, 0x01, 0x00})
	f.Fuzz(func(t *testing.T, der []byte) {
		_, _ = smime.ParseCRL(der)
	})
}
