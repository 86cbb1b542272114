package packet

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestExtractCCDA(t *testing.T) {
	sample, err := os.ReadFile(filepath.Join("testdata", "discharge_summary.ccda.xml"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		in      string
		want    *CCDA
		wantErr string
	}{
		{
			name: "synthetic discharge summary",
			in:   string(sample),
			want: &CCDA{
				Title: "Discharge Summary (synthetic)",
				Sections: []Section{
					{Title: "Hospital Discharge Diagnosis", Lines: []string{
						"Community-acquired pneumonia, right lower lobe, resolving.",
						"Secondary: type 2 diabetes, well controlled.",
					}},
					{Title: "Medications at Discharge", Lines: []string{
						"Medication | Dose | Frequency",
						"Amoxicillin | 500 mg | three times daily, 5 days",
						"Metformin | 1000 mg | twice daily",
					}},
					{Title: "Plan of Treatment", Lines: []string{
						"Follow up with pulmonology within two weeks.",
						"Repeat chest X-ray in 6 weeks.",
						"Bring prior films.",
					}},
					{Title: "Patient Instructions", Depth: 1, Lines: []string{
						"Rest, fluids, and return if fever exceeds 101 °F.",
					}},
				},
			},
		},
		{
			name: "latin-1 declared",
			in:   "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><ClinicalDocument><title>Caf\xe9 note</title></ClinicalDocument>",
			want: &CCDA{Title: "Café note"},
		},
		{name: "not XML", in: "%PDF-1.4", wantErr: "no ClinicalDocument"},
		{name: "wrong root", in: "<html><title>x</title></html>", wantErr: "root element"},
		{name: "truncated", in: "<ClinicalDocument><component>", wantErr: "unexpected EOF"},
		{name: "unknown charset", in: `<?xml version="1.0" encoding="EBCDIC"?><ClinicalDocument/>`, wantErr: "charset"},
		{name: "too deep", in: "<ClinicalDocument>" + strings.Repeat("<a>", 300), wantErr: "nested deeper"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ExtractCCDA([]byte(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ExtractCCDA error = %v, want it to mention %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ExtractCCDA: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("ExtractCCDA =\n%#v\nwant\n%#v", got, tt.want)
			}
		})
	}
}

// FuzzExtractCCDA feeds arbitrary bytes to the C-CDA reader: it must not
// panic, and every section it returns must sit at a sane depth.
func FuzzExtractCCDA(f *testing.F) {
	if sample, err := os.ReadFile(filepath.Join("testdata", "discharge_summary.ccda.xml")); err == nil {
		f.Add(sample)
	}
	f.Add([]byte("<ClinicalDocument><component><section><title>A</title><text><table><tr><td>1</td><td>2</td></tr></table></text></section></component></ClinicalDocument>"))
	f.Add([]byte("<ClinicalDocument><section><text><section><text>x</text></section></text></section></ClinicalDocument>"))
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, err := ExtractCCDA(data)
		if err != nil {
			return
		}
		for _, s := range doc.Sections {
			if s.Depth < 0 || s.Depth > maxCCDADepth {
				t.Fatalf("section depth %d", s.Depth)
			}
			for _, l := range s.Lines {
				if l == "" || strings.TrimSpace(l) != l {
					t.Fatalf("untrimmed or empty line %q", l)
				}
			}
		}
	})
}
