package litestore_test

import (
	"bytes"
	"path/filepath"
	"testing"
	"time"

	"github.com/referralgw/gateway/audit"
	"github.com/referralgw/gateway/gateway"
	"github.com/referralgw/gateway/gateway/litestore"
	"github.com/referralgw/gateway/gateway/storetest"
)

// countingMetrics counts what the core reports after commit.
type countingMetrics struct{ committed int }

func (m *countingMetrics) Committed(audit.Event)                                         { m.committed++ }
func (m *countingMetrics) ReceiptTime(gateway.ChannelKind, time.Duration)                {}
func (m *countingMetrics) JobDone(gateway.JobKind, time.Duration, time.Duration, string) {}

// TestSealedRecordsSurviveRestartWithMetrics runs the core the way serve
// does (metrics on, so every Tx is wrapped twice), writes a referral with a
// record, and reads it back from a fresh process: a new store and a new
// sealer with the same key, so the record's data key must have been kept
// in the database through the wrappers.
func TestSealedRecordsSurviveRestartWithMetrics(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gateway.db")
	key := bytes.Repeat([]byte{9}, 32)
	open := func(m gateway.Metrics) (*gateway.Service, func()) {
		s, err := litestore.Open(t.Context(), path, storetest.FastQueue())
		if err != nil {
			t.Fatal(err)
		}
		sealer, err := gateway.NewSealer(key)
		if err != nil {
			t.Fatal(err)
		}
		cfg := gateway.DefaultConfig()
		cfg.Metrics = m
		return gateway.NewService(s, sealer, nil, cfg, nil), func() { s.Close() }
	}
	m := &countingMetrics{}
	svc, closeFirst := open(m)
	admin := gateway.Actor{ID: "user:admin"}
	for _, e := range []*gateway.Entry{
		{ID: "clinic-a", Kind: gateway.KindOrganization, Name: "Synthetic Family Clinic"},
		{ID: "cardio-b", Kind: gateway.KindOrganization, Name: "Synthetic Cardiology"},
	} {
		if _, err := svc.PutEntry(t.Context(), admin, e); err != nil {
			t.Fatal(err)
		}
	}
	r, err := svc.CreateReferral(t.Context(), gateway.Actor{ID: "user:referrer", OrgID: "clinic-a"}, gateway.NewReferral{
		Requester: gateway.Requester{OrgID: "clinic-a"}, ReceiverID: "cardio-b", Patient: gateway.Patient{ID: "MRN-1"},
		Reason:  gateway.Coding{System: "http://snomed.info/sct", Code: "49436004"},
		Consent: gateway.ConsentRef{Kind: gateway.ConsentTreatment},
		Records: []gateway.NewRecord{{Title: "Note", ContentType: "text/plain", Content: []byte("synthetic note")}}})
	if err != nil {
		t.Fatal(err)
	}
	if m.committed == 0 {
		t.Fatal("metrics saw no committed event: the metrics wrapper is not in the path")
	}
	closeFirst()

	svc, closeSecond := open(nil)
	defer closeSecond()
	got, _, err := svc.Referral(t.Context(), r.ID)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := svc.RecordContents(t.Context(), got)
	if err != nil || len(recs) != 1 || string(recs[0].Content) != "synthetic note" {
		t.Fatalf("record after restart: %v %v", recs, err)
	}
}
