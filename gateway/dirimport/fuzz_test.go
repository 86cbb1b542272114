package dirimport_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/referralgw/gateway/gateway"
	"github.com/referralgw/gateway/gateway/dirimport"
)

func FuzzNPPES(f *testing.F) {
	f.Add(readFixture(f, "endpoint_pfile_sample.csv"))
	f.Add([]byte(nppesHeader + `"9990000074","DIRECT","","a@direct.example.org","N"x,""` + "\n"))
	f.Add([]byte("NPI,EndpointType,Endpoint\n9990000074,FHIR,https://fhir.example.org\n9990000074,DIRECT,\"a@b.example\"\n"))
	f.Add([]byte("\ufeff\"NPI\"\n\"unterminated"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for it, err := range dirimport.NPPES(bytes.NewReader(data), dirimport.NPPESOptions{}).All() {
			if err != nil {
				return
			}
			for _, s := range it.Skipped {
				if s.Row < 1 || s.Field == "" || s.Reason == "" {
					t.Fatalf("row error without row, field or reason: %+v", s)
				}
			}
			e := it.Entry
			if e == nil {
				continue
			}
			if it.Row < 2 {
				t.Fatalf("entry %s from row %d, before the first data line", e.ID, it.Row)
			}
			if err := gateway.ValidateEntry(e); err != nil {
				t.Fatalf("entry %+v does not validate: %v", e, err)
			}
			if e.ID != "npi-"+e.NPI || (e.Direct == nil && e.FHIR == nil) {
				t.Fatalf("entry %+v: id not from its NPI, or no endpoint", e)
			}
		}
	})
}

func FuzzFHIRBundle(f *testing.F) {
	f.Add(readFixture(f, "plannet_bundle.json"))
	f.Add(readFixture(f, "export.golden.json"))
	f.Add([]byte(bundle(`{"resourceType":"Organization","id":"a","name":"A","partOf":{"reference":"Organization/b"}}`,
		`{"resourceType":"Organization","id":"b","name":"B","partOf":{"reference":"Organization/a"}}`)))
	f.Add([]byte(bundle(`{"resourceType":"PractitionerRole","id":"_x","practitioner":{"reference":"http://h/Practitioner/p/_history/2"}}`,
		`{"resourceType":"Practitioner","id":"p","name":[{"given":["A"]}]}`)))
	f.Fuzz(func(t *testing.T, data []byte) {
		rows, err := dirimport.FHIRBundle(bytes.NewReader(data))
		if err != nil {
			return
		}
		pos := map[string]int{}
		n := 0
		for it, err := range rows.All() {
			if err != nil {
				t.Fatalf("a parsed bundle yielded a fatal error: %v", err)
			}
			n++
			for _, s := range it.Skipped {
				if s.Row < 1 || s.Field == "" || s.Reason == "" {
					t.Fatalf("row error without row, field or reason: %+v", s)
				}
			}
			e := it.Entry
			if e == nil {
				continue
			}
			var ves gateway.ValidationErrors
			if err := gateway.ValidateEntry(e); errors.As(err, &ves) {
				for _, v := range ves {
					if v.Field == "id" || v.Field == "kind" || strings.HasPrefix(v.Field, "direct") {
						t.Fatalf("entry %+v: %v", e, v)
					}
				}
			}
			if _, dup := pos[e.ID]; dup {
				t.Fatalf("entry id %s yielded twice", e.ID)
			}
			pos[e.ID] = n
		}
		if n != rows.Total {
			t.Fatalf("yielded %d items, Total %d", n, rows.Total)
		}
		// A parent in the bundle is yielded before its children.
		for it := range rows.All() {
			if e := it.Entry; e != nil && e.ParentID != "" {
				if p, ok := pos[e.ParentID]; ok && p > pos[e.ID] {
					t.Fatalf("%s yielded before its parent %s", e.ID, e.ParentID)
				}
			}
		}
	})
}
