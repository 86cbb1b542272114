package certs_test

import (
	"fmt"
	"log"
	"os"
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

// WriteDevBundle backs `gateway certs dev`: a CA, its CRL and one
// certificate and key per address, as PEM files.
func ExampleWriteDevBundle() {
	dir, err := os.MkdirTemp("", "devbundle")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	err = certs.WriteDevBundle(dir, "direct.example-clinic.test", []string{"intake@direct.example-clinic.test"}, time.Now())
	if err != nil {
		log.Fatal(err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		log.Fatal(err)
	}
	for _, e := range entries {
		fmt.Println(e.Name())
	}
	// Output:
	// ca-key.pem
	// ca.crl
	// ca.pem
	// intake@direct.example-clinic.test-key.pem
	// intake@direct.example-clinic.test.pem
}
