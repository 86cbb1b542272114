package smime_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/referralgw/gateway/direct/certs"
	"github.com/referralgw/gateway/direct/smime"
)

func TestSignVerify(t *testing.T) {
	ent := entity(referralText)
	tests := []struct {
		name   string
		signer *certs.Identity
		sender string
		mangle func([]byte) []byte
	}{
		{"address-bound", fx.sender, senderAddr, nil},
		{"domain-bound", fx.domain, "dr.okafor@" + senderDomain, nil},
		{"sender case differs", fx.sender, strings.ToUpper(senderAddr), nil},
		{"stored with LF line endings", fx.sender, senderAddr, func(b []byte) []byte {
			return bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n"))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			signed := mustSign(t, tt.signer, ent)
			if tt.mangle != nil {
				signed = tt.mangle(signed)
			}
			opts := fx.verifyOpts()
			opts.Sender = tt.sender
			v, err := smime.Verify(context.Background(), signed, opts)
			if err != nil {
				t.Fatal(err)
			}
			want := ent
			if tt.mangle != nil {
				want = tt.mangle(ent)
			}
			if !bytes.Equal(v.Entity, want) {
				t.Errorf("verified entity differs:\n%q\nwant\n%q", v.Entity, want)
			}
			if !v.Signer.Equal(tt.signer.Cert) || len(v.Chain) != 2 || !v.Chain[1].Equal(fx.ca.Cert) {
				t.Errorf("signer/chain wrong: %v, %d certs", v.Signer.Subject, len(v.Chain))
			}
			if v.SigningTime.IsZero() || v.Opaque || v.RevocationUnknown {
				t.Errorf("Verified = %+v", v)
			}
		})
	}
}

func TestSignKeepsEntityBytes(t *testing.T) {
	ent := entity("line one\r\n--not-a-boundary\r\n\r\ntrailing")
	signed := mustSign(t, fx.sender, ent)
	if !bytes.Contains(signed, append([]byte("\r\n"), append(ent, []byte("\r\n--smime-")...)...)) {
		t.Error("first part is not the entity byte for byte")
	}
	for _, want := range []string{"multipart/signed", `protocol="application/pkcs7-signature"`, "micalg=sha-256"} {
		if !bytes.Contains(signed[:bytes.Index(signed, []byte("\r\n\r\n"))], []byte(want)) {
			t.Errorf("header lacks %s", want)
		}
	}
}

func TestSignRejects(t *testing.T) {
	tests := []struct {
		name string
		ent  []byte
		id   *certs.Identity
		key  *certs.Identity
	}{
		{"bare LF", []byte("Content-Type: text/plain\n\nhello\n"), fx.sender, fx.sender},
		{"bare CR", []byte("Content-Type: text/plain\r\n\r\nhel\rlo"), fx.sender, fx.sender},
		{"key of another certificate", entity("x"), fx.sender, fx.rcpt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := smime.Sign(tt.ent, tt.id.Cert, tt.key.Key, nil); err == nil {
				t.Error("Sign succeeded")
			}
		})
	}
}

func TestVerifyRefusals(t *testing.T) {
	ent := entity(referralText)
	good := mustSign(t, fx.sender, ent)
	tampered := bytes.Replace(good, []byte("chest pain"), []byte("chest pian"), 1)
	tamperedHeader := bytes.Replace(good, []byte("charset=utf-8"), []byte("charset=utf-7"), 1)
	later := func(o *smime.VerifyOptions) {
		o.Now = func() time.Time { return fx.now.AddDate(2, 0, 0) }
	}
	deadCRL := func(o *smime.VerifyOptions) {
		o.CRLs = smime.CRLFetcherFunc(func(context.Context, string) (*x509.RevocationList, error) {
			return nil, errors.New("synthetic outage")
		})
	}
	tests := []struct {
		name    string
		msg     []byte
		adjust  func(*smime.VerifyOptions)
		wantErr error
	}{
		{"tampered body", tampered, nil, smime.ErrBadSignature},
		{"tampered part header", tamperedHeader, nil, smime.ErrBadSignature},
		{"untrusted CA", mustSign(t, fx.untrust, ent), nil, smime.ErrUntrustedAnchor},
		{"expired certificate", mustSign(t, fx.expired, ent), nil, smime.ErrCertExpired},
		{"verified after expiry", good, later, smime.ErrCertExpired},
		{"revoked certificate", mustSign(t, fx.revoked, ent), nil, smime.ErrCertRevoked},
		{"certificate for another address", mustSign(t, fx.rcpt, ent), nil, smime.ErrAddressMismatch},
		{"domain cert for another domain", mustSign(t, fx.domain, ent), func(o *smime.VerifyOptions) { o.Sender = "a@example-other.test" }, smime.ErrAddressMismatch},
		{"unsigned message", ent, nil, smime.ErrUnsigned},
		{"encrypted, not signed", mustEncrypt(t, ent), nil, smime.ErrUnsigned},
		{"no digitalSignature key usage", mustSign(t, fx.noSign, ent), nil, smime.ErrKeyUsage},
		{"CRL unreachable", good, deadCRL, smime.ErrRevocationUnknown},
		{"no closing boundary", good[:len(good)-20], nil, smime.ErrMalformed},
		{"garbage signature", bytes.Replace(good, []byte("\r\nMII"), []byte("\r\nAAA"), 1), nil, smime.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := fx.verifyOpts()
			if tt.adjust != nil {
				tt.adjust(&opts)
			}
			v, err := smime.Verify(context.Background(), tt.msg, opts)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if v != nil {
				t.Errorf("got a result with the error: %+v", v)
			}
		})
	}
}

func TestVerifyRevocationSoftFail(t *testing.T) {
	opts := fx.verifyOpts()
	opts.RevocationSoftFail = true
	opts.CRLs = smime.CRLFetcherFunc(func(context.Context, string) (*x509.RevocationList, error) {
		return nil, errors.New("synthetic outage")
	})
	v, err := smime.Verify(context.Background(), mustSign(t, fx.sender, entity("x")), opts)
	if err != nil {
		t.Fatal(err)
	}
	if !v.RevocationUnknown {
		t.Error("RevocationUnknown not set")
	}
	// Soft fail never lets a revoked certificate through.
	opts.CRLs = &smime.HTTPCRLFetcher{}
	if _, err := smime.Verify(context.Background(), mustSign(t, fx.revoked, entity("x")), opts); !errors.Is(err, smime.ErrCertRevoked) {
		t.Errorf("revoked under soft fail: err = %v", err)
	}
}

func TestVerifyNeedsConfiguration(t *testing.T) {
	signed := mustSign(t, fx.sender, entity("x"))
	noAnchors := fx.verifyOpts()
	noAnchors.TrustAnchors = nil
	noCRL := fx.verifyOpts()
	noCRL.CRLs = nil
	for name, opts := range map[string]smime.VerifyOptions{"no anchors": noAnchors, "no CRL fetcher": noCRL} {
		if _, err := smime.Verify(context.Background(), signed, opts); err == nil {
			t.Errorf("%s: Verify succeeded", name)
		}
	}
	noCRL.SkipRevocation = true
	if _, err := smime.Verify(context.Background(), signed, noCRL); err != nil {
		t.Errorf("SkipRevocation: %v", err)
	}
}

func mustEncrypt(t testing.TB, ent []byte) []byte {
	t.Helper()
	out, err := smime.Encrypt(ent, []*x509.Certificate{fx.rcpt.Cert}, smime.AES256CBC)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
