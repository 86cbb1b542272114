package dirimport_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/referralgw/gateway/gateway"
	"github.com/referralgw/gateway/gateway/dirimport"
	"github.com/referralgw/gateway/gateway/storetest"
)

func importNPPES(t *testing.T, svc *gateway.Service, csv []byte) dirimport.Summary {
	t.Helper()
	sum, err := dirimport.Apply(t.Context(), svc, admin, dirimport.NPPES(bytes.NewReader(csv), dirimport.NPPESOptions{}), nil)
	if err != nil {
		t.Fatal(err)
	}
	return sum
}

func importBundle(t *testing.T, svc *gateway.Service, data []byte) dirimport.Summary {
	t.Helper()
	rows, err := dirimport.FHIRBundle(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	sum, err := dirimport.Apply(t.Context(), svc, admin, rows, nil)
	if err != nil {
		t.Fatal(err)
	}
	return sum
}

func checkCounts(t *testing.T, what string, sum dirimport.Summary, added, updated, unchanged, skipped int) {
	t.Helper()
	if sum.Added != added || sum.Updated != updated || sum.Unchanged != unchanged || len(sum.Skipped) != skipped {
		t.Errorf("%s: %v\nwant added %d, updated %d, unchanged %d, skipped %d", what, sum, added, updated, unchanged, skipped)
	}
}

func entry(t *testing.T, svc *gateway.Service, id string) *gateway.Entry {
	t.Helper()
	e, err := svc.Entry(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestApplyNPPESIsIdempotent(t *testing.T) {
	svc := newService(t)
	csv := readFixture(t, "endpoint_pfile_sample.csv")

	checkCounts(t, "first import", importNPPES(t, svc, csv), 3, 0, 0, 4)
	checkCounts(t, "same file again", importNPPES(t, svc, csv), 0, 0, 3, 4)
	if e := entry(t, svc, "npi-9990000025"); e.Version != 1 {
		t.Errorf("unchanged entry moved to version %d", e.Version)
	}

	// An admin verifies one party, names another and adds a fax number:
	// re-importing keeps all of it.
	if _, err := svc.VerifyEntry(t.Context(), admin, "npi-9990000025", "phone call to front desk"); err != nil {
		t.Fatal(err)
	}
	e := entry(t, svc, "npi-9990000058")
	e.Name = "Oak Health Partners"
	e.Kind = gateway.KindOrganization
	e.Fax = &gateway.FaxEndpoint{Number: "+15555550142"}
	if _, err := svc.PutEntry(t.Context(), admin, e); err != nil {
		t.Fatal(err)
	}
	checkCounts(t, "after admin edits", importNPPES(t, svc, csv), 0, 0, 3, 4)
	if e := entry(t, svc, "npi-9990000025"); !e.Verified() || e.Version != 2 {
		t.Errorf("verified entry after re-import: verified %v version %d, want true 2", e.Verified(), e.Version)
	}
	if e := entry(t, svc, "npi-9990000058"); e.Name != "Oak Health Partners" || e.Kind != gateway.KindOrganization || e.Fax == nil {
		t.Errorf("admin's name, kind or fax lost: %q %s %+v", e.Name, e.Kind, e.Fax)
	}

	// A changed Direct address updates the entry and needs verifying again.
	changed := bytes.Replace(csv, []byte("mailto:intake@direct.birchwood.example"), []byte("referrals@direct.birchwood.example"), 1)
	checkCounts(t, "changed address", importNPPES(t, svc, changed), 0, 1, 2, 4)
	e = entry(t, svc, "npi-9990000025")
	if e.Direct.Address != "referrals@direct.birchwood.example" || e.Version != 3 || e.Verified() {
		t.Errorf("after address change: %s version %d verified %v, want new address, version 3, unverified", e.Direct.Address, e.Version, e.Verified())
	}
}

func TestApplyFHIRBundleIsIdempotent(t *testing.T) {
	svc := newService(t)
	data := readFixture(t, "plannet_bundle.json")
	checkCounts(t, "first import", importBundle(t, svc, data), 5, 0, 0, 3)
	if got := directoryEvents(t, svc); got["directory.added"] != 5 || len(got) != 1 {
		t.Errorf("audit after first import = %v, want 5 directory.added", got)
	}
	checkCounts(t, "again", importBundle(t, svc, data), 0, 0, 5, 3)
	if got := directoryEvents(t, svc); got["directory.added"] != 5 || len(got) != 1 {
		t.Errorf("audit after re-import = %v, want nothing new", got)
	}
	if e := entry(t, svc, "role-ann"); e.ParentID != "org-birchwood" || e.Direct == nil || e.FHIR == nil {
		t.Errorf("role-ann = %+v", e)
	}
	// The gateway's own checks are not the file's business: an entry the
	// gateway checked is still unchanged by the same file.
	svc.AddChannel(storetest.NewRecordingChannel(gateway.ChannelDirect, storetest.Behavior{}))
	if e, err := svc.CheckEntry(t.Context(), "role-ann"); err != nil || len(e.Checks) != 1 {
		t.Fatalf("check role-ann: %v %+v", err, e)
	}
	checkCounts(t, "again after a check", importBundle(t, svc, data), 0, 0, 5, 3)
	if e := entry(t, svc, "role-ann"); len(e.Checks) != 1 {
		t.Errorf("re-import dropped the gateway's check: %+v", e.Checks)
	}
}

func TestApplyRefusedRowsDoNotStopTheRest(t *testing.T) {
	svc := newService(t)
	input := bundle(
		`{"resourceType":"Endpoint","id":"bad-url","connectionType":{"code":"hl7-fhir-rest"},"address":"ftp://fhir.example.org"}`,
		`{"resourceType":"Organization","id":"broken","name":"Broken Org","endpoint":[{"reference":"Endpoint/bad-url"}]}`,
		`{"resourceType":"Location","id":"orphan","name":"Orphan Site","managingOrganization":{"reference":"Organization/broken"}}`,
		`{"resourceType":"Organization","id":"nameless"}`,
		`{"resourceType":"Organization","id":"fine","name":"Fine Org","identifier":[{"system":"http://hl7.org/fhir/sid/us-npi","value":"1234567890"}]}`,
		`{"resourceType":"Organization","id":"good","name":"Good Org"}`,
	)
	sum := importBundle(t, svc, []byte(input))
	want := []dirimport.RowError{
		{Row: 2, Field: "fhir.baseUrl"},
		{Row: 3, Field: "parentId"},
		{Row: 4, Field: "name"},
		{Row: 5, Field: "npi"},
	}
	if sum.Added != 1 || len(sum.Skipped) != len(want) {
		t.Fatalf("summary = %v", sum)
	}
	for i, w := range want {
		if got := sum.Skipped[i]; got.Row != w.Row || got.Field != w.Field || got.Reason == "" {
			t.Errorf("skipped[%d] = %v, want row %d field %s", i, got, w.Row, w.Field)
		}
	}
	for _, id := range []string{"broken", "orphan", "nameless", "fine"} {
		if _, err := svc.Entry(t.Context(), id); !errors.Is(err, gateway.ErrNotFound) {
			t.Errorf("refused entry %s: err = %v, want not found", id, err)
		}
	}
	entry(t, svc, "good")
}

func TestApplyProgressAndErrors(t *testing.T) {
	svc := newService(t)
	data := readFixture(t, "plannet_bundle.json")
	rows, err := dirimport.FHIRBundle(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	var calls [][2]int
	if _, err := dirimport.Apply(t.Context(), svc, admin, rows, func(done, total int) { calls = append(calls, [2]int{done, total}) }); err != nil {
		t.Fatal(err)
	}
	if len(calls) != rows.Total {
		t.Fatalf("progress called %d times, want %d", len(calls), rows.Total)
	}
	for i, c := range calls {
		if c != [2]int{i + 1, rows.Total} {
			t.Errorf("progress call %d = %v", i, c)
		}
	}

	t.Run("cancelled context", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, err := dirimport.Apply(ctx, newService(t), admin, rows, nil)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
	})
	t.Run("source fails mid-stream", func(t *testing.T) {
		svc := newService(t)
		boom := errors.New("read: connection reset")
		in := &errAfter{strings.NewReader(nppesHeader + `"9990000074","DIRECT","","a@direct.example.org"` + "\n" +
			`"9990000082","DIRECT","","b@direct.example.org"` + "\n"), boom}
		sum, err := dirimport.Apply(t.Context(), svc, admin, dirimport.NPPES(in, dirimport.NPPESOptions{}), nil)
		if !errors.Is(err, boom) {
			t.Fatalf("err = %v, want %v", err, boom)
		}
		if sum.Added != 1 {
			t.Errorf("rows before the failure: added %d, want 1", sum.Added)
		}
	})
}

func TestSummaryString(t *testing.T) {
	s := dirimport.Summary{Added: 2, Updated: 1, Unchanged: 7, Skipped: []dirimport.RowError{{Row: 5, Field: "NPI", Reason: "not a valid NPI"}}}
	want := "added 2, updated 1, unchanged 7, skipped 1\n  row 5: NPI: not a valid NPI"
	if got := s.String(); got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

func TestApplyNPIRowsThatAreNotAdjacent(t *testing.T) {
	svc := newService(t)
	csv := []byte(nppesHeader +
		`"9990000074","DIRECT","","first@direct.example.org"` + "\n" +
		`"9990000082","DIRECT","","other@direct.example.org"` + "\n" +
		`"9990000074","DIRECT","","second@direct.example.org"` + "\n" +
		`"9990000074","FHIR","","https://fhir.example.org/r4"` + "\n")
	sum := importNPPES(t, svc, csv)
	checkCounts(t, "first import", sum, 2, 1, 0, 1)
	if len(sum.Skipped) == 1 && (sum.Skipped[0].Row != 4 || sum.Skipped[0].Field != "direct.address") {
		t.Errorf("skipped = %v, want row 4 direct.address", sum.Skipped)
	}
	e := entry(t, svc, "npi-9990000074")
	if e.Direct.Address != "first@direct.example.org" || e.FHIR == nil || e.FHIR.BaseURL != "https://fhir.example.org/r4" {
		t.Errorf("merged entry = direct %+v fhir %+v", e.Direct, e.FHIR)
	}
	checkCounts(t, "again", importNPPES(t, svc, csv), 0, 0, 3, 1)
}

// directoryEvents counts the directory actions in every tenant's trail.
func directoryEvents(t *testing.T, svc *gateway.Service) map[string]int {
	t.Helper()
	counts := map[string]int{}
	for e, err := range svc.AuditEntries(t.Context(), gateway.AuditQuery{}) {
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(e.Action, "directory.") {
			counts[e.Action]++
		}
	}
	return counts
}
