package dirimport_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/referralgw/gateway/gateway"
	"github.com/referralgw/gateway/gateway/dirimport"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

// golden compares got with testdata/name, rewriting it under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (run go test -update and review the diff):\n%s", name, got)
	}
}

// seedDirectory fills svc with the Plan-Net sample and the kinds of entry
// a bundle does not carry: a vendor, a practitioner under a location, and
// an entry with an id of the full 64 characters.
func seedDirectory(t *testing.T, svc *gateway.Service) {
	t.Helper()
	importBundle(t, svc, readFixture(t, "plannet_bundle.json"))
	long := "p" + string(bytes.Repeat([]byte("x"), 63))
	for _, e := range []*gateway.Entry{
		{ID: "hisp-vendor", Kind: gateway.KindVendor, VendorRole: "hisp", Name: "Test HISP Inc."},
		{ID: "prac-lee", Kind: gateway.KindPractitioner, Name: "Dr. Lee Example", NPI: "9990000074", ParentID: "loc-main",
			Direct: &gateway.DirectEndpoint{Address: "lee@direct.birchwood.example"}},
		{ID: long, Kind: gateway.KindPractitioner, Name: "Dr. Long Id", ParentID: "org-birch-east",
			FHIR: &gateway.FHIREndpoint{BaseURL: "https://fhir.east.example/r4"}},
	} {
		if _, err := svc.PutEntry(t.Context(), admin, e); err != nil {
			t.Fatal(err)
		}
	}
}

func TestExportFHIRGoldenAndRoundTrip(t *testing.T) {
	svc := newService(t)
	seedDirectory(t, svc)
	var out bytes.Buffer
	if err := dirimport.ExportFHIR(t.Context(), svc, &out); err != nil {
		t.Fatal(err)
	}
	golden(t, "export.golden.json", out.Bytes())

	// The export reads back into an empty directory as the same entries.
	fresh := newService(t)
	sum := importBundle(t, fresh, out.Bytes())
	if len(sum.Skipped) != 0 {
		t.Fatalf("round trip skipped rows: %v", sum)
	}
	before, err := svc.ListEntries(t.Context(), gateway.EntryQuery{})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, want := range before {
		if want.Kind == gateway.KindVendor {
			if _, err := fresh.Entry(t.Context(), want.ID); err == nil {
				t.Errorf("vendor %s was exported", want.ID)
			}
			continue
		}
		n++
		got := entry(t, fresh, want.ID)
		if got.Kind != want.Kind || got.Name != want.Name || got.NPI != want.NPI || got.ParentID != want.ParentID || !sameEndpoints(got, want) {
			t.Errorf("round trip of %s:\n got %+v\nwant %+v", want.ID, got, want)
		}
	}
	if sum.Added != n {
		t.Errorf("round trip added %d entries, want %d", sum.Added, n)
	}
	// Importing the export over the directory it came from changes nothing.
	checkCounts(t, "export over its source", importBundle(t, svc, out.Bytes()), 0, 0, n, 0)
}
