package storetest

import (
	"fmt"
	"strings"
	"testing"

	"github.com/referralgw/gateway/gateway"
	"github.com/referralgw/gateway/gateway/sqlstore"
)

// testComplianceReceipt builds the receipt of a referral that went the
// whole loop, checks that every line cites real trail entries of both
// practices, then tampers with one cited entry and sees the receipt's
// verification name it.
func testComplianceReceipt(t *testing.T, h Harness) {
	e := newEnv(t, h, Behavior{}, Behavior{})
	e.startWorkers()
	r := e.create(referral())
	e.waitFor("received", func() bool { return e.status(r.ID) == gateway.StatusReceived })
	recv := gateway.Actor{ID: "client:cardio-ehr", OrgID: "cardio-b"}
	for _, s := range []struct {
		to gateway.Status
		in gateway.TransitionInput
	}{
		{gateway.StatusAccepted, gateway.TransitionInput{}},
		{gateway.StatusInProgress, gateway.TransitionInput{}},
		{gateway.StatusCompleted, gateway.TransitionInput{Outcome: &gateway.Outcome{Reference: "DocumentReference/consult-1", Summary: "Consult note"}}},
	} {
		if _, err := e.svc.Transition(e.ctx, recv, r.ID, s.to, s.in); err != nil {
			t.Fatalf("→ %s: %v", s.to, err)
		}
	}
	rc, err := e.svc.ComplianceReceipt(e.ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !rc.Verification.OK || rc.Verification.Checked == 0 {
		t.Fatalf("fresh receipt does not verify: %+v", rc.Verification)
	}
	if len(rc.Practices) != 2 {
		t.Fatalf("practices: %v", rc.Practices)
	}

	// Each statement the receipt must make, by section.
	want := map[string][]string{
		gateway.SectionConsent: {"treatment", "45 CFR 164.506(c)"},
		gateway.SectionMinimum: {"passed"},
		gateway.SectionBAA:     {"receiver cardio-b", "active"},
		gateway.SectionSend:    {r.Records[0].ID, "receiver cardio-b"},
		gateway.SectionReceipt: {"confirmed delivered"},
		gateway.SectionAnswer:  {"accepted"},
		gateway.SectionOutcome: {"DocumentReference/consult-1"},
	}
	for section, parts := range want {
		found := false
		for _, l := range rc.Lines {
			if l.Section != section {
				continue
			}
			ok := true
			for _, p := range parts {
				ok = ok && strings.Contains(l.Statement, p)
			}
			found = found || ok
		}
		if !found {
			t.Errorf("no %s line containing %q in %+v", section, parts, rc.Lines)
		}
	}

	// Every citation names an entry of the trail with that hash, and a
	// cross-practice event is cited in both trails.
	hashes := map[string]map[int64]string{}
	for _, tenant := range rc.Practices {
		hashes[tenant] = map[int64]string{}
		for en, err := range e.store.AuditEntries(e.ctx, gateway.AuditQuery{Tenant: tenant}) {
			if err != nil {
				t.Fatal(err)
			}
			hashes[tenant][en.Seq] = en.Hash
		}
	}
	var consentSeq int64
	for _, l := range rc.Lines {
		if len(l.Cites) != 2 {
			t.Errorf("%s line cites %d practices, want both: %+v", l.Action, len(l.Cites), l.Cites)
		}
		for _, c := range l.Cites {
			if got := hashes[c.Practice][c.Seq]; got == "" || got != c.Hash {
				t.Errorf("%s cites %s seq %d hash %s; the trail has %q", l.Action, c.Practice, c.Seq, c.Hash, got)
			}
			if l.Section == gateway.SectionConsent && c.Practice == "clinic-a" {
				consentSeq = c.Seq
			}
		}
	}
	if consentSeq == 0 {
		t.Fatal("no consent line cites clinic-a")
	}

	// A superuser rewrites the cited consent entry: the receipt no longer verifies.
	h.Tamper(t, e.store, "clinic-a", consentSeq)
	v, err := e.svc.VerifyComplianceReceipt(e.ctx, rc)
	if err != nil {
		t.Fatal(err)
	}
	if v.OK || !strings.Contains(strings.Join(v.Problems, "\n"), "clinic-a") {
		t.Fatalf("tampered receipt verified: %+v", v)
	}
}

// testComplianceReceiptProofs builds a receipt on a trail whose
// checkpoints are signed and witnessed: every citation carries its
// inclusion proof, each proof verifies against the signed checkpoint in
// the receipt, and a receipt whose proof or checkpoint was altered no
// longer verifies.
func testComplianceReceiptProofs(t *testing.T, h Harness) {
	e := witnessedEnv(t, h)
	e.startWorkers()
	r := e.create(referral())
	e.waitFor("received", func() bool { return e.status(r.ID) == gateway.StatusReceived })
	if _, err := e.store.(*sqlstore.Store).PublishAudit(e.ctx); err != nil {
		t.Fatal(err)
	}
	rc, err := e.svc.ComplianceReceipt(e.ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	cites := 0
	for _, l := range rc.Lines {
		for _, c := range l.Cites {
			cites++
			if c.Proof == nil || c.Proof.LeafIndex != uint64(c.Seq-1) {
				t.Errorf("%s seq %d has no proof: %+v", c.Practice, c.Seq, c.Proof)
			}
		}
	}
	if !rc.Verification.OK || rc.Verification.Proven != cites || len(rc.Checkpoints) != 2 {
		t.Fatalf("proven %d of %d, checkpoints %d: %+v", rc.Verification.Proven, cites, len(rc.Checkpoints), rc.Verification)
	}

	// A receipt whose proof was altered (a hash of the path swapped).
	forged := *rc
	forged.Lines = append([]gateway.ComplianceLine(nil), rc.Lines...)
	line := forged.Lines[len(forged.Lines)-1]
	line.Cites = append([]gateway.Citation(nil), line.Cites...)
	p := *line.Cites[0].Proof
	if len(p.Hashes) == 0 {
		t.Fatal("a proof with no hashes: the tree is too small for this test")
	}
	p.Hashes = append([]string{p.Hashes[len(p.Hashes)-1]}, p.Hashes[:len(p.Hashes)-1]...)
	if len(p.Hashes) == 1 {
		p.Hashes = []string{"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}
	}
	line.Cites[0].Proof = &p
	forged.Lines[len(forged.Lines)-1] = line
	v, err := e.svc.VerifyComplianceReceipt(e.ctx, &forged)
	if err != nil {
		t.Fatal(err)
	}
	if v.OK || !strings.Contains(strings.Join(v.Problems, "\n"), fmt.Sprintf("seq %d", line.Cites[0].Seq)) {
		t.Fatalf("altered proof verified: %+v", v)
	}
	// A receipt whose checkpoint was rewritten (its signature breaks).
	forged = *rc
	forged.Checkpoints = map[string]string{}
	for k, msg := range rc.Checkpoints {
		forged.Checkpoints[k] = strings.Replace(msg, "\n", "\n ", 1)
	}
	if v, err := e.svc.VerifyComplianceReceipt(e.ctx, &forged); err != nil || v.OK {
		t.Fatalf("rewritten checkpoint verified: %+v %v", v, err)
	}
}
