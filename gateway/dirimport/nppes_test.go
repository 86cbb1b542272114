package dirimport_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/referralgw/gateway/gateway"
	"github.com/referralgw/gateway/gateway/dirimport"
)

const nppesHeader = `"NPI","Endpoint Type","Endpoint Type Description","Endpoint","Affiliation","Endpoint Description","Affiliation Legal Business Name","Use Code","Use Description","Other Use Description","Content Type","Content Description","Other Content Description","Affiliation Address Line One","Affiliation Address Line Two","Affiliation Address City","Affiliation Address State","Affiliation Address Country","Affiliation Address Postal Code"` + "\n"

func TestNPPESSampleFile(t *testing.T) {
	items := collect(t, dirimport.NPPES(bytes.NewReader(readFixture(t, "endpoint_pfile_sample.csv")), dirimport.NPPESOptions{}))
	got := entries(items)

	wantEntries := []gateway.Entry{
		{ID: "npi-9990000017", Kind: gateway.KindPractitioner, Name: "NPI 9990000017", NPI: "9990000017",
			Direct: &gateway.DirectEndpoint{Address: "jdoe@direct.maplefamily.example"},
			FHIR:   &gateway.FHIREndpoint{BaseURL: "https://fhir.maplefamily.example/r4"}},
		{ID: "npi-9990000025", Kind: gateway.KindOrganization, Name: "Birchwood Cardiology, P.C.", NPI: "9990000025",
			Direct: &gateway.DirectEndpoint{Address: "intake@direct.birchwood.example"}},
		{ID: "npi-9990000058", Kind: gateway.KindPractitioner, Name: "NPI 9990000058", NPI: "9990000058",
			Direct: &gateway.DirectEndpoint{Address: "dr.oak@direct.oakhealth.example"}},
	}
	if len(got) != len(wantEntries) {
		t.Fatalf("got %d entries %v, want %d", len(got), got, len(wantEntries))
	}
	for _, want := range wantEntries {
		e := got[want.ID]
		if e == nil {
			t.Errorf("no entry %s", want.ID)
			continue
		}
		if e.Kind != want.Kind || e.Name != want.Name || e.NPI != want.NPI || e.OnPlatform {
			t.Errorf("%s = kind %s name %q npi %s onPlatform %v, want %s %q %s false", want.ID, e.Kind, e.Name, e.NPI, e.OnPlatform, want.Kind, want.Name, want.NPI)
		}
		if !sameEndpoints(e, &want) {
			t.Errorf("%s endpoints = %+v %+v, want %+v %+v", want.ID, e.Direct, e.FHIR, want.Direct, want.FHIR)
		}
	}

	wantSkipped := []struct {
		row    int
		field  string
		reason string
	}{
		{5, "NPI", "not a valid NPI"},
		{6, "Endpoint", "not a bare e-mail address"},
		{7, "Endpoint Type", `"SOAP" is not imported`},
		{9, "Endpoint Type", `"OTHERS" is not imported`},
	}
	skipped := skippedRows(items)
	if len(skipped) != len(wantSkipped) {
		t.Fatalf("skipped = %v, want %d rows", skipped, len(wantSkipped))
	}
	for i, w := range wantSkipped {
		s := skipped[i]
		if s.Row != w.row || s.Field != w.field || !strings.Contains(s.Reason, w.reason) {
			t.Errorf("skipped[%d] = %v, want row %d field %s reason containing %q", i, s, w.row, w.field, w.reason)
		}
	}
}

func sameEndpoints(a, b *gateway.Entry) bool {
	if (a.Direct == nil) != (b.Direct == nil) || (a.FHIR == nil) != (b.FHIR == nil) {
		return false
	}
	if a.Direct != nil && a.Direct.Address != b.Direct.Address {
		return false
	}
	return a.FHIR == nil || a.FHIR.BaseURL == b.FHIR.BaseURL
}

func TestNPPESRows(t *testing.T) {
	tests := []struct {
		name        string
		opts        dirimport.NPPESOptions
		body        string // rows after the real header
		wantIDs     []string
		wantSkipped []string // "row:field"
	}{
		{name: "empty body", body: ""},
		{name: "lower-case type and mailto prefix",
			body:    `"9990000074","direct","","MAILTO:Pat@Direct.Example.org","N","","","","","","","","","","","","","",""` + "\n",
			wantIDs: []string{"npi-9990000074"}},
		{name: "two different Direct addresses keep the first",
			body: `"9990000074","DIRECT","","a@direct.example.org","N","","","","","","","","","","","","","",""` + "\n" +
				`"9990000074","DIRECT","","b@direct.example.org","N","","","","","","","","","","","","","",""` + "\n",
			wantIDs: []string{"npi-9990000074"}, wantSkipped: []string{"3:Endpoint"}},
		{name: "same address twice is one endpoint",
			body: `"9990000074","DIRECT","","a@direct.example.org","N","","","","","","","","","","","","","",""` + "\n" +
				`"9990000074","DIRECT","","a@direct.example.org","N","","","","","","","","","","","","","",""` + "\n",
			wantIDs: []string{"npi-9990000074"}},
		{name: "FHIR URL that is not absolute",
			body:        `"9990000074","FHIR","","fhir.example.org/r4","N","","","","","","","","","","","","","",""` + "\n",
			wantSkipped: []string{"2:Endpoint"}},
		{name: "missing endpoint type",
			body:        `"9990000074","","","a@direct.example.org","N","","","","","","","","","","","","","",""` + "\n",
			wantSkipped: []string{"2:Endpoint Type"}},
		{name: "short row is padded, not fatal",
			body:    `"9990000082","DIRECT","","c@direct.example.org"` + "\n",
			wantIDs: []string{"npi-9990000082"}},
		{name: "broken quoting skips the row and goes on",
			body: `"9990000074","DIRECT","","a@direct.example.org","N"x,""` + "\n" +
				`"9990000082","DIRECT","","c@direct.example.org","N","","","","","","","","","","","","","",""` + "\n",
			wantIDs: []string{"npi-9990000082"}, wantSkipped: []string{"2:csv"}},
		{name: "FHIR on platform when configured", opts: dirimport.NPPESOptions{FHIROnPlatform: true},
			body:    `"9990000074","FHIR","","https://fhir.example.org/r4","N","","","","","","","","","","","","","",""` + "\n",
			wantIDs: []string{"npi-9990000074"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			items := collect(t, dirimport.NPPES(strings.NewReader(nppesHeader+tt.body), tt.opts))
			var ids, skipped []string
			for _, it := range items {
				if it.Entry != nil {
					ids = append(ids, it.Entry.ID)
					if it.Entry.FHIR != nil && it.Entry.OnPlatform != tt.opts.FHIROnPlatform {
						t.Errorf("%s OnPlatform = %v", it.Entry.ID, it.Entry.OnPlatform)
					}
					if it.Entry.Direct != nil && strings.HasPrefix(strings.ToLower(it.Entry.Direct.Address), "mailto:") {
						t.Errorf("%s Direct address kept the mailto: prefix", it.Entry.ID)
					}
				}
				for _, s := range it.Skipped {
					skipped = append(skipped, strings.Join([]string{itoa(s.Row), s.Field}, ":"))
				}
			}
			if strings.Join(ids, ",") != strings.Join(tt.wantIDs, ",") {
				t.Errorf("entries = %v, want %v", ids, tt.wantIDs)
			}
			if strings.Join(skipped, ",") != strings.Join(tt.wantSkipped, ",") {
				t.Errorf("skipped = %v, want %v", skipped, tt.wantSkipped)
			}
		})
	}
}

func TestNPPESFatalHeader(t *testing.T) {
	tests := []struct {
		name, input, want string
	}{
		{"empty file", "", "empty file"},
		{"no Endpoint column", `"NPI","Endpoint Type"` + "\n", `no "endpoint" column`},
		{"not CSV at all", "\"unterminated\n", "read header"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var fatal error
			for _, err := range dirimport.NPPES(strings.NewReader(tt.input), dirimport.NPPESOptions{}).All() {
				if err != nil {
					fatal = err
				}
			}
			if fatal == nil || !strings.Contains(fatal.Error(), tt.want) {
				t.Fatalf("error = %v, want one containing %q", fatal, tt.want)
			}
		})
	}
}

func TestNPPESHeaderWithBOMAndCompactNames(t *testing.T) {
	in := "\ufeffNPI,EndpointType,Endpoint\n9990000074,DIRECT,a@direct.example.org\n"
	items := collect(t, dirimport.NPPES(strings.NewReader(in), dirimport.NPPESOptions{}))
	if len(items) != 1 || items[0].Entry == nil || items[0].Entry.Direct.Address != "a@direct.example.org" {
		t.Fatalf("items = %+v", items)
	}
}

// errAfter is a reader that fails after its content.
type errAfter struct {
	r   *strings.Reader
	err error
}

func (e *errAfter) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if n == 0 && err != nil {
		return 0, e.err
	}
	return n, nil
}

func TestNPPESReadErrorIsFatal(t *testing.T) {
	boom := errors.New("disk on fire")
	rows := dirimport.NPPES(&errAfter{strings.NewReader(nppesHeader + `"9990000074","DIRECT","","a@direct.example.org"` + "\n"), boom}, dirimport.NPPESOptions{})
	var fatal error
	for _, err := range rows.All() {
		if err != nil {
			fatal = err
		}
	}
	if !errors.Is(fatal, boom) {
		t.Fatalf("fatal = %v, want it to wrap %v", fatal, boom)
	}
}

func itoa(n int) string {
	var b []byte
	if n == 0 {
		return "0"
	}
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}
