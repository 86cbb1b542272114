package certs_test

import (
	"fmt"
	"log"
	"time"

	"github.com/referralgw/gateway/direct/certs"
)

// A development CA issues an address-bound certificate that a Keyring then
// finds for signing and for decryption.
func Example() {
	ca, err := certs.NewDevCA("direct.example-clinic.test", time.Now())
	if err != nil {
		log.Fatal(err)
	}
	ca.CRLURL = "http://localhost:8080/ca.crl"
	id, err := ca.IssueAddress("intake@direct.example-clinic.test")
	if err != nil {
		log.Fatal(err)
	}
	kr := certs.NewKeyring()
	if err := kr.Add(id); err != nil {
		log.Fatal(err)
	}
	signer, err := kr.ForAddress("intake@direct.example-clinic.test")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(signer.Cert.EmailAddresses, signer.Cert.CRLDistributionPoints)
	// Output: [intake@direct.example-clinic.test] [http://localhost:8080/ca.crl]
}
