package inbound_test

import (
	"context"
	"fmt"
	"log"
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
	// true <nil>
	// false <nil>
}
