package main

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/referralgw/gateway/audit"
)

// TestInboundCountsAggregatedEntries: a replayed fax callback is written as
// one aggregated entry for many replays; the inbound counter adds them all.
func TestInboundCountsAggregatedEntries(t *testing.T) {
	m := newMetrics()
	m.Committed(audit.Event{Action: "fax.callback.replay", Outcome: audit.OutcomeRefused,
		Detail: map[string]string{"reason": "success", "count": "1"}})
	m.Committed(audit.Event{Action: "fax.callback.replay", Outcome: audit.OutcomeRefused,
		Detail: map[string]string{"reason": "success", "count": "41"}})
	m.Committed(audit.Event{Action: "fax.callback", Outcome: audit.OutcomeSuccess, Detail: map[string]string{"faxId": "7"}})
	if got := inboundValue(t, m, "replay"); got != 42 {
		t.Errorf("replays counted %v, want 42", got)
	}
	if got := inboundValue(t, m, "receipt"); got != 1 {
		t.Errorf("receipts counted %v, want 1", got)
	}
}

// inboundValue reads gateway_inbound_messages_total for fax and verdict.
func inboundValue(t *testing.T, m *promMetrics, verdict string) float64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(m.inbound)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, s := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range s.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["channel"] == "fax" && labels["verdict"] == verdict {
				return s.GetCounter().GetValue()
			}
		}
	}
	t.Fatalf("no series for fax %s", verdict)
	return 0
}
