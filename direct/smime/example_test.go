package smime_test

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/referralgw/gateway/direct/certs"
	"github.com/referralgw/gateway/direct/smime"
)

// A Direct message round trip: the sending HISP signs and encrypts, the
// receiving HISP decrypts and verifies against its trust anchors.
func Example() {
	ca, err := certs.NewDevCA("example-clinic.test", time.Now())
	if err != nil {
		log.Fatal(err)
	}
	sender, err := ca.IssueAddress("dr.rivera@direct.example-clinic.test")
	if err != nil {
		log.Fatal(err)
	}
	receiver, err := ca.IssueDomain("direct.example-cardiology.test")
	if err != nil {
		log.Fatal(err)
	}

	entity := []byte("Content-Type: text/plain\r\n\r\nSynthetic referral for Jane Testpatient.\r\n")
	signed, err := smime.Sign(entity, sender.Cert, sender.Key, nil)
	if err != nil {
		log.Fatal(err)
	}
	wire, err := smime.Encrypt(signed, []*x509.Certificate{receiver.Cert}, smime.AES256CBC)
	if err != nil {
		log.Fatal(err)
	}

	keys := certs.NewKeyring()
	if err := keys.Add(receiver); err != nil {
		log.Fatal(err)
	}
	opened, err := smime.Decrypt(wire, keys)
	if err != nil {
		log.Fatal(err)
	}
	anchors := x509.NewCertPool()
	anchors.AddCert(ca.Cert)
	v, err := smime.Verify(context.Background(), opened, smime.VerifyOptions{
		Sender:       "dr.rivera@direct.example-clinic.test",
		TrustAnchors: anchors,
		CRLs:         smime.NewCRLCache(&smime.HTTPCRLFetcher{Timeout: 10 * time.Second}, time.Now),
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(v.Signer.EmailAddresses[0])
	fmt.Printf("%q\n", v.Entity)
	// Output:
	// dr.rivera@direct.example-clinic.test
	// "Content-Type: text/plain\r\n\r\nSynthetic referral for Jane Testpatient.\r\n"
}

// Verification refusals are typed, so the caller can audit the reason.
func ExampleVerify_refusal() {
	ca, err := certs.NewDevCA("example-clinic.test", time.Now())
	if err != nil {
		log.Fatal(err)
	}
	sender, err := ca.IssueAddress("dr.rivera@direct.example-clinic.test")
	if err != nil {
		log.Fatal(err)
	}
	signed, err := smime.Sign([]byte("Content-Type: text/plain\r\n\r\nhello\r\n"), sender.Cert, sender.Key, nil)
	if err != nil {
		log.Fatal(err)
	}
	anchors := x509.NewCertPool()
	anchors.AddCert(ca.Cert)
	_, err = smime.Verify(context.Background(), signed, smime.VerifyOptions{
		Sender:         "impostor@direct.example-clinic.test",
		TrustAnchors:   anchors,
		SkipRevocation: true,
	})
	switch {
	case errors.Is(err, smime.ErrAddressMismatch):
		fmt.Println("refused: certificate not bound to sender")
	case err != nil:
		fmt.Println("refused:", err)
	}
	// Output: refused: certificate not bound to sender
}
