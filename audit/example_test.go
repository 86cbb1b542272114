package audit_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"iter"
	"time"

	"github.com/referralgw/gateway/audit"
)

// trail yields stored rows the way a store's query would.
func trail(entries ...audit.Entry) iter.Seq2[audit.Entry, error] {
	return func(yield func(audit.Entry, error) bool) {
		for _, e := range entries {
			if !yield(e, nil) {
				return
			}
		}
	}
}

// A store appends an event to each tenant's chain by passing the chain head to NewEntry.
func ExampleNewEntry() {
	ev := audit.Event{
		Time:       time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC),
		Actor:      "user:dr-synthetic",
		Tenants:    []string{"practice-a", "practice-b"},
		ReferralID: "ref-0001",
		Action:     "referral.created",
		Outcome:    audit.OutcomeSuccess,
	}
	if err := ev.Validate(); err != nil {
		fmt.Println(err)
		return
	}
	for _, tenant := range ev.Tenants {
		// Both chains are empty here: head (0, "").
		e := audit.NewEntry(tenant, 0, "", ev)
		fmt.Println(e.Tenant, e.Seq, e.PrevHash == audit.GenesisHash(tenant), e.Hash == e.ComputeHash())
	}
	// Output:
	// practice-a 1 true true
	// practice-b 1 true true
}

// Verify pinpoints the first changed, deleted or reordered row of every tenant.
func ExampleVerify() {
	t0 := time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)
	var rows []audit.Entry
	var seq int64
	var prev string
	for i, action := range []string{"referral.created", "consent.checked", "delivery.sent", "delivery.delivered"} {
		e := audit.NewEntry("practice-a", seq, prev, audit.Event{
			Time: t0.Add(time.Duration(i) * time.Minute), Actor: "system", Action: action, Outcome: audit.OutcomeSuccess,
		})
		rows = append(rows, e)
		seq, prev = e.Seq, e.Hash
	}
	rows[2].Actor = "user:mallory" // someone edits a stored row

	report, err := audit.Verify(trail(rows...))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(report.OK(), report.Tenants, report.Entries)
	for _, b := range report.Breaks {
		fmt.Println(b.Tenant, b.Seq, b.Reason)
	}
	// Output:
	// false 1 4
	// practice-a 3 hash mismatch: row changed after it was written
}

// A checkpoint signed with a key outside the database, kept by a witness,
// reveals a truncated tail that the hash chain alone cannot.
func ExampleVerifyTrail() {
	skey, vkey, err := audit.GenerateSigningKey("gw.example")
	if err != nil {
		fmt.Println(err)
		return
	}
	signer, _ := audit.NewSigner(skey)
	verifier, _ := audit.NewVerifier(vkey)
	t0 := time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)
	first := audit.NewEntry("practice-a", 0, "", audit.Event{Time: t0, Actor: "system", Action: "referral.created", Outcome: audit.OutcomeSuccess})
	second := audit.NewEntry("practice-a", first.Seq, first.Hash, audit.Event{Time: t0.Add(time.Minute), Actor: "system", Action: "delivery.sent", Outcome: audit.OutcomeSuccess})

	// The sequencer signs the tree of both entries; a witness keeps it.
	tree := audit.NewTree()
	for _, e := range []audit.Entry{first, second} {
		leaf, _ := audit.LeafHash(e)
		_ = tree.Append(leaf, nil)
	}
	msg, _ := audit.SignTreeHead(signer, "practice-a", tree.Size(), tree.Root())
	head, err := audit.OpenTreeHead(msg, verifier)
	if err != nil {
		fmt.Println(err)
		return
	}

	// The newest row is deleted: the remaining chain is internally consistent.
	plain, _ := audit.Verify(trail(first))
	report, _ := audit.VerifyTrail(trail(first), []audit.TreeHead{head})
	fmt.Println(plain.OK(), report.OK())
	fmt.Println(report.Breaks[0].Seq, report.Breaks[0].Reason)
	// Output:
	// true false
	// 2 truncated: a checkpoint of size 2 is witnessed, the chain ends at seq 1
}

// ExportFHIR turns a trail into a FHIR R4 Bundle of AuditEvents for an auditor.
func ExampleExportFHIR() {
	t0 := time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)
	e := audit.NewEntry("practice-a", 0, "", audit.Event{
		Time: t0, Actor: "system", ReferralID: "ref-0001", Action: "consent.checked", Outcome: audit.OutcomeRefused,
		Detail: map[string]string{"reason": "authorization missing"},
	})
	var buf bytes.Buffer
	n, err := audit.ExportFHIR(&buf, trail(e), audit.ExportOptions{BundleID: "export-1", Generated: t0})
	if err != nil {
		fmt.Println(err)
		return
	}
	var bundle struct {
		Type  string
		Entry []struct {
			Resource struct {
				ID, Action, Recorded, Outcome, OutcomeDesc string
			}
		}
	}
	if err := json.Unmarshal(buf.Bytes(), &bundle); err != nil {
		fmt.Println(err)
		return
	}
	r := bundle.Entry[0].Resource
	fmt.Println(n, bundle.Type)
	fmt.Println(r.ID, r.Action, r.Recorded, r.Outcome, r.OutcomeDesc)
	// Output:
	// 1 collection
	// practice-a-1 E 2026-03-02T09:30:00.000000Z 4 refused: authorization missing
}
