package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

// exportFixture is a small synthetic trail touching every mapping branch.
func exportFixture(t *testing.T) []Entry {
	t.Helper()
	t0 := time.Date(2026, 3, 2, 14, 5, 6, 789012345, time.UTC)
	a := []Event{
		{Time: t0, Actor: "user:dr-synthetic", ReferralID: "ref-0001", Action: "referral.created", Outcome: OutcomeSuccess},
		{Time: t0.Add(time.Second), Actor: "system", ReferralID: "ref-0001", Action: "consent.checked", Outcome: OutcomeRefused,
			Detail: map[string]string{"basis": "authorization", "reason": "authorization expired", "empty": ""}},
		{Time: t0.Add(2 * time.Second), Actor: "system", ReferralID: "ref-0001", Action: "delivery.failed", Outcome: OutcomeFailure,
			Detail: map[string]string{"delivery": "dlv-7", "channel": "direct", "dsn": "5.1.1"}},
		{Time: t0.Add(3 * time.Second), Actor: "user:admin-synthetic", Action: "auth.login", Outcome: OutcomeSuccess},
		{Time: t0.Add(4 * time.Second), Actor: "client:ehr-7", ReferralID: "ref-0002", Action: "referral.deleted", Outcome: OutcomeSuccess,
			Detail: map[string]string{"note": "<b>&'\"</b>"}},
	}
	var out []Entry
	var seq int64
	var prev string
	for _, ev := range a {
		e := NewEntry("practice-a", seq, prev, ev)
		out = append(out, e)
		seq, prev = e.Seq, e.Hash
	}
	// A tenant name that is not a valid FHIR id gets a hashed resource id.
	out = append(out, NewEntry("Práctica Norte / #2", 0, "", Event{
		Time: t0.Add(5 * time.Second), Actor: "user:dr-synthetic", ReferralID: "ref-0001",
		Action: "referral.received", Outcome: OutcomeSuccess,
	}))
	return out
}

func goldenExport(t *testing.T, entries []Entry, opts ExportOptions) []byte {
	t.Helper()
	var buf bytes.Buffer
	n, err := ExportFHIR(&buf, rows(entries), opts)
	if err != nil {
		t.Fatalf("ExportFHIR: %v", err)
	}
	if n != len(entries) {
		t.Errorf("ExportFHIR wrote %d resources, want %d", n, len(entries))
	}
	return buf.Bytes()
}

func TestExportFHIRGolden(t *testing.T) {
	tests := []struct {
		name    string
		entries func(t *testing.T) []Entry
		opts    ExportOptions
	}{
		{"export", exportFixture, ExportOptions{
			BundleID: "audit-export-1", Generated: time.Date(2026, 3, 3, 8, 0, 0, 0, time.UTC), SourceObserver: "referral-gateway-test",
		}},
		{"export-empty", func(*testing.T) []Entry { return nil }, ExportOptions{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := goldenExport(t, tt.entries(t), tt.opts)
			path := filepath.Join("testdata", tt.name+".golden.json")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("read golden (run go test -update to create): %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("export differs from %s (run go test -update and review the diff)\n got:\n%s", path, got)
			}
		})
	}
}

// TestExportFHIRValid checks the R4 rules the output must obey, independent of the golden text.
func TestExportFHIRValid(t *testing.T) {
	entries := exportFixture(t)
	out := goldenExport(t, entries, ExportOptions{BundleID: "b.1", Generated: baseTime})
	var doc any
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatalf("output is not JSON: %v", err)
	}
	checkNoEmpty(t, "Bundle", doc)

	var bundle struct {
		ResourceType string `json:"resourceType"`
		ID           string `json:"id"`
		Type         string `json:"type"`
		Timestamp    string `json:"timestamp"`
		Entry        []struct {
			Resource map[string]json.RawMessage `json:"resource"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(out, &bundle); err != nil {
		t.Fatal(err)
	}
	if bundle.ResourceType != "Bundle" || bundle.Type != "collection" || bundle.ID != "b.1" || bundle.Timestamp != "2026-03-02T09:30:00.123456Z" {
		t.Errorf("bundle header = %+v", bundle)
	}
	if len(bundle.Entry) != len(entries) {
		t.Fatalf("bundle has %d entries, want %d", len(bundle.Entry), len(entries))
	}
	ids := map[string]bool{}
	for i, be := range bundle.Entry {
		r := be.Resource
		for _, req := range []string{"resourceType", "id", "type", "recorded", "agent", "source"} {
			if _, ok := r[req]; !ok {
				t.Errorf("entry %d lacks required %s", i, req)
			}
		}
		var id string
		_ = json.Unmarshal(r["id"], &id)
		if !validID(id) || ids[id] {
			t.Errorf("entry %d: id %q invalid or repeated", i, id)
		}
		ids[id] = true
		var ae struct {
			Recorded string `json:"recorded"`
			Agent    []struct {
				Requestor *bool `json:"requestor"`
			} `json:"agent"`
			Source struct {
				Observer struct{ Display string } `json:"observer"`
			} `json:"source"`
			Entity []struct {
				Name   string `json:"name"`
				Detail []struct {
					Type              string  `json:"type"`
					ValueString       *string `json:"valueString"`
					ValueBase64Binary *string `json:"valueBase64Binary"`
				} `json:"detail"`
			} `json:"entity"`
		}
		raw, _ := json.Marshal(r)
		if err := json.Unmarshal(raw, &ae); err != nil {
			t.Fatal(err)
		}
		if want := formatTime(entries[i].Time); ae.Recorded != want {
			t.Errorf("entry %d recorded = %q, want %q", i, ae.Recorded, want)
		}
		if len(ae.Agent) == 0 || ae.Agent[0].Requestor == nil {
			t.Errorf("entry %d: agent or agent.requestor missing", i)
		}
		if ae.Source.Observer.Display != DefaultSourceObserver {
			t.Errorf("entry %d: observer %q, want default %q", i, ae.Source.Observer.Display, DefaultSourceObserver)
		}
		for _, en := range ae.Entity {
			for _, d := range en.Detail {
				if (d.ValueString == nil) == (d.ValueBase64Binary == nil) {
					t.Errorf("entry %d entity %s detail %s: want exactly one value[x]", i, en.Name, d.Type)
				}
			}
		}
	}
}

// TestExportFHIRReverifiable shows an auditor can recompute every Hash from the export alone.
func TestExportFHIRReverifiable(t *testing.T) {
	entries := exportFixture(t)
	out := goldenExport(t, entries, ExportOptions{})
	var bundle struct {
		Entry []struct {
			Resource struct {
				Entity []struct {
					Name   string `json:"name"`
					Detail []struct {
						Type              string `json:"type"`
						ValueString       string `json:"valueString"`
						ValueBase64Binary string `json:"valueBase64Binary"`
					} `json:"detail"`
				} `json:"entity"`
			} `json:"resource"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(out, &bundle); err != nil {
		t.Fatal(err)
	}
	for i, be := range bundle.Entry {
		fields := map[string]string{}
		for _, en := range be.Resource.Entity {
			if en.Name != "audit-chain" {
				continue
			}
			for _, d := range en.Detail {
				fields[d.Type] = d.ValueString + d.ValueBase64Binary
			}
		}
		canon, err := base64.StdEncoding.DecodeString(fields["canonical"])
		if err != nil {
			t.Fatalf("entry %d: canonical: %v", i, err)
		}
		sum := sha256.Sum256(canon)
		if got := hex.EncodeToString(sum[:]); got != fields["hash"] || got != entries[i].Hash {
			t.Errorf("entry %d: sha256(canonical) = %s, exported hash %s, entry hash %s", i, got, fields["hash"], entries[i].Hash)
		}
		if fields["prevHash"] != entries[i].PrevHash || fields["tenant"] != entries[i].Tenant {
			t.Errorf("entry %d: chain details %v do not match the entry", i, fields)
		}
	}
}

// checkNoEmpty fails on any empty string, array or object: FHIR JSON forbids them.
func checkNoEmpty(t *testing.T, path string, v any) {
	t.Helper()
	switch x := v.(type) {
	case string:
		if x == "" {
			t.Errorf("%s: empty string", path)
		}
	case []any:
		if len(x) == 0 {
			t.Errorf("%s: empty array", path)
		}
		for i, e := range x {
			checkNoEmpty(t, path+"["+strconv.Itoa(i)+"]", e)
		}
	case map[string]any:
		if len(x) == 0 {
			t.Errorf("%s: empty object", path)
		}
		for k, e := range x {
			checkNoEmpty(t, path+"."+k, e)
		}
	}
}

func TestExportFHIRErrors(t *testing.T) {
	entries := buildChain(t, "practice-a", 2)
	t.Run("invalid bundle id", func(t *testing.T) {
		var buf bytes.Buffer
		if _, err := ExportFHIR(&buf, rows(entries), ExportOptions{BundleID: "has space"}); err == nil {
			t.Error("invalid bundle id accepted")
		}
		if buf.Len() != 0 {
			t.Errorf("wrote %d bytes before rejecting the options", buf.Len())
		}
	})
	t.Run("iterator error", func(t *testing.T) {
		errDB := errors.New("connection reset")
		n, err := ExportFHIR(&bytes.Buffer{}, rowsThenError(entries, errDB), ExportOptions{})
		if !errors.Is(err, errDB) || !strings.HasPrefix(err.Error(), "audit: export fhir:") {
			t.Errorf("error = %v, want wrapped %v with the operation", err, errDB)
		}
		if n != 2 {
			t.Errorf("n = %d, want 2 written before the error", n)
		}
	})
	t.Run("write error", func(t *testing.T) {
		errDisk := errors.New("disk full")
		if _, err := ExportFHIR(failWriter{errDisk}, rows(entries), ExportOptions{}); !errors.Is(err, errDisk) {
			t.Errorf("error = %v, want wrapped %v", err, errDisk)
		}
	})
}

type failWriter struct{ err error }

func (f failWriter) Write([]byte) (int, error) { return 0, f.err }

func TestResourceID(t *testing.T) {
	long := strings.Repeat("p", 70)
	tests := []struct {
		tenant string
		seq    int64
		want   string // "" means: hashed form, checked by rule
	}{
		{"practice-a", 3, "practice-a-3"},
		{"Practice.North", 12, "Practice.North-12"},
		{"practice a", 1, ""},
		{"práctica", 1, ""},
		{"", 1, "-1"},
		{long, 1, ""},
		{strings.Repeat("p", 62), 1, strings.Repeat("p", 62) + "-1"},
		{strings.Repeat("p", 63), 1, ""},
	}
	seen := map[string]string{}
	for _, tt := range tests {
		got := ResourceID(tt.tenant, tt.seq)
		if !validID(got) {
			t.Errorf("ResourceID(%q, %d) = %q, not a valid FHIR id", tt.tenant, tt.seq, got)
		}
		if tt.want != "" && got != tt.want {
			t.Errorf("ResourceID(%q, %d) = %q, want %q", tt.tenant, tt.seq, got, tt.want)
		}
		if tt.want == "" && (!strings.HasPrefix(got, "t") || !strings.HasSuffix(got, "-1") || len(got) != 35) {
			t.Errorf("ResourceID(%q, %d) = %q, want hashed form t<32 hex>-<seq>", tt.tenant, tt.seq, got)
		}
		if prev, dup := seen[got]; dup {
			t.Errorf("tenants %q and %q share resource id %q", prev, tt.tenant, got)
		}
		seen[got] = tt.tenant
	}
}

func TestActionCode(t *testing.T) {
	tests := map[string]string{
		"referral.created":   "C",
		"directory.imported": "C",
		"audit.exported":     "R",
		"referral.accepted":  "U",
		"baa.transition":     "U",
		"referral.Rejected":  "U",
		"directory.deleted":  "D",
		"delivery.sent":      "E",
		"consent.checked":    "E",
		"auth.login":         "E",
		"created":            "C",
		"":                   "E",
	}
	for action, want := range tests {
		if got := ActionCode(action); got != want {
			t.Errorf("ActionCode(%q) = %q, want %q", action, got, want)
		}
	}
}

func TestExportCarriesLeafIndexAndCheckpoint(t *testing.T) {
	chain := buildChain(t, "practice-a", 3)
	head := signedHeads(t, chain, 2)[0]
	var buf bytes.Buffer
	if _, err := ExportFHIR(&buf, rows(chain), ExportOptions{Checkpoints: map[string]TreeHead{"practice-a": head}}); err != nil {
		t.Fatal(err)
	}
	var bundle struct {
		Entry []struct {
			Resource struct {
				Entity []struct {
					Detail []struct{ Type, ValueString string }
				}
			}
		}
	}
	if err := json.Unmarshal(buf.Bytes(), &bundle); err != nil {
		t.Fatal(err)
	}
	var leaves []string
	checkpoints := 0
	for _, en := range bundle.Entry {
		for _, ent := range en.Resource.Entity {
			for _, d := range ent.Detail {
				switch d.Type {
				case "leafIndex":
					leaves = append(leaves, d.ValueString)
				case "checkpoint":
					if d.ValueString != string(head.Note) {
						t.Errorf("checkpoint detail %q", d.ValueString)
					}
					checkpoints++
				}
			}
		}
	}
	if strings.Join(leaves, ",") != "0,1,2" || checkpoints != 2 {
		t.Fatalf("leaf indexes %v and %d checkpoints; want 0,1,2 and two (entries 1 and 2 are in the checkpoint of size 2)", leaves, checkpoints)
	}
}
