package inbound_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/referralgw/gateway/direct/certs"
	"github.com/referralgw/gateway/direct/inbound"
)

// smtpin accepts RCPT only for addresses whose mail we can decrypt.
func ExampleNewMailboxes() {
	ca, err := certs.NewDevCA("example-anchor.test", time.Now())
	if err != nil {
		log.Fatal(err)
	}
	id, err := ca.IssueDomain("direct.cardio-b.example")
	if err != nil {
		log.Fatal(err)
	}
	keys := certs.NewKeyring()
	if err := keys.Add(id); err != nil {
		log.Fatal(err)
	}
	m := inbound.NewMailboxes(keys, "direct.cardio-b.example")
	fmt.Println(m.Accepts(context.Background(), "intake@direct.cardio-b.example"))
	fmt.Println(m.Accepts(context.Background(), "intake@direct.elsewhere.example"))
	// Output:
	// true
	// false
}

// The console lists the inbox (or the quarantine) by its metadata; the
// message itself stays encrypted as received.
func ExampleFolder_List() {
	dir, err := os.MkdirTemp("", "inbox")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	inbox, err := inbound.OpenFolder(filepath.Join(dir, "inbox"))
	if err != nil {
		log.Fatal(err)
	}
	err = inbox.Put(inbound.Item{ID: "20261123-0001", Kind: "message", From: "referrals@direct.clinic-a.example",
		Tenants: []string{"cardio-b"}, Applied: "stored"}, []byte("(encrypted message as received)"))
	if err != nil {
		log.Fatal(err)
	}
	items, err := inbox.List()
	if err != nil {
		log.Fatal(err)
	}
	for _, it := range items {
		fmt.Println(it.ID, it.Kind, it.From, it.Tenants, it.Applied)
	}
	// Output: 20261123-0001 message referrals@direct.clinic-a.example [cardio-b] stored
}
