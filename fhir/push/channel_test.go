package push

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/referralgw/gateway/gateway"
)

func (rc *receiver) channel() *Channel {
	return New(Config{Key: rc.gwKey, KeyID: "gw-1", HTTPClient: rc.srv.Client(), AllowHTTP: true})
}

func (rc *receiver) entry() *gateway.Entry {
	return &gateway.Entry{ID: "org-ortho", Kind: gateway.KindOrganization, Name: "Ortho Example (synthetic)", OnPlatform: true,
		FHIR: &gateway.FHIREndpoint{BaseURL: rc.srv.URL + "/fhir", TokenURL: rc.tokens.TokenURL(), ClientID: "referral-gateway"}}
}

func outbound(to *gateway.Entry, deliveryID string) *gateway.Outbound {
	at := time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)
	note := []byte("Synthetic referral letter.")
	rec := gateway.RecordContent{Record: gateway.Record{ID: "rec-1", Title: "Letter", ContentType: "text/plain",
		SHA256: gateway.ContentHash(note), Size: int64(len(note))}, Content: note}
	return &gateway.Outbound{
		Referral: &gateway.Referral{ID: "ref-1", Version: 2, Created: at, Updated: at, Status: gateway.StatusRequested,
			Priority: gateway.PriorityRoutine, Requester: gateway.Requester{OrgID: "org-north", Name: "Dr. Ada Example"},
			ReceiverID: to.ID, ReceiverOrgID: to.ID, Patient: gateway.Patient{ID: "MRN-1", FamilyName: "Testperson"},
			Reason: gateway.Coding{System: "http://snomed.info/sct", Code: "239873007"}, Consent: gateway.ConsentRef{Kind: gateway.ConsentTreatment},
			Records: []gateway.Record{rec.Record}},
		Delivery: &gateway.Delivery{ID: deliveryID, ReferralID: "ref-1", Channel: gateway.ChannelFHIR},
		Receiver: to,
		Records:  []gateway.RecordContent{rec},
	}
}

func TestPushDeliversAndResendDeduplicates(t *testing.T) {
	rc := newReceiver(t)
	ch := rc.channel()
	ctx := context.Background()
	first, err := ch.Send(ctx, outbound(rc.entry(), "dlv-1"))
	if err != nil {
		t.Fatal(err)
	}
	if !first.Delivered || first.RemoteID != "task-1" || first.AwaitReceipt != 0 {
		t.Errorf("first send %+v", first)
	}
	again, err := ch.Send(ctx, outbound(rc.entry(), "dlv-1"))
	if err != nil {
		t.Fatal(err)
	}
	if again.RemoteID != first.RemoteID || rc.taskCount() != 1 {
		t.Errorf("resend made Task %s (receiver holds %d Tasks), want %s and 1", again.RemoteID, rc.taskCount(), first.RemoteID)
	}
	other, err := ch.Send(ctx, outbound(rc.entry(), "dlv-2"))
	if err != nil || other.RemoteID == first.RemoteID {
		t.Errorf("another delivery: %+v, %v", other, err)
	}
}

func TestPushFailuresAreClassified(t *testing.T) {
	tests := []struct {
		name      string
		answer    int
		permanent bool
	}{
		{"bad request is permanent", http.StatusBadRequest, true},
		{"unprocessable is permanent", http.StatusUnprocessableEntity, true},
		{"server error is retried", http.StatusServiceUnavailable, false},
		{"too many requests is retried", http.StatusTooManyRequests, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := newReceiver(t)
			rc.answer = tt.answer
			_, err := rc.channel().Send(context.Background(), outbound(rc.entry(), "dlv-1"))
			if err == nil {
				t.Fatal("send succeeded")
			}
			if gateway.IsPermanent(err) != tt.permanent {
				t.Errorf("permanent = %v, want %v (%v)", gateway.IsPermanent(err), tt.permanent, err)
			}
		})
	}
	t.Run("timeout is retried", func(t *testing.T) {
		rc := newReceiver(t)
		rc.hang = make(chan struct{})
		t.Cleanup(func() { close(rc.hang) })
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		_, err := rc.channel().Send(ctx, outbound(rc.entry(), "dlv-1"))
		if err == nil || gateway.IsPermanent(err) || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err = %v, want a temporary deadline error", err)
		}
	})
	t.Run("a throttling or failing token endpoint is retried", func(t *testing.T) {
		for _, status := range []int{http.StatusRequestTimeout, http.StatusTooManyRequests, http.StatusServiceUnavailable} {
			tokens := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.Header().Set("Retry-After", "5")
				w.WriteHeader(status)
				_, _ = w.Write([]byte(`{"error":"invalid_client","error_description":"slow down"}`))
			}))
			rc := newReceiver(t)
			to := rc.entry()
			to.FHIR.TokenURL = tokens.URL
			_, err := rc.channel().Send(context.Background(), outbound(to, "dlv-1"))
			tokens.Close()
			if err == nil || gateway.IsPermanent(err) {
				t.Errorf("token endpoint answering %d: err = %v, want a temporary error", status, err)
			}
		}
	})
	t.Run("unknown client at the token endpoint is permanent", func(t *testing.T) {
		rc := newReceiver(t)
		to := rc.entry()
		to.FHIR.ClientID = "not-registered"
		_, err := rc.channel().Send(context.Background(), outbound(to, "dlv-1"))
		if err == nil || !gateway.IsPermanent(err) {
			t.Errorf("err = %v, want permanent", err)
		}
	})
}

func TestPullModeSendsNothing(t *testing.T) {
	ch := New(Config{})
	to := &gateway.Entry{ID: "org-pull", OnPlatform: true, FHIR: &gateway.FHIREndpoint{}}
	res, err := ch.Send(context.Background(), outbound(to, "dlv-1"))
	if err != nil || res.Delivered || res.AwaitReceipt != 0 || res.RemoteID != "" {
		t.Errorf("pull send = %+v, %v", res, err)
	}
}

func TestReachable(t *testing.T) {
	ch := New(Config{})
	tests := []struct {
		name string
		e    gateway.Entry
		ok   bool
	}{
		{"pull mode", gateway.Entry{OnPlatform: true, FHIR: &gateway.FHIREndpoint{}}, true},
		{"https push", gateway.Entry{OnPlatform: true, FHIR: &gateway.FHIREndpoint{BaseURL: "https://ehr.example.org/fhir"}}, true},
		{"off platform", gateway.Entry{FHIR: &gateway.FHIREndpoint{BaseURL: "https://ehr.example.org/fhir"}}, false},
		{"no endpoint", gateway.Entry{OnPlatform: true}, false},
		{"plain http", gateway.Entry{OnPlatform: true, FHIR: &gateway.FHIREndpoint{BaseURL: "http://ehr.example.org/fhir"}}, false},
		{"relative URL", gateway.Entry{OnPlatform: true, FHIR: &gateway.FHIREndpoint{BaseURL: "/fhir"}}, false},
		{"token URL without client", gateway.Entry{OnPlatform: true, FHIR: &gateway.FHIREndpoint{BaseURL: "https://e.example.org/fhir", TokenURL: "https://e.example.org/token"}}, false},
		{"SMART without a gateway key", gateway.Entry{OnPlatform: true, FHIR: &gateway.FHIREndpoint{BaseURL: "https://e.example.org/fhir", TokenURL: "https://e.example.org/token", ClientID: "gw"}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ch.Reachable(context.Background(), &tt.e)
			if (err == nil) != tt.ok {
				t.Errorf("Reachable = %v, want ok %v", err, tt.ok)
			}
		})
	}
}

// TestNarrowScopesForAStrictTokenEndpoint: a receiver's token endpoint that
// refuses a request naming any scope it did not register (invalid_scope)
// instead of granting what it allows still gets the referral: the gateway
// asks once more with NarrowScopes, the set it asked for before search was
// added, and keeps asking for those from that receiver.
func TestNarrowScopesForAStrictTokenEndpoint(t *testing.T) {
	rc := newReceiver(t)
	rc.mu.Lock()
	rc.onlyScopes = NarrowScopes
	rc.mu.Unlock()
	c := rc.channel()
	for i := range 2 {
		if _, err := c.Send(t.Context(), outbound(rc.entry(), fmt.Sprintf("dlv-narrow-%d", i))); err != nil {
			t.Fatalf("push %d to a receiver that registered the narrow scopes: %v", i+1, err)
		}
	}
	if n := rc.taskCount(); n != 2 {
		t.Fatalf("receiver holds %d tasks, want 2", n)
	}
	// Configured scopes are the operator's: not narrowed behind their back.
	rc2 := newReceiver(t)
	rc2.mu.Lock()
	rc2.onlyScopes = NarrowScopes
	rc2.mu.Unlock()
	c2 := New(Config{Key: rc2.gwKey, KeyID: "gw-1", Scopes: []string{"system/Task.crs"}, HTTPClient: rc2.srv.Client(), AllowHTTP: true})
	if _, err := c2.Send(t.Context(), outbound(rc2.entry(), "dlv-configured")); err == nil {
		t.Fatal("a push with configured scopes the receiver refused went through")
	}
}
