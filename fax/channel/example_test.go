package channel_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/referralgw/gateway/fax/channel"
	"github.com/referralgw/gateway/fax/faxsim"
	"github.com/referralgw/gateway/fax/phaxio"
	"github.com/referralgw/gateway/gateway"
)

// ExampleChannel_Send faxes a referral through the Phaxio emulator.
func ExampleChannel_Send() {
	sim := faxsim.New(faxsim.Config{APIKey: "key", APISecret: "secret", CallbackToken: []byte("token"), CallbackDelay: time.Hour})
	defer sim.Close()
	api := httptest.NewServer(sim)
	defer api.Close()

	ch, err := channel.New(channel.Config{
		Vendor:      channel.Phaxio{Client: &phaxio.Client{BaseURL: api.URL, APIKey: "key", APISecret: "secret", HTTPClient: http.DefaultClient}},
		CallbackURL: "https://gateway.example/fax/callback",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	receiver := &gateway.Entry{ID: "cardio-b", Name: "Synthetic Cardiology", Fax: &gateway.FaxEndpoint{Number: "(555) 555-0123"},
		Verification: &gateway.Verification{By: "user:admin", Method: "phone call"}}
	out := &gateway.Outbound{
		Referral: &gateway.Referral{ID: "ref-1", Requester: gateway.Requester{OrgID: "clinic-a", Name: "Dr. Synthetic Primary",
			Phone: "+15555550100"}, Reason: gateway.Coding{Code: "49436004", Display: "Atrial fibrillation"}},
		Delivery: &gateway.Delivery{ID: "del-1", Channel: gateway.ChannelFax},
		Receiver: receiver,
		Sender:   &gateway.Entry{ID: "clinic-a", Name: "Synthetic Family Clinic"},
		Records: []gateway.RecordContent{{Record: gateway.Record{Title: "Visit note", ContentType: "text/plain"},
			Content: []byte("Synthetic note.")}},
	}
	res, err := ch.Send(context.Background(), out)
	if err != nil {
		fmt.Println(err)
		return
	}
	f := sim.Received()[0]
	fmt.Println(res.RemoteID == f.ID.String(), res.Detail, f.To, f.Tags[phaxio.IdempotencyTag])
	// Output: true queued, 2 pages +15555550123 del-1
}

// ExamplePhaxioResult shows how a busy line becomes a retryable receipt.
func ExamplePhaxioResult() {
	rc := channel.PhaxioResult(phaxio.StatusFailure, 0, "lineError", 34, "Busy").Receipt()
	fmt.Println(rc.Kind, rc.Retryable, rc.Detail)
	// Output: failed true fax failure lineError/34: Busy
}
