package main

import (
	"context"
	"fmt"
	"io"
	"iter"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/referralgw/gateway/fax/channel"
	"github.com/referralgw/gateway/fhir/mapping"
	"github.com/referralgw/gateway/gateway"
)

// klResult is what the loop saw, per channel and receiver.
type klResult struct {
	Seed      int64
	Kills     []string
	Delivered time.Duration // start of submission to every referral received
	AfterLast time.Duration // the last fault (its restart done) to every referral received
	Referrals int
	// Per channel: referrals sent, received as A records it, lost (not
	// received, or not at the receiver) and duplicates (second and further
	// copies at the receiver).
	Sent, Received, Lost, Duplicates map[gateway.ChannelKind]int
	// Resubmitted counts submissions the EHR had to repeat; Existed those
	// answered 200 (the gateway had stored the first attempt).
	Resubmitted, Existed int64
	// Resends counts sends repeated towards a receiver (the same delivery's
	// send attempted again); the receiver dropped or never saw them.
	Resends map[gateway.ChannelKind]int
	// Rescued counts, per node and job kind, the jobs a kill left running
	// that the rescue put back to work: evidence the kills hit work in
	// flight (B's "inbound" ones were killed between the 250 and the
	// processing).
	Rescued string
	Audit   string
}

func (r klResult) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "kill loop result: seed %d, %d referrals, every one received %s after the first submission and %s after the last fault; %d faults:\n",
		r.Seed, r.Referrals, r.Delivered.Round(time.Millisecond), r.AfterLast.Round(time.Millisecond), len(r.Kills))
	for _, k := range r.Kills {
		fmt.Fprintf(&b, "  %s\n", k)
	}
	fmt.Fprintf(&b, "  submissions repeated %d (answered 200 with the first attempt's referral: %d)\n", r.Resubmitted, r.Existed)
	for _, ch := range klChannels {
		fmt.Fprintf(&b, "  %-6s sent %d, received %d, lost %d, duplicates at the receiver %d, sends repeated %d\n",
			ch, r.Sent[ch], r.Received[ch], r.Lost[ch], r.Duplicates[ch], r.Resends[ch])
	}
	fmt.Fprintf(&b, "  jobs rescued after a kill: %s\n", r.Rescued)
	fmt.Fprintf(&b, "  audit: %s", r.Audit)
	return b.String()
}

// check compares what each receiver holds with what A sent, once both
// gateways have stopped: A through its own service (as `gateway referral
// show` would), B through its inbox, the EHR through its Tasks and the fax
// emulator through its accepted faxes.
func (kl *killLoop) check(ctx context.Context, t *testing.T, n int) klResult {
	t.Helper()
	res := klResult{Referrals: n, Sent: map[gateway.ChannelKind]int{}, Received: map[gateway.ChannelKind]int{},
		Lost: map[gateway.ChannelKind]int{}, Duplicates: map[gateway.ChannelKind]int{}, Resends: map[gateway.ChannelKind]int{},
		Resubmitted: kl.sub.retries.Load(), Existed: kl.sub.existed.Load()}
	var audits []string
	for _, p := range []struct {
		name string
		c    Config
	}{{"A", kl.cfgA}, {"B", kl.cfgB}} {
		out, err := exec.CommandContext(ctx, kl.bin, "audit", "verify", "--db", p.c.DB, "--data", p.c.DataDir).CombinedOutput()
		if err != nil {
			t.Errorf("gateway audit verify on %s: %v\n%s", p.name, err, out)
		}
		first, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
		audits = append(audits, p.name+": "+first)
	}
	res.Audit = strings.Join(audits, "; ")
	res.Rescued = kl.rescued(ctx, t)

	a, err := openApp(ctx, kl.cfgA, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	refs, err := a.svc.ListReferrals(ctx, gateway.ReferralQuery{RequesterOrg: "clinic-a"})
	if err != nil {
		t.Fatal(err)
	}
	if len(refs) != n {
		t.Errorf("A holds %d referrals, want %d (a repeated submission stored twice?)", len(refs), n)
	}
	byIdent := map[string]*gateway.Referral{}
	for _, r := range refs {
		if byIdent[r.Identifier] != nil {
			t.Errorf("A holds two referrals with identifier %s: %s and %s", r.Identifier, byIdent[r.Identifier].ID, r.ID)
		}
		byIdent[r.Identifier] = r
	}
	identOf := map[string]string{} // referral id → identifier value
	msgRef := map[string]string{}  // Direct Message-ID → referral id
	for i := range n {
		ch := klChannels[i%len(klChannels)]
		res.Sent[ch]++
		r := byIdent[mapping.JoinIdentifier(klIdentifierSystem, klIdentifier(i))]
		if r == nil {
			t.Errorf("%s: not at A (submission lost)", klIdentifier(i))
			res.Lost[ch]++
			continue
		}
		identOf[r.ID] = klIdentifier(i)
		r, ds, err := a.svc.Referral(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != gateway.StatusReceived {
			t.Errorf("%s: %s at A, want received", klIdentifier(i), r.Status)
			res.Lost[ch]++
			continue
		}
		res.Received[ch]++
		var delivered []*gateway.Delivery
		for _, d := range ds {
			if d.State == gateway.DeliveryDelivered {
				delivered = append(delivered, d)
			}
			if d.Channel == gateway.ChannelDirect {
				// The Direct channel derives the Message-ID from the
				// delivery id (a delivery that was never sent has no
				// RemoteID).
				msgRef[d.ID+"@"+demoDomainA] = r.ID
			}
		}
		if len(delivered) != 1 || delivered[0].Channel != ch {
			t.Errorf("%s: %d delivered deliveries at A, want one on %s", klIdentifier(i), len(delivered), ch)
			continue
		}
		if ch == gateway.ChannelDirect && !hasReceipt(delivered[0], gateway.ReceiptProcessed) {
			t.Errorf("%s: no processed MDN came back to A (receipts %s)", klIdentifier(i), receiptKinds(delivered[0]))
		}
		// However the kill fell, a delivered delivery knows what the far
		// side calls it: the Message-ID the MDNs answer, the fax id.
		switch d := delivered[0]; {
		case ch == gateway.ChannelDirect && d.RemoteID != d.ID+"@"+demoDomainA:
			t.Errorf("%s: delivered over Direct with remote id %q, want its Message-ID %s@%s", klIdentifier(i), d.RemoteID, d.ID, demoDomainA)
		case ch == gateway.ChannelFax && d.RemoteID == "":
			t.Errorf("%s: delivered by fax with no fax id", klIdentifier(i))
		}
	}
	// Send attempts per delivery in A's trail: every attempt past the
	// first is a send the receiver may have seen already.
	attempts := map[string]int{}
	for e, err := range a.svc.AuditEntries(ctx, gateway.AuditQuery{Tenant: "clinic-a"}) {
		if err != nil {
			t.Fatal(err)
		}
		if e.Action == "delivery.sending" {
			if attempts[e.Detail["delivery"]]++; attempts[e.Detail["delivery"]] > 1 {
				res.Resends[gateway.ChannelKind(e.Detail["channel"])]++
			}
		}
	}

	// The EHR: one Task per referral, found by the referrer's identifier
	// the pushed Task carries.
	count := func(ch gateway.ChannelKind, what string, seen map[string]int) {
		for ident, c := range seen {
			if c > 1 {
				t.Errorf("%s: %s holds %s %d times", ident, what, ch, c)
				res.Duplicates[ch] += c - 1
			}
		}
		for i := range n {
			if klChannels[i%len(klChannels)] == ch && seen[klIdentifier(i)] == 0 {
				t.Errorf("%s: not at %s (lost on %s)", klIdentifier(i), what, ch)
				res.Lost[ch]++
			}
		}
	}
	count(gateway.ChannelFHIR, "the EHR", kl.ehrTasks(t))

	// B's inbox: one message per referral; its Message-ID is the one A
	// recorded for the referral's delivery.
	b, err := openApp(ctx, kl.cfgB, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	inbox := map[string]int{}
	for m, err := range inboundAll(ctx, b.svc) {
		if err != nil {
			t.Fatal(err)
		}
		ref, ok := msgRef[m.MessageID]
		if !ok {
			t.Errorf("B holds message %s (state %s) that no delivery of A sent", m.MessageID, m.State)
			res.Duplicates[gateway.ChannelDirect]++
			continue
		}
		inbox[identOf[ref]]++
	}
	count(gateway.ChannelDirect, "B's inbox", inbox)

	// The fax emulator: one accepted fax per referral (it transmits a
	// resubmission again, as Phaxio does).
	faxes := map[string]int{}
	for _, f := range kl.ln.fax.Received() {
		ident, ok := identOf[f.Tags[channel.TagReferral]]
		if !ok {
			t.Errorf("the emulator holds fax %d for referral %q, which A did not send", f.ID, f.Tags[channel.TagReferral])
			res.Duplicates[gateway.ChannelFax]++
			continue
		}
		faxes[ident]++
	}
	count(gateway.ChannelFax, "the fax emulator", faxes)
	return res
}

func hasReceipt(d *gateway.Delivery, k gateway.ReceiptKind) bool {
	for _, r := range d.Receipts {
		if r.Kind == k {
			return true
		}
	}
	return false
}

// ehrTasks counts the EHR's Tasks by the referrer's identifier value.
func (kl *killLoop) ehrTasks(t *testing.T) map[string]int {
	e := kl.ln.ehr
	e.mu.Lock()
	defer e.mu.Unlock()
	seen := map[string]int{}
	for id, task := range e.tasks {
		ids, _ := task["identifier"].([]any)
		found := false
		for _, x := range ids {
			m, _ := x.(map[string]any)
			if m["system"] == klIdentifierSystem {
				v, _ := m["value"].(string)
				seen[v]++
				found = true
			}
		}
		if !found {
			t.Errorf("EHR Task %s carries no referrer identifier", id)
		}
	}
	return seen
}

// inboundAll yields every message in the service's inbox, newest first,
// page by page.
func inboundAll(ctx context.Context, svc *gateway.Service) iter.Seq2[*gateway.InboundMessage, error] {
	return func(yield func(*gateway.InboundMessage, error) bool) {
		q := gateway.InboundQuery{Limit: 500}
		for {
			page, err := svc.ListInbound(ctx, q)
			if err != nil {
				yield(nil, err)
				return
			}
			for _, m := range page {
				if !yield(m, nil) {
					return
				}
			}
			if len(page) < q.Limit {
				return
			}
			q.BeforeID = page[len(page)-1].ID
		}
	}
}

// rescued lists, per node, how many jobs of each kind were put back to
// work by the rescue (River keeps the attempt errors of finished jobs).
func (kl *killLoop) rescued(ctx context.Context, t *testing.T) string {
	t.Helper()
	var parts []string
	for _, node := range []struct{ name, schema string }{{"A", ""}, {"B", kl.schemaB() + "."}} {
		rows, err := kl.progress.Query(ctx, `SELECT kind, count(*) FROM `+node.schema+`river_job
			WHERE EXISTS (SELECT 1 FROM unnest(errors) e WHERE e->>'error' LIKE 'rescued:%') GROUP BY kind ORDER BY kind`)
		if err != nil {
			t.Fatalf("rescued jobs: %v", err)
		}
		var kinds []string
		for rows.Next() {
			var kind string
			var c int
			if err := rows.Scan(&kind, &c); err != nil {
				t.Fatal(err)
			}
			kinds = append(kinds, fmt.Sprintf("%s %d", kind, c))
		}
		rows.Close()
		if len(kinds) == 0 {
			kinds = []string{"none"}
		}
		parts = append(parts, node.name+": "+strings.Join(kinds, ", "))
	}
	return strings.Join(parts, "; ")
}
