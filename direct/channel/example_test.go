package channel_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/referralgw/gateway/direct/certs"
	"github.com/referralgw/gateway/direct/channel"
	"github.com/referralgw/gateway/direct/smtpout"
	"github.com/referralgw/gateway/gateway"
)

// printTransport stands in for an *smtpout.Sender.
type printTransport struct{}

func (printTransport) Send(_ context.Context, from string, to []string, msg []byte) (smtpout.Result, error) {
	fmt.Println("SMTP", from, "→", to[0])
	return smtpout.Result{Host: "mx.direct.cardio-b.example", TLS: true, Code: 250, EnhancedCode: "2.0.0", Message: "OK"}, nil
}

// A referral goes out signed with our key and encrypted for the receiver's
// certificate from the directory; the Message-ID is derived from the
// delivery id, so the core can correlate MDNs with the delivery.
func ExampleChannel_Send() {
	now := time.Now()
	ca, err := certs.NewDevCA("example-anchor.test", now)
	if err != nil {
		log.Fatal(err)
	}
	ours, err := ca.IssueDomain("direct.clinic-a.example")
	if err != nil {
		log.Fatal(err)
	}
	theirs, err := ca.IssueDomain("direct.cardio-b.example")
	if err != nil {
		log.Fatal(err)
	}
	keys := certs.NewKeyring()
	if err := keys.Add(ours); err != nil {
		log.Fatal(err)
	}
	trust, err := certs.NewTrustStore(ca.Cert)
	if err != nil {
		log.Fatal(err)
	}
	ch, err := channel.New(channel.Config{Domain: "direct.clinic-a.example", Keys: keys, Trust: trust, Transport: printTransport{}})
	if err != nil {
		log.Fatal(err)
	}
	res, err := ch.Send(context.Background(), &gateway.Outbound{
		Referral: &gateway.Referral{ID: "ref-1", Patient: gateway.Patient{ID: "MRN-1", GivenName: "Alex", FamilyName: "Testpatient"}},
		Delivery: &gateway.Delivery{ID: "del-1"},
		Receiver: &gateway.Entry{ID: "cardio-b", Name: "Synthetic Cardiology", Direct: &gateway.DirectEndpoint{
			Address: "intake@direct.cardio-b.example", CertPEM: string(certs.EncodeCertPEM(theirs.Cert))}},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.RemoteID, res.AwaitReceipt)
	fmt.Println(channel.Subject("ref-1"))
	// Output:
	// SMTP referrals@direct.clinic-a.example → intake@direct.cardio-b.example
	// del-1@direct.clinic-a.example 1h0m0s
	// Referral [ref:ref-1]
}
