package mapping

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/referralgw/gateway/gateway"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

var t0 = time.Date(2026, 3, 2, 9, 30, 0, 123456000, time.UTC)

// fixture is a synthetic referral that uses every field the mapping carries.
func fixture() (*gateway.Referral, []gateway.RecordContent) {
	note := []byte("Synthetic referral letter: knee pain for six weeks.\n")
	labs := []byte("%PDF-1.4 synthetic lab summary")
	recs := []gateway.RecordContent{
		{Record: gateway.Record{ID: "0195f0a0-0000-7000-8000-00000000a001", Title: "Referral letter", ContentType: "text/plain",
			SHA256: gateway.ContentHash(note), Size: int64(len(note))}, Content: note},
		{Record: gateway.Record{ID: "0195f0a0-0000-7000-8000-00000000a002", Title: "Lab summary", ContentType: "application/pdf",
			SHA256: gateway.ContentHash(labs), Size: int64(len(labs))}, Content: labs},
	}
	r := &gateway.Referral{
		ID: "0195f0a0-0000-7000-8000-000000000001", Version: 7, Created: t0, Updated: t0.Add(72 * time.Hour),
		Status: gateway.StatusCompleted, Priority: gateway.PriorityUrgent,
		Identifier: "https://ehr.example.org/referrals|REF-1001",
		Requester: gateway.Requester{OrgID: "org-northside", PractitionerID: "prac-ada", Name: "Dr. Ada Example",
			NPI: "1234567893", Phone: "+15555550100"},
		ReceiverID: "org-ortho", ReceiverOrgID: "org-ortho",
		Patient: gateway.Patient{ID: "MRN-0042", System: "urn:oid:2.16.840.1.113883.19.5", FamilyName: "Testperson",
			GivenName: "Pat", BirthDate: "1970-01-01", Gender: "female"},
		Reason:         gateway.Coding{System: "http://snomed.info/sct", Code: "239873007", Display: "Osteoarthritis of knee"},
		ReasonText:     "Please assess for arthroscopy.",
		Consent:        gateway.ConsentRef{Kind: gateway.ConsentRequiredByLaw, Purpose: "treatment", Citation: "164.512(b)", ConsentID: "cons-9"},
		Sensitive:      gateway.Sensitivity{BehavioralHealth: true},
		Records:        []gateway.Record{recs[0].Record, recs[1].Record},
		BusinessStatus: "report sent",
		Question:       "Any prior imaging?",
		Answer:         "X-ray from 2025 attached.",
		StatusReason:   gateway.Coding{System: "urn:example:reasons", Code: "done", Display: "Consult done"},
		Outcome: &gateway.Outcome{Reference: "DocumentReference/note-77", Summary: "Conservative management advised",
			RecordID: "0195f0a0-0000-7000-8000-00000000a003", At: t0.Add(71 * time.Hour)},
		Replaces: "0195f0a0-0000-7000-8000-000000000000",
	}
	return r, recs
}

// golden compares got (JSON, indented here) with testdata/name, or
// rewrites the file under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Indent(&buf, got, "", "  "); err != nil {
		t.Fatalf("golden %s: output is not JSON: %v", name, err)
	}
	buf.WriteByte('\n')
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("golden %s: %v (run go test -update)", name, err)
	}
	if !bytes.Equal(want, buf.Bytes()) {
		t.Errorf("golden %s differs; got:\n%s", name, buf.Bytes())
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
