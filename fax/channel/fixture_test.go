package channel_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/go-pdf/fpdf"

	"github.com/referralgw/gateway/fax/channel"
	"github.com/referralgw/gateway/fax/faxsim"
	"github.com/referralgw/gateway/fax/phaxio"
	"github.com/referralgw/gateway/gateway"
)

const (
	apiKey    = "test-key"
	apiSecret = "test-secret"
	faxNumber = "+15555550123"
)

var (
	token   = []byte("synthetic-callback-token")
	coverAt = time.Date(2026, 11, 23, 9, 30, 0, 0, time.UTC)
)

// emulator starts the fax emulator and a callback sink on real listeners
// and returns a channel wired to them.
func emulator(tb testing.TB, cfg faxsim.Config) (*faxsim.Server, *channel.Channel) {
	tb.Helper()
	cfg.APIKey, cfg.APISecret, cfg.CallbackToken = apiKey, apiSecret, token
	sim := faxsim.New(cfg)
	tb.Cleanup(sim.Close)
	api := httptest.NewServer(sim)
	tb.Cleanup(api.Close)
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	tb.Cleanup(sink.Close)
	return sim, newChannel(tb, api.URL, sink.URL+"/fax/callback")
}

func newChannel(tb testing.TB, apiURL, callbackURL string) *channel.Channel {
	tb.Helper()
	ch, err := channel.New(channel.Config{
		Vendor:      channel.Phaxio{Client: &phaxio.Client{BaseURL: apiURL, APIKey: apiKey, APISecret: apiSecret, HTTPClient: &http.Client{Timeout: 10 * time.Second}}},
		CallbackURL: callbackURL,
		Now:         func() time.Time { return coverAt },
	})
	if err != nil {
		tb.Fatal(err)
	}
	return ch
}

func verified(e *gateway.Entry) *gateway.Entry {
	e.Verification = &gateway.Verification{By: "user:admin", Method: "phone call to front desk", At: coverAt.AddDate(0, -1, 0)}
	return e
}

func receiver(number string) *gateway.Entry {
	return verified(&gateway.Entry{ID: "cardio-b", Kind: gateway.KindOrganization, Name: "Synthetic Cardiology",
		Fax: &gateway.FaxEndpoint{Number: number}})
}

// outbound is a synthetic referral with a text record (and a two-page PDF
// when withPDF is set).
func outbound(tb testing.TB, deliveryID string, part2, withPDF bool) *gateway.Outbound {
	out := &gateway.Outbound{
		Referral: &gateway.Referral{
			ID: "ref-0001", Identifier: "CLINIC-A-77", Priority: gateway.PriorityUrgent,
			Requester:  gateway.Requester{OrgID: "clinic-a", Name: "Dr. Synthetic Primary", NPI: "1234567893", Phone: "+1 555 555 0100"},
			Patient:    gateway.Patient{ID: "MRN-0001", GivenName: "Alex", FamilyName: "Testpatient", BirthDate: "1970-01-01"},
			Reason:     gateway.Coding{System: "http://snomed.info/sct", Code: "49436004", Display: "Atrial fibrillation"},
			ReasonText: "Palpitations for three weeks.",
			Consent:    gateway.ConsentRef{Kind: gateway.ConsentTreatment},
			Sensitive:  gateway.Sensitivity{Part2: part2},
		},
		Delivery: &gateway.Delivery{ID: deliveryID, Channel: gateway.ChannelFax},
		Receiver: receiver(faxNumber),
		Sender: &gateway.Entry{ID: "clinic-a", Kind: gateway.KindOrganization, Name: "Synthetic Family Clinic",
			Fax: &gateway.FaxEndpoint{Number: "+15555550199"}},
		Records: []gateway.RecordContent{
			{Record: gateway.Record{ID: "rec-2", Title: "Visit note", ContentType: "text/plain; charset=utf-8"}, Content: []byte("Sinus rhythm with episodes of AF.\n")},
		},
	}
	if withPDF {
		out.Records = append([]gateway.RecordContent{{Record: gateway.Record{ID: "rec-1", Title: "ECG report", ContentType: "application/pdf"},
			Content: twoPagePDF(tb)}}, out.Records...)
	}
	return out
}

func twoPagePDF(tb testing.TB) []byte {
	tb.Helper()
	d := fpdf.New("P", "mm", "Letter", "")
	d.SetFont("Helvetica", "", 12)
	for _, line := range []string{"Synthetic ECG report, page one", "Synthetic ECG report, page two"} {
		d.AddPage()
		d.Cell(0, 10, line)
	}
	var buf bytes.Buffer
	if err := d.Output(&buf); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}
